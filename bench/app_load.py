"""Load test of the Gradio app on loopback -> ``bench/results/app_load.json``.

    python bench/app_load.py [--bundle PATH | --demo] [--clients 4] [--requests 10]
                             [--time-limit 600] [--name app_load]

Starts ``python -m app`` on a free 127.0.0.1 port (the bundle given, else the newest under
runs/, else (or with ``--demo``) an untrained demo bundle of the DRAC recipe's shape:
ResNet-18, conv head, 224 px from a 512 px cache, 5 folds, so its CPU cost is a trained
model's), then N
concurrent ``gradio_client`` clients each send ``--requests`` single-image requests (the
real DRAC samples in turn, with TTA and Grad-CAM as the app serves them), stopping at the
time limit. One warm-up request is not counted. Records per-request latency as a client sees
it (queue wait included) and the server's inference time, p50/p95, throughput and errors
(must be 0; the exit code is 1 otherwise). All traffic stays on 127.0.0.1; the server is
stopped at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from app.loopback import free_port, wait_until_serving  # noqa: E402
from bench.common import SHARED, write_result  # noqa: E402

SAMPLES = SHARED / "data" / "drac_samples"


def _images(tmp: Path) -> tuple[list[Path], str]:
    real = [SAMPLES / f"sample_{i}.png" for i in range(3)]
    if all(p.is_file() for p in real):
        return real, f"real DRAC samples {', '.join(p.name for p in real)} (1024 x 1024 grey PNG)"
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(3):
        path = tmp / f"synthetic_{i}.png"
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (1024, 1024), dtype=np.uint8)).save(buf, format="PNG")
        path.write_bytes(buf.getvalue())
        out.append(path)
    return out, f"synthetic 1024 x 1024 noise PNGs (no DRAC samples at {SAMPLES})"


def _bundle(arg: str | None, tmp: Path, demo: bool) -> tuple[Path, str]:
    from app.demo_bundle import build_demo_bundle
    from app.predict import NoBundleError, find_newest_bundle

    if arg:
        return Path(arg), "given"
    if not demo:
        try:
            path = find_newest_bundle(REPO / "runs")
            return path, f"newest under runs/ ({_describe(path)})"
        except NoBundleError:
            pass
    path = build_demo_bundle(tmp / "demo_run", image_size=224, source_size=512, n_folds=5)
    return path, "untrained demo bundle of the DRAC recipe's shape (224 px, 5 folds)"


def _describe(bundle: Path) -> str:
    import json

    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    size = meta["input"]["size"]
    return (f"{meta['model']['arch']} {meta['model']['head']} head, {size[0]} px input, "
            f"{len(meta['folds'])} folds, trained on {meta.get('data', {}).get('kind')} data")


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 4) if values else None


def _stats(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": _pct(values, 50), "p95": _pct(values, 95),
            "mean": round(float(np.mean(values)), 4) if values else None,
            "max": round(float(np.max(values)), 4) if values else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default=None, help="bundle folder (default: see above)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--requests", type=int, default=10, help="requests per client (default 10)")
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="seconds after which no new request starts (default 600)")
    parser.add_argument("--concurrency", type=int, default=1, help="the app's --concurrency")
    parser.add_argument("--threads", type=int, default=0,
                        help="the app's --threads (0: the package's policy, half the cores, 1..4)")
    parser.add_argument("--demo", action="store_true",
                        help="use the DRAC-shaped untrained demo bundle even if runs/ has one")
    parser.add_argument("--name", default="app_load",
                        help="result name: bench/results/NAME.json (default app_load)")
    parser.add_argument("--out-dir", default=None, help="results folder (default bench/results)")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 32 and 1 <= args.requests <= 1000):
        parser.error("--clients must be 1..32 and --requests 1..1000")

    from gradio_client import Client, handle_file

    tmp = Path(tempfile.mkdtemp(prefix="drac_app_load_"))
    images, images_note = _images(tmp)
    bundle, bundle_note = _bundle(args.bundle, tmp, args.demo)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "-m", "app", "--bundle", str(bundle), "--host", "127.0.0.1",
           "--port", str(port), "--quiet", "--concurrency", str(args.concurrency),
           "--queue-size", str(max(16, 2 * args.clients)), "--threads", str(args.threads)]
    t_start = time.perf_counter()
    server_log = tmp / "server.log"
    with open(server_log, "w", encoding="utf-8") as log_file:  # a file: a pipe could fill up
        server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    latencies: list[float] = []
    inference: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    try:
        wait_until_serving(url, timeout=300, process=server)
        startup = time.perf_counter() - t_start
        print(f"[app_load] app up in {startup:.1f} s at {url} ({bundle})", flush=True)
        warm = Client(url, verbose=False).predict(handle_file(str(images[0])), api_name="/grade")
        if "error" in warm[-1]:
            raise RuntimeError(f"warm-up request failed: {warm[-1]['error']}")
        deadline = time.perf_counter() + args.time_limit
        barrier = threading.Barrier(args.clients)

        def worker(k: int) -> None:
            try:
                client = Client(url, verbose=False)
            except Exception as exc:  # counted, never raised
                with lock:
                    errors.append(f"client {k}: cannot connect ({exc})")
                return
            barrier.wait()
            for i in range(args.requests):
                if time.perf_counter() > deadline:
                    return
                image = images[(k + i) % len(images)]
                t0 = time.perf_counter()
                try:
                    *_, details = client.predict(handle_file(str(image)), api_name="/grade")
                    dt = time.perf_counter() - t0
                    with lock:
                        if "error" in details:
                            errors.append(f"client {k} request {i}: {details['error']}")
                        else:
                            latencies.append(dt)
                            inference.append(float(details["inference_seconds"]))
                except Exception as exc:
                    with lock:
                        errors.append(f"client {k} request {i}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.time_limit + 600)
        wall = time.perf_counter() - t0
        batch_client = Client(url, verbose=False)
        tb = time.perf_counter()
        summary, table, _csv = batch_client.predict([handle_file(str(p)) for p in images],
                                                    api_name="/grade_batch")
        batch_seconds = time.perf_counter() - tb
        if "rejected" in summary:
            errors.append(f"batch: {summary}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server_tail = server_log.read_text(encoding="utf-8", errors="replace")[-3000:]
        shutil.rmtree(tmp, ignore_errors=True)
    expected = args.clients * args.requests
    figures = {
        "config": {"clients": args.clients, "requests_per_client": args.requests,
                   "time_limit_s": args.time_limit, "app_concurrency": args.concurrency,
                   "app_threads": args.threads or "the package's policy (see the server log)", "bundle": str(bundle),
                   "bundle_note": bundle_note, "images": images_note,
                   "request": "one image per request, flip TTA + Grad-CAM (the app's defaults)",
                   "server": " ".join(["python", *cmd[1:]])},
        "versions": {"gradio": _version("gradio"), "gradio_client": _version("gradio_client")},
        "results": {
            "requests_expected": expected, "requests_ok": len(latencies), "errors": len(errors),
            "error_messages": errors[:10],
            "stopped_by_time_limit": len(latencies) + len(errors) < expected,
            "latency_s": _stats(latencies),
            "server_inference_s": _stats(inference),
            "throughput_images_per_s": round(len(latencies) / wall, 4) if wall > 0 else None,
            "wall_s": round(wall, 2), "app_startup_s": round(startup, 2),
            "batch_of_3_s": round(batch_seconds, 3),
        },
        "notes": ("latency_s is what a client waits (queue included: with concurrency 1 and "
                  f"{args.clients} clients a request waits for the others); server_inference_s "
                  "is the model time of one image (preprocessing, fold ensemble with TTA, "
                  "Grad-CAM). Shared CPU: other processes may have run at the same time."),
    }
    _add_load(figures)
    write_result(args.name, figures, Path(args.out_dir) if args.out_dir else None)
    r = figures["results"]
    print(f"[app_load] {r['requests_ok']}/{expected} ok, {r['errors']} errors; latency p50 "
          f"{r['latency_s']['p50']} s p95 {r['latency_s']['p95']} s; inference p50 "
          f"{r['server_inference_s']['p50']} s p95 {r['server_inference_s']['p95']} s; "
          f"{r['throughput_images_per_s']} images/s", flush=True)
    if errors:
        print(server_tail, file=sys.stderr)
    return 1 if errors else 0


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _add_load(figures: dict[str, Any]) -> None:
    """The machine's load average at the end (a shared CPU skews the figures)."""
    try:
        figures["load_average_1_5_15"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
