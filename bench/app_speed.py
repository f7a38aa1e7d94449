"""Single-image model time of the app, idle and beside a busy neighbour (issue #14's 300 ms target).

    python -m bench.app_speed [--repeats 3] [--calls 20] [--reference-calls 3]
                              [--onnxruntime-site DIR] [--name app_speed]

In one process, the app's :class:`app.predict.Predictor` on the DRAC-shaped bundle that
``bench/app_load.py --demo`` serves (untrained, the real format and compute: ResNet-18, conv
head, 224 px from the 512 px cache, 5 folds sharing a frozen backbone) grades the three real
DRAC samples (1024 px PNG) in turn, one request after the other, as the app does: decoding
with the upload checks (:func:`app.inputs.load_upload`, the single decoding path
``data_prep.validate.inspect_image``), then preprocessing, the 5-fold ensemble with the 4
flips, and the Grad-CAM heatmap of the shown grade averaged over the same 4 views
(:attr:`app.predict.Predictor.map_flips`, since 2026-12-05; ``map_views`` in the result) and
placed on the image. Each timed request is :func:`grade_request`,
:meth:`app.predict.Predictor.predict_file`, which reads the file and calls
:meth:`~app.predict.Predictor.predict_loaded` as the page's single-image tab does, on the
Predictor the app builds with its defaults (:func:`app_predictor`; ``tests/bench/test_app_speed.py``
ties the two). The *model time* is ``Prediction.seconds`` (preprocessing + ensemble +
Grad-CAM; what the page shows), decoding is reported apart.

Interleaved blocks: every repeat runs both states, without and with a busy neighbour (one
other process keeping one core busy, :data:`bench.common.NEIGHBOUR_NOTE`), in a random order;
within a block, ``--calls`` timed requests (after one untimed warm-up), then the same work by
the path the app took before issue #14 (``--reference-calls``), then the backbone alone on the
4 flips of one image in each layout. Percentiles pool the blocks of a state; the 1-minute load
average is recorded per block (a shared machine is not idle without the neighbour).

* ``reference``: each fold model on its own NCHW weights, one forward pass per flip, then
  MONAI's GradCAM on a deep copy of each whole fold model (forward + backward to the input),
  averaged: what ``app.predict`` did before (same outputs to float32 rounding; the tests
  check it).
* ``backbone_4_views_ms``: ResNet-18 up to layer4 on the 4 flips of one 224 px image: 4 NCHW
  passes of one view, one NCHW pass of the 4, one channels-last pass of the 4 (what the app
  runs), and ONNX Runtime on the same graph when ``--onnxruntime-site`` names a folder
  holding it (``pip install --target DIR onnxruntime onnx``; it is not a dependency of the
  package: this measures whether it would earn its place).

Writes ``bench/results/NAME.json``.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402
    NEIGHBOUR_NOTE,
    SHARED_DATA,
    add_threads_argument,
    busy_neighbour,
    load_average,
    write_result,
)
from drac_ssl.starting import python_command  # noqa: E402

SAMPLES = SHARED_DATA / "drac_samples"
GOAL_SECONDS = 0.300


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 4) if values else None


def _stats(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": _pct(values, 50), "p95": _pct(values, 95),
            "max": round(max(values), 4) if values else None}


def _median_ms(fn: Callable[[], Any], calls: int) -> float:
    fn()
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(out), 1)


def _images(tmp: Path) -> tuple[list[Path], str]:
    real = [SAMPLES / f"sample_{i}.png" for i in range(3)]
    if all(p.is_file() for p in real):
        return real, "the real DRAC samples sample_0..2.png (1024 x 1024 grey PNG)"
    from PIL import Image

    from data_prep.phantom import phantom_image

    out = []
    for i in range(3):  # phantoms, not noise: predict_file refuses noise (app.inputs.refusal)
        path = tmp / f"synthetic_{i}.png"
        Image.fromarray(phantom_image(0, i, i)).save(path)
        out.append(path)
    return out, f"synthetic 1024 x 1024 phantom UW-OCTA PNGs (no DRAC samples at {SAMPLES})"


def app_predictor(folder: Path) -> Any:
    """The app's :class:`app.predict.Predictor` with ``python -m app``'s defaults (flip TTA as
    the bundle's cross-validation, so the grade and the heat map average the 4 flipped views;
    Grad-CAM on) on the DRAC-shaped demo bundle that ``bench/app_load.py --demo`` serves,
    built in ``folder`` (untrained: ResNet-18, conv head, 224 px from the 512 px cache, 5 folds
    sharing a frozen backbone)."""
    from app.demo_bundle import build_demo_bundle
    from app.predict import Predictor

    return Predictor(build_demo_bundle(folder / "demo_run", image_size=224, source_size=512, n_folds=5))


def grade_request(predictor: Any, path: Path) -> Any:
    """One timed request: ``predictor.predict_file(path)``, the app's own path (the upload
    checks, then :meth:`app.predict.Predictor.predict_loaded`, the call of the page's
    single-image tab: grade, probabilities and the heat map of the grade's views). Returns the
    :class:`app.predict.Prediction`."""
    return predictor.predict_file(path)


class Reference:
    """The app's computation before issue #14: per fold model (its own NCHW copy), one forward
    pass per flip under ``torch.no_grad``; MONAI's GradCAM on each whole fold model.

    Its Grad-CAM (:class:`app.gradcam.EnsembleGradCAM`, of the identity view, as the app's map
    was then) combines the folds the present way (the signed maps averaged, then ReLU, then
    divided by the maximum: Grad-CAM of the mean logit), not as the app did before 2026-12-05
    (each fold's map ReLU'd and min-max scaled, then averaged). The cost is the same: one
    forward and one backward per fold model either way, the combination a few operations on
    7 x 7 cells."""

    def __init__(self, bundle: Any) -> None:
        from app.gradcam import EnsembleGradCAM
        from drac_ssl.grading.model import load_fold_model

        self.bundle = bundle
        self.models = [load_fold_model(bundle.metadata, bundle.path, entry)
                       for entry in bundle.metadata["folds"]]
        self.cam = EnsembleGradCAM(self.models, "backbone.layer4")

    def __call__(self, image: np.ndarray) -> None:
        import torch

        from app.gradcam import resize_heatmap
        from drac_ssl.grading.predict import TTA_FLIPS, preprocess_image

        x = preprocess_image(image, self.bundle.metadata)[None]
        with torch.no_grad():
            raw = [torch.stack([m(x.flip(d) if d else x).float() for d in TTA_FLIPS]).mean(0)
                   .double().numpy() for m in self.models]
        _, _, grade = self.bundle.calibration.decide(raw)
        # the old path's own stretch over the whole image (as it was when these figures were
        # first taken); the app now places the map through the crop geometry (place_heatmap)
        resize_heatmap(self.cam(x[0], int(grade[0])).heat, image.shape[:2])


def backbone_variants(bundle: Any, image: np.ndarray, ort_site: str | None
                      ) -> tuple[dict[str, Callable[[], Any]], dict[str, Any]]:
    """The backbone up to layer4 on the 4 flips of one image, in each layout (and ONNX
    Runtime when it can be imported from ``ort_site``)."""
    import torch

    from drac_ssl.grading.model import FEATURE_STAGE
    from drac_ssl.grading.predict import preprocess_image, tta_views

    x = tta_views(preprocess_image(image, bundle.metadata)[None], True)
    nchw = copy.deepcopy(bundle.shared_backbone).to(memory_format=torch.contiguous_format)
    nhwc = copy.deepcopy(nchw).to(memory_format=torch.channels_last)

    def run(model: Any, batch: Any) -> Any:
        with torch.inference_mode():
            return model.forward_until(batch, FEATURE_STAGE)

    variants: dict[str, Callable[[], Any]] = {
        "nchw_4_passes_of_1_view": lambda: [run(nchw, x[i:i + 1]) for i in range(4)],
        "nchw_1_pass_of_4_views": lambda: run(nchw, x),
        "channels_last_1_pass_of_4_views": lambda: run(nhwc, x),
    }
    info: dict[str, Any] = {"onnxruntime": "not measured (no --onnxruntime-site)"}
    if ort_site:
        sys.path.append(ort_site)  # last: the package's own numpy etc. stay first
        try:
            import onnxruntime as ort

            class UntilLayer4(torch.nn.Module):
                def __init__(self, backbone: Any) -> None:
                    super().__init__()
                    self.backbone = backbone

                def forward(self, batch: Any) -> Any:
                    return self.backbone.forward_until(batch, FEATURE_STAGE)

            path = Path(tempfile.mkdtemp(prefix="drac_ort_")) / "backbone.onnx"
            t0 = time.perf_counter()
            torch.onnx.export(UntilLayer4(nchw).eval(), (x,), str(path), input_names=["x"],
                              output_names=["fmap"], dynamic_axes={"x": {0: "n"}}, dynamo=False)
            export_s = time.perf_counter() - t0
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            xn = x.numpy()
            ref = run(nchw, x).numpy()
            got = session.run(None, {"x": xn})[0]
            variants["onnxruntime_1_pass_of_4_views"] = lambda: session.run(None, {"x": xn})
            info = {"onnxruntime": ort.__version__, "onnx_export_s": round(export_s, 2),
                    "max_rel_difference_vs_torch": float(np.abs(got - ref).max() / np.abs(ref).max()),
                    "site": ort_site}
        except Exception as exc:  # reported, not fatal
            info = {"onnxruntime": f"not measured: {type(exc).__name__}: {exc}"}
    return variants, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.app_speed"), allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default 3)")
    parser.add_argument("--calls", type=int, default=20, help="timed requests per block (default 20)")
    parser.add_argument("--reference-calls", type=int, default=3,
                        help="timed requests of the pre-#14 path per block (default 3; 0: skip)")
    parser.add_argument("--backbone-calls", type=int, default=7,
                        help="timed calls per backbone layout per block (default 7; 0: skip)")
    parser.add_argument("--onnxruntime-site", default=None,
                        help="a folder with onnxruntime and onnx installed (pip install --target); "
                             "appended to sys.path to measure ONNX Runtime")
    parser.add_argument("--seed", type=int, default=0, help="order of the interleaving")
    parser.add_argument("--name", default="app_speed")
    parser.add_argument("--out-dir", type=Path, default=None)
    add_threads_argument(parser)
    args = parser.parse_args(argv)

    from drac_ssl.runtime import apply_thread_policy

    threads = apply_thread_policy(args.threads)
    from app.inputs import load_upload

    tmp = Path(tempfile.mkdtemp(prefix="drac_app_speed_"))
    paths, images_note = _images(tmp)
    predictor = app_predictor(tmp)
    decoded = [load_upload(p).gray for p in paths]
    reference = Reference(predictor.bundle) if args.reference_calls else None
    variants, ort_info = backbone_variants(predictor.bundle, decoded[0], args.onnxruntime_site)
    rng = random.Random(args.seed)
    states = {"idle": False, "busy_neighbour": True}
    pooled: dict[str, dict[str, list[float]]] = {
        s: {"model": [], "decode": [], "preprocess": [], "ensemble": [], "gradcam": [],
            "request": []} for s in states}
    blocks: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        for state in rng.sample(list(states), len(states)):
            with busy_neighbour(states[state]):
                load_before = load_average()
                grade_request(predictor, paths[0])  # warm-up
                model_s = []
                for i in range(args.calls):
                    t0 = time.perf_counter()
                    pred = grade_request(predictor, paths[i % len(paths)])
                    pooled[state]["request"].append(time.perf_counter() - t0)
                    pooled[state]["model"].append(pred.seconds)
                    pooled[state]["decode"].append(pred.read_seconds)
                    for part, sec in pred.timings.items():
                        pooled[state][part].append(sec)
                    model_s.append(pred.seconds)
                ref_ms = (_median_ms(lambda: reference(decoded[1]), args.reference_calls)
                          if reference is not None else None)
                backbone_ms = ({k: _median_ms(fn, args.backbone_calls) for k, fn in variants.items()}
                               if args.backbone_calls else {})
                block = {"repeat": repeat, "state": state, "load_avg_before": load_before,
                         "load_avg_after": load_average(), "model_s": _stats(model_s),
                         "reference_ms_median": ref_ms, "backbone_4_views_ms": backbone_ms}
                blocks.append(block)
                print(f"[app_speed] repeat {repeat} {state:15s} model p50 {block['model_s']['p50']} "
                      f"p95 {block['model_s']['p95']} s; reference {ref_ms} ms; backbone "
                      f"{backbone_ms}; load {block['load_avg_after']}", flush=True)
    results: dict[str, Any] = {}
    for state, values in pooled.items():
        mine = [b for b in blocks if b["state"] == state]
        backbone = {k: round(statistics.median([b["backbone_4_views_ms"][k] for b in mine]), 1)
                    for k in variants} if args.backbone_calls else {}
        refs = [b["reference_ms_median"] for b in mine if b["reference_ms_median"] is not None]
        results[state] = {
            "model_time_s": _stats(values["model"]),
            "goal_met": bool(values["model"]) and float(np.percentile(values["model"], 95)) < GOAL_SECONDS,
            "decode_s": _stats(values["decode"]),
            "request_s": _stats(values["request"]),
            "parts_median_ms": {k: round(1000 * statistics.median(values[k]), 1)
                                for k in ("preprocess", "ensemble", "gradcam") if values[k]},
            "reference_ms_median": round(statistics.median(refs), 1) if refs else None,
            "backbone_4_views_ms_median": backbone,
            "load_avg_1min": [b["load_avg_after"][0] for b in mine if b["load_avg_after"]],
        }
    loads = [v for r in results.values() for v in r["load_avg_1min"]]
    figures = {
        "what": ("seconds of model time per image of the app (Prediction.seconds: preprocessing, "
                 "5-fold ensemble with the 4 flips, Grad-CAM of the shown grade over the grade's views; "
                 "decoding apart), "
                 "sequential requests, idle vs one busy neighbour, interleaved blocks"),
        "goal": f"model time p95 < {GOAL_SECONDS} s, idle and with one busy neighbour (issue #14)",
        "bundle": "untrained demo bundle of the DRAC recipe's shape: ResNet-18, conv head, 224 px "
                  "from the 512 px cache, 5 folds sharing a frozen backbone (app_load.py --demo)",
        "computes": predictor.describe(),
        "map_views": len(predictor.map_flips),  # the views the heat map averaged (4 with flip TTA)
        "images": images_note, "repeats": args.repeats, "calls_per_block": args.calls,
        "reference": ("pre-#14 app path: per fold model (NCHW), one forward per flip, MONAI GradCAM "
                      "per whole fold model (forward + backward to the input), averaged"),
        "neighbour": NEIGHBOUR_NOTE, "threads_used": threads,
        "onnxruntime": ort_info,
        "results": results, "blocks": blocks,
        "machine_note": (f"shared 2-core machine, other people's jobs running: 1-minute load average "
                         f"{min(loads):.1f}-{max(loads):.1f} during the blocks" if loads else None),
    }
    write_result(args.name, figures, args.out_dir)
    for state, r in results.items():
        print(f"[app_speed] {state}: model time p50 {r['model_time_s']['p50']} s p95 "
              f"{r['model_time_s']['p95']} s (goal {'met' if r['goal_met'] else 'NOT met'}); "
              f"decode p50 {r['decode_s']['p50']} s; reference {r['reference_ms_median']} ms", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
