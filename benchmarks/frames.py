"""`python -m benchmarks.frames [--quick]`: camera frame to gate decision, beside the bare zxing-cpp decode.

Per resolution (640x480, 1280x720), on one core, interleaved rounds, per-frame median and p95:

- bare decode: `zxingcpp.read_barcodes(frame, formats=QRCode, try_invert=False)` on the same BGR frames
  (the library's plain QR pass; its default `try_invert=True` is timed too, for reference), and
  the same call on the frame already converted to gray (conversion not timed: the strictest baseline,
  since zxing-cpp's own BGR conversion is slower than the OpenCV conversion the gate does);
- bare verify: one ES256 signature verify (`cryptography`), the floor of any decision;
- gate, code frames: `Gate.process` on a frame holding a fresh online code: decoder chain,
  verify (SQLite replay cache on disk), decide against a signed catalogue, the event written to the
  outbox on disk as the gate runs it (WAL, survives a killed process); and the same with the
  power-safe outbox (`--power-safe`: fsync per decision), reported apart;
- gate, empty frames: `Gate.process` on frames with no code (the chain's rotating extra step
  every 4th empty frame included: it is what the p95 shows), and with those steps off (`--deep-every 0`).

Targets (DESIGN.md): code frame ≤ 1.5x (bare decode + bare verify); empty frame ≤ 1.2x bare decode.
Then the decode rate per decoder chain and per camera condition (tests/support/scenes.py).
Writes var/bench/frames.json. Figures are ratios within this run, never against stored numbers.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import zxingcpp
from rich.console import Console
from rich.table import Table

from benchmarks.world import bare_verify
from keys.revocation_list import RevocationList, list_payload, sign_revocation_list
from scanner_client.chain import DEFAULT_DEEP_EVERY, DecoderChain
from scanner_client.decoders import make_decoders
from scanner_client.documents import CATALOGUE, REVOCATIONS, TRUST_LIST, DocumentCache
from scanner_client.gate import Gate
from scanner_client.outbox import Outbox
from scanner_client.preprocess import to_gray
from scanner_client.replay_local import SqliteReplayGuard
from scanner_client.replay_shared import LayeredReplayGuard
from tests.support.gates import PARK, park_policy
from tests.support.scenes import CONDITIONS, make_frame
from tests.support.world import NOW, make_world
from verifier.catalogue import build_snapshot

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "var" / "bench" / "frames.json"
SIZES = ((640, 480), (1280, 720))
TARGET_CODE = 1.5
TARGET_EMPTY = 1.2
CHAINS = (  # (label, decoders, full): full = every step on every frame, as `decode --images` does
    ("zxing plain pass", "zxing", False),
    ("zxing + screen steps", "zxing", True),
    ("zxing + screen steps + pyzbar", "zxing,pyzbar", True),
    ("zxing + screen steps + pyzbar + opencv", "zxing,pyzbar,opencv", True),
    ("pyzbar alone", "pyzbar", False),
    ("opencv alone", "opencv", False),
)

Frames = list[np.ndarray]


def one_core() -> None:
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def per_frame(run: Callable[[np.ndarray], object], frames: Frames) -> list[float]:
    """Milliseconds of `run(frame)` for each frame, the garbage collector paused (as timeit does)."""
    out = []
    gc.collect()
    gc.disable()
    try:
        for frame in frames:
            t0 = time.perf_counter_ns()
            run(frame)
            out.append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        gc.enable()
    return out


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 4),
        "mean_ms": round(statistics.fmean(ordered), 4),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 4),
        "frames": len(ordered),
    }


def make_gate(folder: Path, world: Any, *, power_safe: bool, deep_every: int = DEFAULT_DEEP_EVERY) -> Gate:
    documents = DocumentCache(folder / "documents", world.root_key.public_key())
    documents.install(TRUST_LIST, world.trust_document)
    documents.install(CATALOGUE, build_snapshot([park_policy()], world.root_key, version=1, issued_at=NOW))
    nothing_revoked = RevocationList(1, NOW, 7 * 86400)  # a gate always holds one: its check is in the figures
    documents.install(REVOCATIONS, sign_revocation_list(list_payload(nothing_revoked), world.root_key))
    replay = LayeredReplayGuard(SqliteReplayGuard(folder / "replay.sqlite"), None)
    outbox = Outbox(folder / "outbox.sqlite", power_safe=power_safe)
    chain = DecoderChain(make_decoders("zxing"), deep_every=deep_every)
    return Gate(PARK, chain, documents, replay, outbox, clock=lambda: NOW + 1)


def timing_suite(world: Any, width: int, height: int, rounds: int, per_round: int, folder: Path) -> dict[str, Any]:
    rng = random.Random(f"bench-{width}")
    code_frames = [make_frame(world.online(), width, height, rng, "plain") for _ in range((rounds + 1) * per_round)]
    empty_frames = [make_frame("", width, height, rng, "empty") for _ in range(per_round)]
    gates = {"memory": make_gate(folder / f"m{width}", world, power_safe=False),
             "durable": make_gate(folder / f"d{width}", world, power_safe=True),
             "shallow": make_gate(folder / f"s{width}", world, power_safe=False, deep_every=0)}  # fmt: skip
    verify_batch = bare_verify(world.issuer_key)
    fmt: Any = zxingcpp.BarcodeFormat.QRCode
    samples: dict[str, list[float]] = {k: [] for k in (
        "bare decode (code)", "bare decode, library defaults (code)", "bare decode of the gray frame (code)",
        "bare verify",
        "gate (code)", "gate, power-safe outbox (code)",
        "bare decode (empty)", "bare decode, library defaults (empty)", "bare decode of the gray frame (empty)",
        "gate (empty)", "gate (empty), --deep-every 0",
    )}  # fmt: skip
    empty_gray = [to_gray(f) for f in empty_frames]
    fresh = iter(range(len(code_frames)))

    def gate_run(gate: Gate) -> Callable[[np.ndarray], object]:
        def run(frame: np.ndarray) -> object:
            outcome = gate.process(frame)
            assert outcome.decisions and outcome.decisions[0].result == "GRANTED", outcome
            return outcome

        return run

    def bare(frame: np.ndarray) -> object:
        return zxingcpp.read_barcodes(frame, formats=fmt, try_invert=False)

    def bare_default(frame: np.ndarray) -> object:
        return zxingcpp.read_barcodes(frame, formats=fmt)

    def verify_ms(n: int) -> list[float]:
        return [verify_batch(n) / n / 1e6]  # per-verify mean of the batch (µs-scale: per-call timer noise)

    for round_index in range(rounds + 1):
        batch = [code_frames[next(fresh)] for _ in range(per_round)]
        cases: list[tuple[str, Callable[[], list[float]]]] = [
            ("bare decode (code)", functools.partial(per_frame, bare, batch)),
            ("bare decode, library defaults (code)", functools.partial(per_frame, bare_default, batch)),
            ("bare decode of the gray frame (code)", functools.partial(per_frame, bare, [to_gray(f) for f in batch])),
            ("bare verify", lambda: verify_ms(50)),
            ("gate (code)", functools.partial(per_frame, gate_run(gates["memory"]), batch)),
            ("gate, power-safe outbox (code)", functools.partial(per_frame, gate_run(gates["durable"]), batch)),
            ("bare decode (empty)", lambda: per_frame(bare, empty_frames)),
            ("bare decode, library defaults (empty)", lambda: per_frame(bare_default, empty_frames)),
            ("bare decode of the gray frame (empty)", lambda: per_frame(bare, empty_gray)),
            ("gate (empty)", functools.partial(per_frame, gates["memory"].process, empty_frames)),
            ("gate (empty), --deep-every 0", functools.partial(per_frame, gates["shallow"].process, empty_frames)),
        ]
        shift = round_index % len(cases)
        for name, case in cases[shift:] + cases[:shift]:
            result = case()
            if round_index:  # the first round warms up
                samples[name].extend(result)
        for gate in gates.values():
            gate.dedup.sweep(float("inf"))  # every frame in the next round is a new sighting
    stats = {name: summary(values) for name, values in samples.items()}
    decode, verify = stats["bare decode (code)"]["median_ms"], stats["bare verify"]["median_ms"]
    empty = stats["bare decode (empty)"]["median_ms"]
    gray, empty_gray_ms = (stats[f"bare decode of the gray frame ({k})"]["median_ms"] for k in ("code", "empty"))
    for gate in gates.values():
        gate.outbox.close()
    return {
        "size": f"{width}x{height}",
        "stats": stats,
        "code_ratio": stats["gate (code)"]["median_ms"] / (decode + verify),
        "code_ratio_durable": stats["gate, power-safe outbox (code)"]["median_ms"] / (decode + verify),
        "code_ratio_p95": stats["gate (code)"]["p95_ms"] / (stats["bare decode (code)"]["p95_ms"] + verify),
        "code_ratio_vs_gray": stats["gate (code)"]["median_ms"] / (gray + verify),
        "empty_ratio": stats["gate (empty)"]["median_ms"] / empty,
        "empty_ratio_vs_gray": stats["gate (empty)"]["median_ms"] / empty_gray_ms,
        "empty_ratio_p95": stats["gate (empty)"]["p95_ms"] / stats["bare decode (empty)"]["p95_ms"],
        "empty_ratio_mean": stats["gate (empty)"]["mean_ms"] / stats["bare decode (empty)"]["mean_ms"],
    }


def rate_suite(world: Any, per_condition: int) -> dict[str, Any]:
    texts = [world.online() for _ in range(per_condition)]
    frames = {c: [make_frame(t, 640, 480, random.Random(f"rate-{c}-{i}"), c) for i, t in enumerate(texts)]
              for c in CONDITIONS}  # fmt: skip
    empty = [make_frame("", 640, 480, random.Random(f"rate-empty-{i}"), "empty") for i in range(per_condition)]
    out: dict[str, Any] = {}
    for label, decoders, full in CHAINS:
        rates: dict[str, float] = {}
        ms: list[float] = []
        for condition, shots in frames.items():
            read = 0
            for text, frame in zip(texts, shots, strict=True):
                chain = DecoderChain(make_decoders(decoders), deep_every=0)
                result = chain.read_all(frame) if full else chain.read(frame)
                read += any(r.text == text for r in result.reads)
                ms.append(result.ms)
            rates[condition] = read / len(texts)
        chain = DecoderChain(make_decoders(decoders), deep_every=0)
        empty_ms = [(chain.read_all(f) if full else chain.read(f)).ms for f in empty]
        out[label] = {
            "decoders": decoders,
            "every_step": full,
            "rates": rates,
            "overall": sum(rates.values()) / len(rates),
            "code_frame_ms_median": round(statistics.median(ms), 3),
            "empty_frame_ms_median": round(statistics.median(empty_ms), 3),
        }
    out[HELD] = held_suite(texts, frames)
    return out


HELD = "gate loop (zxing), code held 30 frames"


def held_suite(texts: list[str], frames: dict[str, Frames]) -> dict[str, Any]:
    """The default chain as the gate runs it: a code held up for 30 frames; read within them, and after how many."""
    rates: dict[str, float] = {}
    needed: dict[str, list[int]] = {}
    for condition, shots in frames.items():
        needed[condition] = []
        for text, frame in zip(texts, shots, strict=True):
            chain = DecoderChain(make_decoders("zxing"))
            for i in range(30):
                if any(r.text == text for r in chain.read(frame).reads):
                    needed[condition].append(i + 1)
                    break
        rates[condition] = len(needed[condition]) / len(texts)
    return {
        "decoders": "zxing",
        "every_step": False,
        "rates": rates,
        "overall": sum(rates.values()) / len(rates),
        "frames_to_read_median": {c: statistics.median(v) if v else None for c, v in needed.items()},
        "code_frame_ms_median": None,
        "empty_frame_ms_median": None,
    }


def print_report(console: Console, timing: list[dict[str, Any]], rates: dict[str, Any], command: str) -> None:
    table = Table(title="Frame to decision, one core (per-frame ms; ratios of medians)")
    for column in ("size", "step", "median ms", "mean ms", "p95 ms", "ratio", "target", ""):
        table.add_column(column)
    for t in timing:
        s = t["stats"]
        for name in s:
            ratio = target = met = ""
            if name == "gate (code)":
                ratio = f"{t['code_ratio']:.2f}x (decode + verify); {t['code_ratio_vs_gray']:.2f}x gray"
                target = f"<= {TARGET_CODE}x"
                met = "met" if t["code_ratio"] <= TARGET_CODE else "not met"
            elif name == "gate, power-safe outbox (code)":
                ratio = f"{t['code_ratio_durable']:.2f}x (decode + verify)"
            elif name == "gate (empty), --deep-every 0":
                ratio = f"{s[name]['median_ms'] / s['bare decode (empty)']['median_ms']:.2f}x bare decode"
            elif name == "gate (empty)":
                ratio = f"{t['empty_ratio']:.2f}x bare decode; {t['empty_ratio_vs_gray']:.2f}x gray"
                target = f"<= {TARGET_EMPTY}x"
                met = "met" if t["empty_ratio"] <= TARGET_EMPTY else "not met"
            median, mean, p95 = (f"{s[name][k]:.3f}" for k in ("median_ms", "mean_ms", "p95_ms"))
            table.add_row(t["size"], name, median, mean, p95, ratio, target, met)
    console.print(table)
    conditions = list(next(iter(rates.values()))["rates"])
    rate_table = Table(title="Decode rate per chain and condition (640x480, our own codes)")
    rate_table.add_column("chain")
    for c in conditions:
        rate_table.add_column(c.replace("_", " "))
    rate_table.add_column("all")
    rate_table.add_column("ms code / empty")
    for label, r in rates.items():
        cells = [f"{r['rates'][c]:.0%}" for c in conditions]
        timing_cell = "-" if label == HELD else f"{r['code_frame_ms_median']:.1f} / {r['empty_frame_ms_median']:.1f}"
        rate_table.add_row(label, *cells, f"{r['overall']:.0%}", timing_cell)
    console.print(rate_table)
    held = rates[HELD]["frames_to_read_median"]
    console.print(
        "  gate loop: frames until read, median: "
        + ", ".join(f"{c.replace('_', ' ')} {n:g}" for c, n in held.items() if n is not None and n > 1)
        + " (1 for the rest); the screen steps run after a located symbol or on every 4th empty frame",
        style="dim",
    )
    console.print(f"command: {command}", style="dim")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.frames", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few rounds, rough figures")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    one_core()
    rounds, per_round, per_condition = (3, 5, 6) if args.quick else (15, 10, 20)
    console = Console() if sys.stdout.isatty() else Console(width=170)
    world = make_world()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="suishen-frames-") as tmp:
        timing = []
        for width, height in SIZES:
            with console.status(f"timing {width}x{height} ..."):
                timing.append(timing_suite(world, width, height, rounds, per_round, Path(tmp)))
    with console.status("decode rates ..."):
        rates = rate_suite(world, per_condition)
    command = ".venv/bin/python -m benchmarks.frames" + (" --quick" if args.quick else "")
    print_report(console, timing, rates, command)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "command": command,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.perf_counter() - started, 1),
        "versions": {"zxing-cpp": version("zxing-cpp"), "opencv": cv2.__version__},
        "targets": {"code_frame": TARGET_CODE, "empty_frame": TARGET_EMPTY},
        "timing": timing,
        "decode_rates": rates,
    }
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    console.print(f"written to {args.output} in {result['seconds']} s", style="dim")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
