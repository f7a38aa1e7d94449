"""Benchmarks: each script writes bench/results/<name>.json (command, device, versions, date)."""
