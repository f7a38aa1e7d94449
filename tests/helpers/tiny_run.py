"""The tiny finished run the export and transductive-score tests share (tests/helpers is on the
test path: ``from tiny_run import tiny_config, build_tiny_run``).

A fake ingest (:func:`fake_ingest.make_fake_ingest`: 30 labelled + 6 test 64 px images cached
at ``SOURCE_SIZE`` px), one VICReg step at 32 px, a 5-fold linear-head fine-tuning at 32 px
(no scratch comparison, 100 bootstrap draws) and the export; CPU, seconds.
"""

from __future__ import annotations

from pathlib import Path

from fake_ingest import SOURCE_SIZE, make_fake_ingest

from drac_ssl import export, finetune, pretrain
from drac_ssl.config import Config, load_config, save_config

TINY_RUN_SETTINGS = (
    "pretrain.epochs=1", "pretrain.batch_size=8", "pretrain.num_workers=0", "pretrain.expander=32-32",
    "pretrain.augment.image_size=32", f"pretrain.augment.source_size={SOURCE_SIZE}",
    "pretrain.patience=0", "pretrain.max_steps_per_epoch=1", "run.device=cpu",
    f"data.cache_sizes=[{SOURCE_SIZE}]", "finetune.image_size=32", "finetune.epochs=1",
    "finetune.batch_size=8", "finetune.head=linear", "finetune.compare_scratch=false",
    "finetune.n_boot=100",
)
"""The tiny run's command-line overrides (``key=value``) of the package defaults."""


def tiny_config(*extra: str) -> Config:
    """The tiny run's config: :data:`TINY_RUN_SETTINGS`, then ``extra`` overrides (``key=value``,
    later ones win, e.g. ``"pretrain.use_test_images=false"``)."""
    return load_config(None, [*TINY_RUN_SETTINGS, *extra])


def build_tiny_run(root: Path, cfg: Config | None = None, variants: tuple[str, ...] = (),
                   grade_names: tuple[str, ...] = ()) -> Path:
    """A finished tiny run in ``root``: the fake ingest, ``config.yaml``, the pretraining, the
    fine-tuning and the export of the selected variant (``root/bundle``,
    ``root/export/submission.csv``), then each of ``variants`` exported by name
    (``root/bundles/NAME``, ``root/export/submission_NAME.csv``). ``cfg`` defaults to
    :func:`tiny_config`. ``grade_names``: the 3 grades' names the ingest records, as under
    ``--grades "none,non-proliferative,proliferative"`` (the bundle's ``class_names``; DRAC's when
    empty). Returns ``root``. Set torch's threads (one is fastest here) around it."""
    cfg = tiny_config() if cfg is None else cfg
    make_fake_ingest(root, grade_names=grade_names)
    save_config(cfg, root / "config.yaml")
    pretrain.run(cfg, root)
    finetune.run(cfg, root)
    export.run(cfg, root)
    for variant in variants:
        export.run(cfg, root, variant=variant)
    return root
