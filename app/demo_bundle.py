"""A tiny, UNTRAINED model bundle for tests, the load benchmark and screenshots.

:func:`build_demo_bundle` writes the fine-tuning stage's output files for a random-init
ResNet-18 fold ensemble (``finetune/summary.json``, ``comparison.json`` and
``<variant>/{model,metrics,calibration}.json`` + safetensors, exactly the files
:mod:`drac_ssl.finetune` writes) and then calls the package's own
:func:`drac_ssl.grading.bundle.build_bundle`, so the bundle has the real format and metadata.
Its ``finetune/`` files carry the demo's marks (:mod:`drac_ssl.grading.demo`: ``summary.json``
``demo``), from which ``build_bundle`` sets ``"demo"`` in the metadata and writes the demo's
own model card (:func:`demo_card`: a warning banner, random weights, trained on nothing, no
figures), here and in any rebuild from the run folder: its grades are meaningless, and the app
and the export say so.

Command line: ``python -m app.demo_bundle OUT_RUN_DIR``, installed as ``drac-ssl-demo-bundle``
(says where it wrote the bundle and the command that opens it in the app).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from drac_ssl import GRADE_NAMES, __version__
from drac_ssl.config import _CHOICES, GRADE_SCALES, FinetuneConfig, to_dict
from drac_ssl.exit_codes import DEMO_BUNDLE_EXIT_CODES  # stdlib only
from drac_ssl.grading.bundle_folder import INPUT_SIDES
from drac_ssl.grading.demo import (  # stdlib only; DEMO_NOTE, DEMO_TRAINED_ON, demo_card re-exported
    DEMO_CALIBRATION,
    DEMO_NOTE,
    DEMO_PROTOCOL,
    DEMO_SELECTION,
    DEMO_TRAINED_ON,
    demo_card,
)
from drac_ssl.io import atomic_write_json
from drac_ssl.out_paths import folder_under_file_problem
from drac_ssl.starting import (  # stdlib only
    CommandParser,
    add_version_option,
    ascii_int,
    command_name,
    fill_help,
    python_command,
    whole_number,
)

__all__ = ["DEMO_NOTE", "DEMO_TRAINED_ON", "build_demo_bundle", "demo_card", "main"]


def build_demo_bundle(run_dir: str | Path, *, image_size: int = 128, source_size: int = 256,
                      n_folds: int = 2, head: str = "conv", arch: str = "resnet18",
                      seed: int = 0, grade_names: Sequence[str] = GRADE_NAMES,
                      channels: int = 1) -> Path:
    """Write a random-init fold ensemble as ``run_dir/bundle`` and return that folder.

    The backbone is frozen-style: one shared ``backbone.safetensors`` plus a head per fold,
    as the fine-tuning stage stores a frozen backbone. Cost: well under a second at 128 px.
    ``grade_names``: the scale (default DRAC's three; e.g. the five ICDR grades);
    ``channels``: 1 (grey UW-OCTA, the ``octa`` recipe) or 3 (colour fundus, ``fundus``).
    The weights are drawn from ``seed`` (the same bundle for the same arguments) inside
    ``torch.random.fork_rng``: the caller's global torch random state is left as it was (a
    review: a notebook's seeded experiment was reseeded).

    Raises:
        ValueError: ``channels`` not 1 or 3, a ``head`` not of :data:`drac_ssl.grading.model.HEADS`,
            an ``arch`` not of :data:`drac_ssl.models.ARCHS`, fewer than 2 ``grade_names``,
            ``n_folds`` < 1, or an ``image_size`` / ``source_size`` outside 1..8192: checked
            before anything is written (``run_dir`` is left as it was).
        OSError: ``run_dir`` cannot be written.
    """
    _check_demo_arguments(channels=channels, head=head, arch=arch, grade_names=grade_names,
                          n_folds=n_folds, sides={"image_size": image_size, "source_size": source_size})
    import torch  # here, not at the top: python -m app.demo_bundle --help loads no torch

    with torch.random.fork_rng(devices=[]):  # the CPU generator: the weights are built on the CPU
        return _build_demo_bundle(run_dir, image_size=image_size, source_size=source_size,
                                  n_folds=n_folds, head=head, arch=arch, seed=seed,
                                  grade_names=grade_names, channels=channels)


def _check_demo_arguments(*, channels: int, head: str, arch: str, grade_names: Sequence[str],
                          n_folds: int, sides: dict[str, int] | None = None) -> None:
    """:func:`build_demo_bundle`'s ValueError for an argument it cannot build, before anything
    is written (a ``head="x"`` left a half-written ``finetune/`` folder); ``sides``: the sizes in
    pixels, each a whole number of :data:`~drac_ssl.grading.bundle_folder.INPUT_SIDES`, as
    :func:`~drac_ssl.grading.bundle.load_bundle` requires (a CLI review: ``--image-size -5``
    wrote a bundle every image then failed on)."""
    heads, archs = _CHOICES["finetune.head"], _CHOICES["pretrain.backbone.arch"]
    wrong = [what for bad, what in (
        (channels not in (1, 3) or isinstance(channels, bool),
         f"channels={channels!r} (1: grey UW-OCTA, 3: colour fundus)"),
        (head not in heads, f"head={head!r} (one of {', '.join(heads)})"),
        (arch not in archs, f"arch={arch!r} (one of {', '.join(archs)})"),
        (isinstance(grade_names, str) or len(grade_names) < 2,
         f"grade_names={grade_names!r} (at least 2 names, a list)"),
        (isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 1,
         f"n_folds={n_folds!r} (1 or more)"),
        *((isinstance(side, bool) or not isinstance(side, int) or not INPUT_SIDES[0] <= side <= INPUT_SIDES[1],
           f"{name}={side!r} ({INPUT_SIDES[0]}..{INPUT_SIDES[1]} px)") for name, side in (sides or {}).items()),
    ) if bad]
    if wrong:
        raise ValueError(f"build_demo_bundle: {'; '.join(wrong)}; nothing was written")


def _build_demo_bundle(run_dir: str | Path, *, image_size: int, source_size: int, n_folds: int,
                       head: str, arch: str, seed: int, grade_names: Sequence[str],
                       channels: int) -> Path:
    """:func:`build_demo_bundle`'s work; it seeds the global torch generator."""
    import torch

    from drac_ssl.checkpoint import save_weights
    from drac_ssl.eval_input import normalization_for
    from drac_ssl.grading.model import Calibration, InputSpec, ModelSpec
    from drac_ssl.metrics import default_thresholds

    run_dir = Path(run_dir)
    variant = "vicreg"
    vdir = run_dir / "finetune" / variant
    vdir.mkdir(parents=True, exist_ok=True)
    recipe = "octa" if channels == 1 else "fundus"
    mean, std = normalization_for(recipe)
    spec_in = InputSpec(channels=channels, source_size=source_size, image_size=image_size,
                        recipe=recipe, mean=tuple(mean), std=tuple(std))
    spec = ModelSpec(arch=arch, in_channels=channels, cifar_stem=False, head=head, dropout=0.0,
                     num_grades=len(grade_names))
    torch.default_generator.manual_seed(seed)  # the CPU generator alone (manual_seed seeds CUDA too)
    backbone = spec.build_backbone()
    save_weights(vdir / "backbone.safetensors",
                 {f"backbone.{k}": v for k, v in backbone.state_dict().items()},
                 {"format": "drac_ssl grading fold v1"})
    folds = []
    for k in range(n_folds):
        torch.default_generator.manual_seed(seed + 1 + k)
        head_state = {f"head.{n}": v for n, v in spec.build_head().state_dict().items()}
        save_weights(vdir / f"fold{k}.safetensors", head_state, {"format": "drac_ssl grading fold v1"})
        folds.append({"fold": k, "weights": ["backbone.safetensors", f"fold{k}.safetensors"]})

    ft = FinetuneConfig(head=head, freeze="frozen", image_size=image_size)
    atomic_write_json(vdir / "model.json", {
        "format": "drac_ssl grading model v1", "variant": variant, "backbone_source": None,
        "freeze": "frozen", "model": spec.to_dict(), "class_names": list(grade_names),
        "input": spec_in.to_metadata(), "folds": folds, "tta": True, "finetune": to_dict(ft),
        "package_version": __version__})
    calibration = Calibration("classification" if spec.output == "classification" else "regression",
                              thresholds=default_thresholds(len(grade_names)))
    atomic_write_json(vdir / "calibration.json", {**calibration.to_dict(), "fitted_on": DEMO_CALIBRATION})
    nan = None
    atomic_write_json(vdir / "metrics.json", {
        "variant": variant, "n": 0, "qwk": nan, "qwk_ci95": [nan, nan], "auc": nan,
        "accuracy": nan, "macro_f1": nan, "qwk_fold_mean": nan, "qwk_fold_std": nan,
        "folds": [{"fold": k, "n_val": 0, "qwk": nan, "auc": nan, "accuracy": nan}
                  for k in range(n_folds)],
        "protocol": DEMO_PROTOCOL})
    ft_dir = run_dir / "finetune"
    atomic_write_json(ft_dir / "comparison.json", {"columns": [], "rows": [], "protocol": "none"})
    # the marks that make build_bundle write a demo bundle, now and at any rebuild from this
    # folder (a rebuilt one lost "demo" and read as a trained model): "demo" in its metadata,
    # the demo's own card (demo_card: the package's describes a trained model in every section)
    atomic_write_json(ft_dir / "summary.json", {"selected": variant, "selection": DEMO_SELECTION,
                                                "demo": DEMO_NOTE, "demo_seed": seed})

    from drac_ssl.grading.bundle import build_bundle

    bundle = build_bundle(run_dir, variant)
    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    if meta.get("demo") != DEMO_NOTE:  # never a bundle of random weights that reads as trained
        raise RuntimeError(f"{bundle}: build_bundle did not mark the demo bundle as one (no "
                           f"'demo' in its metadata.json): a bug, please report it")
    return bundle


def run_dir_problem(run_dir: str | Path) -> str | None:
    """Why ``python -m app.demo_bundle RUN_DIR`` must not write into ``run_dir``, with the fix;
    None when it may: a folder not there yet, an empty one, or an earlier demo's (its
    ``finetune/summary.json`` holds the ``demo`` mark). Refused (a careless-user review: an
    output path written over with no check): a file, and a folder holding anything else (a
    trained run's folder: its ``finetune/summary.json``, ``comparison.json`` and ``bundle/``
    would be replaced by an untrained demo's)."""
    folder = Path(run_dir)
    # '.' (or '..') has no name of its own: Path('.').with_name raised; its full path has one
    named = folder if folder.name not in ("", "..") else folder.resolve()
    new = named.with_name(f"{named.name}-demo") if named.name else named / "demo"
    if folder.is_file():
        return (f"{folder}: a file, not a run folder; the demo bundle is written into a folder it "
                f"makes.\n  fix: give a new folder, e.g. {new}")
    # under a file (good.csv/demo): a FileExistsError traceback before (a CLI review)
    if problem := folder_under_file_problem(folder, "RUN_DIR", "runs/demo"):
        return problem
    if not folder.is_dir() or not any(folder.iterdir()):
        return None
    try:
        summary = json.loads((folder / "finetune" / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = None
    if isinstance(summary, dict) and summary.get("demo"):
        return None  # an earlier demo bundle's folder: written again alike
    trained = (folder / "stages.json").exists() or (folder / "finetune").exists()
    what = ("a run folder (a training's: the demo would replace its finetune/summary.json, "
            "finetune/comparison.json and bundle/)" if trained else
            "a folder holding files of its own (the demo writes finetune/ and bundle/ into it)")
    return (f"{folder}: {what}; the demo bundle is written only into a new or empty folder, or "
            f"an earlier demo's.\n  fix: give a new folder, e.g. {new}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m app.demo_bundle RUN_DIR [--image-size 128] [--folds 2]`` (the installed
    ``drac-ssl-demo-bundle``); returns the exit code."""
    prog = command_name("drac-ssl-demo-bundle", "app.demo_bundle")
    parser = CommandParser(allow_abbrev=False,  # a prefix is refused, never guessed
        prog=prog, description=fill_help("Write an untrained demo model bundle (random weights: for "
                                             "trying the app's interface; its grades mean nothing) into "
                                             "RUN_DIR/bundle.", 88),
        epilog=f"Examples:\n  {prog} runs/demo\n  {prog} runs/demo-fundus --grades icdr --channels 3\n"
               f"then serve it: {python_command('app')} --bundle runs/demo/bundle\n\n"
               + fill_help(DEMO_BUNDLE_EXIT_CODES, 88),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="run folder to create (the bundle goes to RUN_DIR/bundle)")
    # ranges checked here (a CLI review: --folds 0 an IndexError after half the folder was
    # written, --image-size -5 a bundle every image then failed on)
    parser.add_argument("--image-size", type=whole_number(INPUT_SIDES[0], 128, most=INPUT_SIDES[1], option="--image-size"),
                        default=128, metavar="PX",
                        help="side in px of the model's input (default: %(default)s)")
    parser.add_argument("--source-size", type=whole_number(INPUT_SIDES[0], 256, most=INPUT_SIDES[1], option="--source-size"),
                        default=256, metavar="PX",
                        help="side in px an upload is first resized to, as the training cache "
                             "would hold it, before the model's size (default: %(default)s)")
    parser.add_argument("--folds", type=whole_number(1, 2, option="--folds"), default=2, metavar="N",
                        help="fold models in the ensemble, each graded image goes through all "
                             "(default: %(default)s)")
    parser.add_argument("--head", default="conv", choices=list(_CHOICES["finetune.head"]),  # grading.model.HEADS, without torch
                        help="the grading head on the backbone, as finetune.head (default: %(default)s)")
    parser.add_argument("--grades", default="drac", choices=sorted(GRADE_SCALES),
                        help="grade scale: drac (3 grades) or icdr (5) (default: %(default)s)")
    parser.add_argument("--channels", type=ascii_int("--channels"), default=1, choices=[1, 3],
                        help="1: grey UW-OCTA model, 3: colour fundus model (default: %(default)s)")
    add_version_option(parser)
    args = parser.parse_args(argv)
    if problem := run_dir_problem(args.run_dir):  # before torch loads: nothing of the user's replaced
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from drac_ssl.torch_pair import exit_on_bad_torch_pair  # stdlib only

    exit_on_bad_torch_pair()  # before torch and torchvision load: a mismatched pair, said once
    bundle = build_demo_bundle(args.run_dir, image_size=args.image_size,
                               source_size=args.source_size, n_folds=args.folds, head=args.head,
                               grade_names=GRADE_SCALES[args.grades], channels=args.channels)
    print(f"Wrote an UNTRAINED demo bundle (random weights: for trying the interface; its grades "
          f"mean nothing) to {bundle}\nOpen it in the app: {python_command('app')} --bundle "
          f"{shlex.quote(str(bundle))}  (then http://127.0.0.1:7860 in a browser)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
