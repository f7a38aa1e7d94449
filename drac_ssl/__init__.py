"""drac_ssl: diabetic retinopathy grading with VICReg + UMM (DRAC 2022 Task 3 and any graded set).

The pipeline, one module per stage (``docs/design.md`` draws the map)::

    data_prep (ingest) -> pretrain (VICReg) -> umm -> finetune (5-fold CV) -> export
                                                            |
                                           grading: model, bundle, predict (app, benches)

``python -m drac_ssl.train`` runs them all from one YAML config. From your own code:
``docs/python.md`` (the losses in :mod:`drac_ssl.losses`, the backbone in
:mod:`drac_ssl.models`, the metrics in :mod:`drac_ssl.metrics`, grading with a bundle in
:mod:`drac_ssl.grading`; a module's ``__all__`` lists its public names).

The grading scale of a run comes from its data: the ingest resolves ``data.grades`` (or the
layout's scale, e.g. ICDR's 5 grades for APTOS / EyePACS / IDRiD / RetinaMNIST) and records
K and the grade names in ``ingest_summary.json``; fine-tuning, the bundle, the model card,
the report, the export and the app read them from there (:mod:`drac_ssl.scale`). The
constants below are the DRAC 2022 Task 3 scale: the default for the phantom / DRAC data and
for run folders and bundles written before the scale was recorded, never an assumption of
code that has the data's scale at hand.

Importing the package keeps it off the network: albumentations (imported for the evaluation
transform) asks PyPI for a newer version when it is imported, a DNS lookup and an HTTPS
connection that block an offline host for seconds, unless ``NO_ALBUMENTATIONS_UPDATE`` is
set; the Hugging Face Hub client it imports sends telemetry unless
``HF_HUB_DISABLE_TELEMETRY`` is set. Both are set here (:data:`OFFLINE_ENVIRONMENT`,
``os.environ.setdefault``: a value the caller set is kept) before any module of the package
imports albumentations; the package
itself never downloads anything (``docs/python.md``, "Offline"). An albumentations imported
before ``drac_ssl`` has made its check already.
"""

import os as _os

OFFLINE_ENVIRONMENT = {
    "NO_ALBUMENTATIONS_UPDATE": "1",  # albumentations' PyPI version check
    "HF_HUB_DISABLE_TELEMETRY": "1",  # huggingface_hub, imported by albumentations
}
"""The environment variables importing the package sets, each only where unset
(``os.environ.setdefault``: harmless to a host, whose own values are kept), before any module
of it imports albumentations: the one list, which ``import app`` sets too by importing the
package first (the app server's own variables are :func:`app.offline_server_environment`'s)."""
for _name, _value in OFFLINE_ENVIRONMENT.items():
    _os.environ.setdefault(_name, _value)
del _name, _value

__version__ = "0.1.0"
PRETRAIN_METHOD = "VICReg"
"""The self-supervised method that pretrains the backbone, by the name people read: the one
source of that name in the report, the model card, the comparison, the collapse warnings,
the console and the pretraining plot (``tests/drac_ssl/test_method_name.py`` holds every
other module to it). A second method makes this a look-up of ``pretrain.method``
(docs/design.md, "Adding a self-supervised method")."""
GRADE_NAMES = ("Normal", "NPDR", "PDR")
"""DR grades of DRAC 2022 Task 3, index = grade: 0 Normal, 1 NPDR, 2 PDR (the default scale)."""
NUM_GRADES = len(GRADE_NAMES)
"""How many grades DRAC 2022 Task 3 tells apart (3); a run's own K is ``len(grade_names)``."""
PROB_COLUMNS = tuple(f"P{k}" for k in range(NUM_GRADES))
"""Probability columns of a DRAC submission: ``P0, P1, P2`` (K grades: ``P0..P{K-1}``)."""
