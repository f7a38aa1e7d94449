"""Load test of the Gradio app on loopback -> ``bench/results/app_load.json``.

    python bench/app_load.py [--bundle PATH | --demo] [--clients 20] [--requests 5]
                             [--rounds 2] [--busy-neighbour [on|interleaved]]
                             [--concurrency 1] [--queue-size 32] [--large-image 6300]
                             [--large-format png16|float-tiff] [--name app_load]

Starts ``python -m app`` on a free 127.0.0.1 port (the bundle given, else the newest under
runs/, else (or with ``--demo``) an untrained demo bundle of the DRAC recipe's shape:
ResNet-18, conv head, 224 px from a 512 px cache, 5 folds, so its CPU cost is a trained
model's), then, in each of ``--rounds`` rounds, N concurrent ``gradio_client`` clients each
send ``--requests`` single-image requests at once (the real DRAC samples in turn, with TTA
and Grad-CAM as the app serves them), stopping at the time limit. One warm-up request is not
counted. Records per-request latency as a client sees it (upload, queue wait, model,
drawing, download of the two images) and the server's model time (``inference_seconds``:
preprocessing, ensemble, Grad-CAM) with its parts and the decoding time, p50/p95, throughput,
errors (must be 0; the exit code is 1 otherwise) and requests refused with the app's "busy"
message (counted apart; 0 when the queue holds every client), the queue settings, threads,
and the load average sampled every 2 s. All traffic stays on 127.0.0.1; the server is stopped
at the end.

The server's memory (``server_memory_mib``): its ``VmRSS`` (resident now) and ``VmHWM`` (its
peak so far) from ``/proc/<pid>/status`` (Linux; :func:`bench.grading_memory.proc_status_kib`),
once it answers (bundle loaded, before any request), after the warm-up request, after the rounds
and the batch, and, with ``--large-image SIDE``, after one more ``/grade`` request of a
SIDE x SIDE 16-bit RGB PNG (a phantom UW-OCTA image enlarged, its three channels equal, so
that the PNG stays small; the server's ``--max-size-mb`` is raised to hold it when it is over
the default): at 6300 px, 39.7 megapixels, near the largest square (6324 px) the app's default
``--max-megapixels 40`` lets through. ``--large-format float-tiff``: a float32 RGB TIFF
(deflate: a few MiB on disk, 12 bytes a pixel decoded) instead; a refusal by the app's limit
of decoded bytes is recorded in ``large_image.refused``, not counted as an error.

``--busy-neighbour``: one other process keeps one core busy during the rounds
(:data:`bench.common.NEIGHBOUR_NOTE`); ``--busy-neighbour interleaved``: rounds alternate
without and with it (each state in every pair of rounds, in a random order) on the same
server, and two results are written: ``NAME.json`` (no neighbour) and ``NAME_busy.json``.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import re
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
from bench.common import (  # noqa: E402
    NEIGHBOUR_NOTE,
    SHARED_DATA,
    busy_neighbour,
    load_average,
    stop_process,
    write_result,
)
from drac_ssl.cpu_threads import usable_cores  # noqa: E402
from drac_ssl.starting import python_command  # noqa: E402

SAMPLES = SHARED_DATA / "drac_samples"
BUSY_LOAD = 2.0  # 1-minute load average per core above which the JSON says "very loaded"


def _images(tmp: Path) -> tuple[list[Path], str]:
    real = [SAMPLES / f"sample_{i}.png" for i in range(3)]
    if all(p.is_file() for p in real):
        return real, f"real DRAC samples {', '.join(p.name for p in real)} (1024 x 1024 grey PNG)"
    from PIL import Image

    from data_prep.phantom import phantom_image

    out = []
    for i in range(3):  # phantoms, not noise: the app refuses noise (app.inputs.refusal)
        path = tmp / f"synthetic_{i}.png"
        buf = io.BytesIO()
        Image.fromarray(phantom_image(0, i, i)).save(buf, format="PNG")
        path.write_bytes(buf.getvalue())
        out.append(path)
    return out, f"synthetic 1024 x 1024 phantom UW-OCTA PNGs (no DRAC samples at {SAMPLES})"


LARGE_FORMATS = {
    "png16": "16-bit RGB PNG, three equal channels: phantom UW-OCTA image enlarged",
    "float-tiff": ("32-bit float RGB TIFF (deflate), three equal channels 0..1: phantom UW-OCTA "
                   "image enlarged (the security review's F2 file: small on disk, 12 bytes a pixel "
                   "decoded)"),
}
"""``--large-format``: what the large image is (:func:`_large_image`)."""


def _large_image(tmp: Path, side: int, large_format: str = "png16") -> Path:
    """A ``side`` x ``side`` image of :data:`LARGE_FORMATS`: phantom UW-OCTA image 0 enlarged
    (bilinear), its three channels equal; ``png16``: a 16-bit RGB PNG scaled x 257 (compression
    level 1: some tens of MiB); ``float-tiff``: a float32 RGB TIFF of values 0..1, deflate
    (Pillow cannot open it; the decoder's OpenCV fallback reads it)."""
    import cv2

    from data_prep.phantom import phantom_image

    grey = cv2.resize(phantom_image(0, 1, 2), (side, side), interpolation=cv2.INTER_LINEAR)
    if large_format == "float-tiff":
        plane, suffix, params = (grey.astype(np.float32) / 255, "float32_rgb.tif",
                                 [cv2.IMWRITE_TIFF_COMPRESSION, 8])  # 8: deflate (Adobe)
    else:
        plane, suffix, params = grey.astype(np.uint16) * 257, "16bit_rgb.png", [cv2.IMWRITE_PNG_COMPRESSION, 1]
    path = tmp / f"large_{side}px_{suffix}"
    if not cv2.imwrite(str(path), np.stack([plane, plane, plane], axis=-1), params):
        raise OSError(f"could not write {path}")
    return path


def server_memory(pid: int) -> dict[str, float] | None:
    """The process ``pid``'s resident memory now (``vmrss_mib``) and its peak so far
    (``vmhwm_mib``), MiB to 1 decimal, from ``/proc/<pid>/status``; None where there is no such
    file (not Linux, or the process has ended)."""
    from bench.grading_memory import proc_status_kib

    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    status = proc_status_kib(text)
    return {"vmrss_mib": round(status["VmRSS"] / 1024, 1), "vmhwm_mib": round(status["VmHWM"] / 1024, 1)}


def _bundle(arg: str | None, tmp: Path, demo: bool) -> tuple[Path, str]:
    from app.demo_bundle import build_demo_bundle
    from app.predict import NoBundleError, find_newest_bundle

    if arg:
        return Path(arg), f"given ({_describe(Path(arg))})"
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


class Round:
    """What the clients of one round saw."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.inference: list[float] = []
        self.read: list[float] = []
        self.parts: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.refused: list[str] = []
        self.wall = 0.0
        self.loads: list[float] = []
        self.lock = threading.Lock()


def _run_round(url: str, images: list[Path], clients: int, requests: int, deadline: float,
               downloads: Path) -> Round:
    """One round of ``clients`` concurrent clients; ``downloads``: the private folder their
    results are downloaded into (gradio_client's default, /tmp/gradio, is readable by others)."""
    from gradio_client import Client, handle_file

    r = Round()
    barrier = threading.Barrier(clients)
    stop_sampling = threading.Event()

    def sample_load() -> None:
        while not stop_sampling.wait(2.0):
            la = load_average()
            if la:
                r.loads.append(la[0])

    def worker(k: int) -> None:
        try:
            client = Client(url, verbose=False, download_files=str(downloads))
        except Exception as exc:  # counted, never raised
            with r.lock:
                r.errors.append(f"client {k}: cannot connect ({exc})")
            barrier.abort()
            return
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        for i in range(requests):
            if time.perf_counter() > deadline:
                return
            image = images[(k + i) % len(images)]
            t0 = time.perf_counter()
            try:
                *_, details = client.predict(handle_file(str(image)), api_name="/grade")
                dt = time.perf_counter() - t0
                with r.lock:
                    if details.get("busy"):
                        r.refused.append(f"client {k} request {i}: {details['error']}")
                    elif "error" in details:
                        r.errors.append(f"client {k} request {i}: {details['error']}")
                    else:
                        r.latencies.append(dt)
                        r.inference.append(float(details["inference_seconds"]))
                        r.read.append(float(details.get("read_seconds", 0.0)))
                        for part, sec in (details.get("timings_seconds") or {}).items():
                            r.parts.setdefault(part, []).append(float(sec))
            except Exception as exc:
                with r.lock:
                    r.errors.append(f"client {k} request {i}: {type(exc).__name__}: {exc}")

    sampler = threading.Thread(target=sample_load, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.perf_counter()) + 600)
    r.wall = time.perf_counter() - t0
    stop_sampling.set()
    la = load_average()
    if la:
        r.loads.append(la[0])
    return r


def _figures(rounds: list[Round], expected: int) -> dict[str, Any]:
    lat = [v for r in rounds for v in r.latencies]
    inf = [v for r in rounds for v in r.inference]
    read = [v for r in rounds for v in r.read]
    errors = [e for r in rounds for e in r.errors]
    refused = [e for r in rounds for e in r.refused]
    parts: dict[str, list[float]] = {}
    for r in rounds:
        for k, v in r.parts.items():
            parts.setdefault(k, []).extend(v)
    wall = sum(r.wall for r in rounds)
    loads = [v for r in rounds for v in r.loads]
    return {
        "requests_expected": expected, "requests_ok": len(lat), "errors": len(errors),
        "error_messages": errors[:10], "refused_busy": len(refused),
        "refused_messages": refused[:3],
        "stopped_by_time_limit": len(lat) + len(errors) + len(refused) < expected,
        "latency_s": _stats(lat),
        "server_inference_s": _stats(inf),
        "server_parts_s": {k: _stats(v) for k, v in parts.items()},
        "decode_s": _stats(read),
        "throughput_images_per_s": round(len(lat) / wall, 4) if wall > 0 else None,
        "wall_s": round(wall, 2),
        "per_round": [{"ok": len(r.latencies), "errors": len(r.errors), "refused": len(r.refused),
                       "latency_p95_s": _pct(r.latencies, 95),
                       "inference_p95_s": _pct(r.inference, 95), "wall_s": round(r.wall, 2),
                       "load_avg_1min": [round(v, 2) for v in r.loads]} for r in rounds],
        "load_avg_1min_during": {"min": round(min(loads), 2), "max": round(max(loads), 2),
                                 "mean": round(float(np.mean(loads)), 2)} if loads else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.app_load"), allow_abbrev=False, description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default=None, help="bundle folder (default: see above)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--requests", type=int, default=10, help="requests per client and round "
                                                                 "(default 10)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of the client burst on the same server (default 1; with "
                             "--busy-neighbour interleaved: rounds per state)")
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="seconds per round after which no new request starts (default 600)")
    parser.add_argument("--concurrency", type=int, default=1, help="the app's --concurrency")
    parser.add_argument("--queue-size", type=int, default=None,
                        help="the app's --queue-size (default: the app's default)")
    parser.add_argument("--threads", type=int, default=0,
                        help="the app's --threads (0: the package's policy, half the cores, 1..4)")
    parser.add_argument("--busy-neighbour", nargs="?", const="on", default="off",
                        choices=["off", "on", "interleaved"],
                        help="one other CPU-busy process during the rounds (on), or rounds "
                             "alternating without / with it (interleaved; writes NAME.json and "
                             "NAME_busy.json)")
    parser.add_argument("--seed", type=int, default=0, help="order of interleaved rounds")
    parser.add_argument("--demo", action="store_true",
                        help="use the DRAC-shaped untrained demo bundle even if runs/ has one")
    parser.add_argument("--large-image", type=int, default=0, metavar="SIDE",
                        help="after the rounds, one /grade request of a SIDE x SIDE 16-bit RGB PNG, "
                             "and the server's memory after it (default 0: none; 6300 px is near the "
                             "largest square the app's default 40 megapixels let through, 6324)")
    parser.add_argument("--large-format", choices=sorted(LARGE_FORMATS), default="png16",
                        help="the large image's format: png16 (default) or float-tiff (a refusal "
                             "by the app's limit of decoded bytes is recorded, not an error)")
    parser.add_argument("--name", default="app_load",
                        help="result name: bench/results/NAME.json (default app_load)")
    parser.add_argument("--out-dir", default=None, help="results folder (default bench/results)")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 64 and 1 <= args.requests <= 1000 and 1 <= args.rounds <= 20):
        parser.error("--clients must be 1..64, --requests 1..1000 and --rounds 1..20")
    if args.large_image and not 256 <= args.large_image <= 8192:
        parser.error("--large-image must be 256..8192 (the app's smallest and largest side), or 0")

    from gradio_client import Client, handle_file

    from app.model_queue import gradio_limits
    from app.server import AppSettings

    queue_size = AppSettings().queue_size if args.queue_size is None else args.queue_size
    tmp = Path(tempfile.mkdtemp(prefix="drac_app_load_"))
    images, images_note = _images(tmp)
    downloads = tmp / "downloads"  # the clients' results, inside the private tmp, removed with it
    downloads.mkdir(mode=0o700)
    bundle, bundle_note = _bundle(args.bundle, tmp, args.demo)
    large = _large_image(tmp, args.large_image, args.large_format) if args.large_image else None
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "-m", "app", "--bundle", str(bundle), "--host", "127.0.0.1",
           "--port", str(port), "--quiet", "--concurrency", str(args.concurrency),
           "--queue-size", str(queue_size), "--threads", str(args.threads)]
    large_mib = large.stat().st_size / 2**20 if large else 0.0
    if large_mib > AppSettings().max_mb:  # the app's own limit would refuse it
        cmd += ["--max-size-mb", str(math.ceil(large_mib) + 1)]
    if args.busy_neighbour == "interleaved":
        plan = [state for _ in range(args.rounds)
                for state in random.Random(args.seed + _).sample(["none", "busy"], 2)]
    else:
        plan = ["busy" if args.busy_neighbour == "on" else "none"] * args.rounds
    t_start = time.perf_counter()
    server_log = tmp / "server.log"
    with open(server_log, "w", encoding="utf-8") as log_file:  # a file: a pipe could fill up
        server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    by_state: dict[str, list[Round]] = {"none": [], "busy": []}
    batch_seconds = None
    late_errors: list[str] = []  # the batch's and the large image's, after the rounds
    memory: dict[str, dict[str, float] | None] = {}
    large_result: dict[str, Any] | None = None
    load_before = load_average()
    try:
        wait_until_serving(url, timeout=300, process=server)
        startup = time.perf_counter() - t_start
        memory["started"] = server_memory(server.pid)  # the bundle loaded, no request yet
        print(f"[app_load] app up in {startup:.1f} s at {url} ({bundle})", flush=True)
        warm = Client(url, verbose=False, download_files=str(downloads)).predict(
            handle_file(str(images[0])), api_name="/grade")
        if "error" in warm[-1]:
            raise RuntimeError(f"warm-up request failed: {warm[-1]['error']}")
        memory["after_warm_up"] = server_memory(server.pid)
        for k, state in enumerate(plan):
            with busy_neighbour(state == "busy"):
                r = _run_round(url, images, args.clients, args.requests,
                               time.perf_counter() + args.time_limit, downloads)
            by_state[state].append(r)
            print(f"[app_load] round {k} neighbour={state}: {len(r.latencies)} ok, {len(r.errors)} "
                  f"errors, {len(r.refused)} refused; latency p95 {_pct(r.latencies, 95)} s, model "
                  f"p95 {_pct(r.inference, 95)} s, {r.wall:.1f} s; load "
                  f"{[round(v, 1) for v in r.loads]}", flush=True)
        batch_client = Client(url, verbose=False, download_files=str(downloads))
        tb = time.perf_counter()
        summary, *_files = batch_client.predict([handle_file(str(p)) for p in images],
                                                api_name="/grade_batch")
        batch_seconds = time.perf_counter() - tb
        if "rejected" in summary or "Busy" in summary:
            late_errors.append(f"batch: {summary}")
        memory["after_rounds_and_batch"] = server_memory(server.pid)
        if large is not None:
            tl = time.perf_counter()
            *_, details = batch_client.predict(handle_file(str(large)), api_name="/grade")
            error = details.get("error")
            refused = bool(error) and "decoded" in error and "above the limit" in error
            large_result = {"side_px": args.large_image, "file_mib": round(large_mib, 1),
                            "image": f"{LARGE_FORMATS[args.large_format]} (bench.app_load._large_image)",
                            "latency_s": round(time.perf_counter() - tl, 2),
                            "error": None if refused else error, "refused": error if refused else None}
            memory["after_large_image"] = server_memory(server.pid)
            if error and not refused:
                late_errors.append(f"large image: {error}")
    finally:
        stop_process(server, timeout=30)
        server_text = server_log.read_text(encoding="utf-8", errors="replace")
        shutil.rmtree(tmp, ignore_errors=True)
    threads_line = re.search(r"CPU threads: (\d+) \(([^;]*)", server_text)
    handler_limit, guard = gradio_limits(args.concurrency, queue_size)
    any_errors = bool(late_errors)
    for state, rounds in by_state.items():
        if not rounds:
            continue
        expected = args.clients * args.requests * len(rounds)
        results = _figures(rounds, expected)
        results["app_startup_s"] = round(startup, 2)
        results["batch_of_3_s"] = round(batch_seconds, 3) if batch_seconds is not None else None
        results["errors"] += len(late_errors)
        results["error_messages"].extend(late_errors)
        any_errors = any_errors or results["errors"] > 0
        during = results["load_avg_1min_during"]
        cores = usable_cores()  # the server's share, not the machine's CPUs
        loaded = during is not None and during["mean"] > BUSY_LOAD * cores
        figures = {
            "config": {"clients": args.clients, "requests_per_client": args.requests,
                       "rounds": len(rounds), "time_limit_s": args.time_limit,
                       "bundle": str(bundle), "bundle_note": bundle_note, "images": images_note,
                       "request": "one image per request, flip TTA + Grad-CAM (the app's defaults)",
                       "server": " ".join(["python", *cmd[1:]]),
                       "neighbour": NEIGHBOUR_NOTE if state == "busy" else "none",
                       "interleaved_with": ("rounds without the neighbour on the same server"
                                            if state == "busy" and by_state["none"] else
                                            "rounds with the neighbour on the same server"
                                            if by_state["busy"] and state == "none" else None)},
            "queue": {"model_workers": args.concurrency, "queue_size": queue_size,
                      "served_at_once": args.concurrency + queue_size,
                      "gradio_concurrency_limit": handler_limit, "gradio_max_size_guard": guard,
                      "beyond": "the app's 'busy, try again' message (counted as refused_busy)"},
            "app_threads": (int(threads_line.group(1)) if threads_line else
                            args.threads or "the package's policy"),
            "app_threads_source": threads_line.group(2) if threads_line else None,
            "versions": {"gradio": _version("gradio"), "gradio_client": _version("gradio_client")},
            "results": results,
            "server_memory_mib": memory,
            "server_memory_note": ("the python -m app process's VmRSS (resident at that moment) and "
                                   "VmHWM (its peak since it started, the bundle's load included) "
                                   "of /proc/<pid>/status, MiB; null where /proc has no such file"),
            "large_image": large_result,
            "load_average_before": load_before,
            "machine_note": (f"shared {cores}-core machine: 1-minute load average "
                             f"{during['min']}-{during['max']} during the rounds (mean "
                             f"{during['mean']}){'; VERY LOADED: other jobs held the cores' if loaded else ''}"
                             if during else None),
            "notes": ("latency_s is what a client waits (upload, queue wait, model, drawing, the "
                      "download of the two images); server_inference_s is the model time of one "
                      "image (preprocessing, fold ensemble with TTA, Grad-CAM); decode_s the upload's "
                      "decoding and checks. Shared CPU: other processes ran at the same time "
                      "(load averages above)."),
        }
        name = args.name if state == "none" or args.busy_neighbour != "interleaved" else f"{args.name}_busy"
        write_result(name, figures, Path(args.out_dir) if args.out_dir else None)
        r = figures["results"]
        print(f"[app_load] {name}: {r['requests_ok']}/{expected} ok, {r['errors']} errors, "
              f"{r['refused_busy']} refused; latency p50 {r['latency_s']['p50']} s p95 "
              f"{r['latency_s']['p95']} s; model p50 {r['server_inference_s']['p50']} s p95 "
              f"{r['server_inference_s']['p95']} s; {r['throughput_images_per_s']} images/s", flush=True)
    if any_errors:
        print(server_text[-3000:], file=sys.stderr)
    return 1 if any_errors else 0


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
