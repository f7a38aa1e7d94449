"""drac_ssl: diabetic retinopathy grading on UW-OCTA (DRAC 2022 Task 3) with VICReg + UMM.

The pipeline, one module per stage (``docs/design.md`` draws the map)::

    data_prep (ingest) -> pretrain (VICReg) -> umm -> finetune (5-fold CV) -> export
                                                            |
                                           grading: model, bundle, predict (app, benches)

``python -m drac_ssl.train`` runs them all from one YAML config.

The grading scale is defined here, once: every module that needs the number of grades, their
names or the probability columns of a submission reads these constants.
"""

__version__ = "0.1.0"
GRADE_NAMES = ("Normal", "NPDR", "PDR")
"""DR grades of DRAC 2022 Task 3, index = grade: 0 Normal, 1 NPDR, 2 PDR."""
NUM_GRADES = len(GRADE_NAMES)
"""How many grades the classifier tells apart."""
PROB_COLUMNS = tuple(f"P{k}" for k in range(NUM_GRADES))
"""Probability columns of ``oof.csv`` and of the submission: ``P0, P1, P2``."""
