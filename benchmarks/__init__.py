"""Benchmarks for Suishen Pass: `make bench` (or `.venv/bin/python -m benchmarks`).

Every figure is a median over interleaved batches timed with `time.perf_counter_ns`, after
warm-up, and every ratio is against a baseline measured in the same run. Benchmarks print
figures and write them to var/bench/results.json; they never assert on timing.
"""
