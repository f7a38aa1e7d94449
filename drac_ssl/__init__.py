"""drac_ssl: diabetic retinopathy grading on UW-OCTA (DRAC 2022 Task 3) with VICReg + UMM.

Pipeline, one module per stage: ``data_prep`` (ingest) -> ``drac_ssl.pretrain`` (VICReg) ->
``drac_ssl.umm`` -> ``drac_ssl.finetune`` (cross-validated small head) -> ``drac_ssl.export``;
``python -m drac_ssl.train`` runs them all from one YAML config.
"""

__version__ = "0.1.0"
GRADE_NAMES = ("Normal", "NPDR", "PDR")
