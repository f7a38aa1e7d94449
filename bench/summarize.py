"""Render the README's results section from ``bench/results/*.json``.

    python -m bench.summarize          # rewrite the section between the markers in README.md
    python -m bench.summarize --print  # print it instead

Only figures that a bench script wrote are shown, with the device and date they were
measured on, so the README never carries a number that no script produced.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.common import REPO, RESULTS

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _device(record: dict[str, Any]) -> str:
    dev = record.get("device")
    if isinstance(dev, dict):  # older records: {"cpu": ..., "cores": ...}
        return f"{dev.get('cpu', '?')} x{dev.get('cores', '?')}"
    return str(dev)


def _date(record: dict[str, Any]) -> str:
    return str(record.get("date_utc", "?"))[:10]


def ingest_rows(r: dict[str, Any]) -> list[str]:
    cold = r.get("seconds_cold_train_only", {})
    full = r.get("seconds_cold", {})
    warm = r.get("seconds_warm_all", r.get("seconds_warm", {}))
    med = lambda d: d.get("median") if isinstance(d, dict) else d  # noqa: E731
    return [
        f"| ingest: 611 phantom 1024 px training images, cold | {med(cold)} s (goal < 15 s: "
        f"{'met' if r.get('goal_met') else 'not met'}) | {_device(r)} | {_date(r)} | `{r.get('command')}` |",
        f"| ingest: all 997 images (train + test), cold | {med(full)} s | {_device(r)} | {_date(r)} | |",
        f"| ingest: re-run, nothing changed | {med(warm)} s | {_device(r)} | {_date(r)} | |",
    ]


def app_load_rows(name: str, r: dict[str, Any]) -> list[str]:
    res, cfg = r.get("results", {}), r.get("config", {})
    lat, inf = res.get("latency_s", {}), res.get("server_inference_s", {})
    return [f"| app under load ({name}): {cfg.get('clients')} concurrent clients x "
            f"{cfg.get('requests_per_client')} requests, {cfg.get('bundle_note', '')} | client latency p50 "
            f"{lat.get('p50')} s / p95 {lat.get('p95')} s (queue included); model time per image p50 "
            f"{inf.get('p50')} s / p95 {inf.get('p95')} s; {res.get('throughput_images_per_s')} images/s; "
            f"errors {res.get('errors')} | {_device(r)} | {_date(r)} | `{r.get('command')}` |"]


def default_run_rows(r: dict[str, Any]) -> list[str]:
    stages = ", ".join(f"{k} {v} s" for k, v in r.get("seconds_per_stage", {}).items())
    oof = "; ".join(f"{row.get('variant', row.get('name', '?'))} QWK {row.get('qwk', float('nan')):.3f}"
                    for row in r.get("oof_metrics", {}).get("rows", [])
                    if isinstance(row, dict) and isinstance(row.get("qwk"), (int, float)))
    return [f"| main job, README command (1) from cold (phantom data) | {r.get('seconds_total')} s total "
            f"(goal < 600 s: {'met' if r.get('goal_met') else 'not met'}); {stages}"
            + (f"; out-of-fold on phantoms: {oof}" if oof else "")
            + f" | {_device(r)} | {_date(r)} | `{r.get('command')}` |"]


def generic_rows(name: str, r: dict[str, Any]) -> list[str]:
    skip = {"benchmark", "command", "device", "date_utc", "environment", "config", "curve", "settings"}
    figures = {k: v for k, v in r.items() if k not in skip and isinstance(v, (int, float, str, bool))}
    text = ", ".join(f"{k} {v}" for k, v in list(figures.items())[:8])
    return [f"| {name} | {text} | {_device(r)} | {_date(r)} | `{r.get('command')}` |"]


def render(results_dir: Path = RESULTS) -> str:
    lines = ["| what | figure | device | date | command |", "|---|---|---|---|---|"]
    files = sorted(results_dir.glob("*.json"))
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        name = path.stem
        if name == "ingest":
            lines += ingest_rows(record)
        elif name == "pretrain_throughput":
            for setting, s in record.get("settings", {}).items():
                lines.append(
                    f"| pretraining throughput, {setting} | {s['real_pairs_per_s']} pairs/s real vs "
                    f"{s['ceiling_pairs_per_s']} ceiling (ratio {s['ratio']}) | {_device(record)} | "
                    f"{_date(record)} | `{record.get('command')}` |")
        elif name.startswith("app_load"):
            lines += app_load_rows(name, record)
        elif name == "default_run":
            lines += default_run_rows(record)
        else:
            lines += generic_rows(name, record)
    if not files:
        lines.append("| (no results yet) | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--print", action="store_true")
    args = parser.parse_args()
    table = render()
    if args.print:
        print(table)
        return
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")
    print(f"[bench] README results section updated from {len(list(RESULTS.glob('*.json')))} file(s)")


if __name__ == "__main__":
    main()
