"""The handheld in the browser: milliseconds from a decoded QR text to a decision, beside Python's.

`python -m benchmarks.handheld [--quick] [--output PATH]`. Headless Chromium (Debian's, driven by
Playwright) loads the staff page's verifier (app/api/web/static/js/verifier/): the signed trust
list, revocation list and delta, and the sample catalogue snapshot, checked against the pinned
root. Each decision is `verifyCode(text)` (strict base45 and CBOR, the issuer's signature with
WebCrypto, the device proof, revocations, the replay guard) then `Decider.decide(code, venue,
now)` at a park; Python does `Verifier.verify` then `Decider.decide` on the same codes, each side
with its own replay guard. Mixed codes: online, holder-bound and printed cards, ES256 and
Ed25519 issuers, random profiles, in turn.

Every decision is timed on its own (performance.now() in a cross-origin-isolated page, whose
clock has 5 µs steps rather than 100 µs; perf_counter_ns in Python, the collector paused), so
the median and the p95 are of single decisions. Each round runs both sides and both figures in
turn, after a warm-up round that is not counted; the ratio is taken in this run. The second
figure adds the explanation (`toJson()` / `to_json()`, every line in words), which the staff
page shows when asked why.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import gc
import http.server
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.support.handheld_cases import NOW, HandheldWorld, load_documents
from tests.support.handheld_decisions import JS_LOAD, sample_catalogue
from tests.support.pages import CHROMIUM, launch
from verifier.decide import Decider, Venue
from verifier.errors import VerificationError
from verifier.replay import InMemoryReplayGuard
from verifier.verify import Verifier

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "app" / "api" / "web" / "static"
DEFAULT_OUTPUT = ROOT / "var" / "bench" / "handheld.json"
TARGET_MS = 5.0
VENUE = Venue("sh-century-park", "park", 310000, "Pudong Greening Bureau")
AT = NOW + 1  # every code is made at NOW and decided one second later
KINDS = ("online", "holder", "card")
KEYS = ("es256", "ed25519")
FIGURES = {"decision": False, "decision with its explanation": True}  # name: with toJson() / to_json()

_DECIDE_JS = """async ([texts, venue, now, explain]) => {
  const v = window.__handheld.v;
  const dec = await import('/static/js/verifier/decide.js');
  const bench = window.__bench ??= {
    guard: new v.MemoryReplayGuard(),
    decider: new dec.Decider(window.__snapshots.sample),
  };
  const docs = window.__handheld.docs.main;
  const times = [];
  const results = {};
  for (const text of texts) {
    const t0 = performance.now();
    const r = await v.verifyCode(text, docs, bench.guard, now, venue.id);
    const d = r.ok ? bench.decider.decide(r.code, venue, now) : null;
    const answer = d === null ? r.reason : explain ? d.toJson().result : d.result;
    times.push(performance.now() - t0);
    results[answer] = (results[answer] || 0) + 1;
  }
  return {times, results, isolated: self.crossOriginIsolated};
}"""


class _IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with COOP/COEP, so that the page is cross-origin isolated (a 5 µs performance.now())."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}  # noqa: RUF012

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _static_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="suishen-bench-") as tmp:
        root = Path(tmp)
        (root / "index.html").write_text("<!doctype html><meta charset=utf-8><title>bench</title>")
        os.symlink(STATIC, root / "static")
        handler = functools.partial(_IsolatedHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


def mixed_codes(world: HandheldWorld, count: int) -> list[str]:
    """`count` distinct codes: online, holder-bound and card in turn, ES256 and Ed25519 issuers in turn."""
    out = []
    for i in range(count):
        key = world.keys[KEYS[i % 2]]
        kind = KINDS[(i // 2) % 3]
        if kind == "online":
            out.append(world.online(key, NOW))
        elif kind == "holder":
            out.append(world.holder(key, NOW))
        else:
            out.append(world.card(key, NOW))
    return out


def _python_round(
    verifier: Verifier, decider: Decider, texts: list[str], explain: bool
) -> tuple[list[float], dict[str, int]]:
    times: list[float] = []
    results: dict[str, int] = {}
    gc.collect()
    gc.disable()
    try:
        for text in texts:
            started = time.perf_counter_ns()
            try:
                decision = decider.decide(verifier.verify(text, AT, VENUE.id), VENUE, AT)
            except VerificationError as exc:
                result = exc.reason.value
            else:
                result = decision.to_json()["result"] if explain else decision.result
            times.append((time.perf_counter_ns() - started) / 1e6)
            results[result] = results.get(result, 0) + 1
    finally:
        gc.enable()
    return times, results


@dataclasses.dataclass
class _Samples:
    """One figure's single-decision times and result counts, both sides, over the counted rounds."""

    page: list[float] = dataclasses.field(default_factory=list)
    python: list[float] = dataclasses.field(default_factory=list)
    page_results: dict[str, int] = dataclasses.field(default_factory=dict)
    python_results: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(
        self, page: list[float], page_results: dict[str, int], python: list[float], results: dict[str, int]
    ) -> None:
        self.page += page
        self.python += python
        for mine, counts in ((self.page_results, page_results), (self.python_results, results)):
            for key, count in counts.items():
                mine[key] = mine.get(key, 0) + count


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
        "decisions": len(ordered),
    }


def handheld_suite(*, rounds: int = 6, per_round: int = 200) -> dict[str, Any]:
    """Decisions timed in Chromium and in Python over the same codes, rounds alternating; one warm-up round each."""
    from playwright.sync_api import sync_playwright

    world = HandheldWorld(seed=2027)
    docs = world.docsets["main"]
    catalogue = sample_catalogue()
    # fresh codes for every round of both figures, the warm-up round included
    batches = [[mixed_codes(world, per_round) for _ in range(rounds + 1)] for _ in FIGURES]
    verifier = Verifier(docs.store(), InMemoryReplayGuard(), revocations=docs.revocations())
    decider = Decider(catalogue.snapshot)
    figures: dict[str, dict[str, Any]] = {}
    with _static_server() as base, sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page()
            page.goto(base + "/")
            load_documents(page, [docs])
            assert page.evaluate(JS_LOAD, {catalogue.name: catalogue.for_page()}) == {}
            version = browser.version
            samples = {name: _Samples() for name in FIGURES}
            isolated = False
            for n in range(rounds + 1):  # round 0 warms up: JIT, WebCrypto key objects, the decider's memo
                for (name, explain), texts in zip(FIGURES.items(), batches, strict=True):
                    answer = page.evaluate(_DECIDE_JS, [texts[n], VENUE._asdict(), AT, explain])
                    times, results = _python_round(verifier, decider, texts[n], explain)
                    if n == 0:
                        continue
                    isolated = answer["isolated"]
                    samples[name].add(answer["times"], answer["results"], times, results)
            for name, kept in samples.items():
                browser_stats, python_stats = _stats(kept.page), _stats(kept.python)
                figures[name] = {
                    "browser": browser_stats,
                    "python": python_stats,
                    "ratio": browser_stats["median_ms"] / python_stats["median_ms"],
                    "ratio_p95": browser_stats["p95_ms"] / python_stats["p95_ms"],
                    "results_browser": kept.page_results,
                    "results_python": kept.python_results,
                    "timer_isolated": isolated,
                }
        finally:
            browser.close()
    best = figures["decision"]["browser"]
    return {
        "chromium": version,
        "venue": VENUE._asdict(),
        "rounds": rounds,
        "per_round": per_round,
        "mix": {"kinds": list(KINDS), "issuer_keys": list(KEYS)},
        "figures": figures,
        "target_ms": TARGET_MS,
        "target_met": best["p95_ms"] < TARGET_MS,
    }


def print_handheld(console: Console, result: dict[str, Any]) -> None:
    table = Table(title=f"Handheld: decoded text to decision, Chromium {result['chromium']} (headless) vs Python")
    for column in (
        "",
        "browser median ms",
        "browser p95 ms",
        "Python median ms",
        "Python p95 ms",
        "ratio",
        "decisions",
    ):
        table.add_column(column, justify="left" if not column else "right")
    for name, f in result["figures"].items():
        b, p = f["browser"], f["python"]
        table.add_row(
            name, f"{b['median_ms']:.3f}", f"{b['p95_ms']:.3f}", f"{p['median_ms']:.3f}", f"{p['p95_ms']:.3f}",
            f"{f['ratio']:.2f}x", f"{b['decisions']:,}",
        )  # fmt: skip
    console.print(table)
    decision = result["figures"]["decision"]
    agree = "the same results" if decision["results_browser"] == decision["results_python"] else "DIFFERENT results"
    console.print(
        f"  mixed codes ({', '.join(result['mix']['kinds'])}; {', '.join(result['mix']['issuer_keys'])} issuers) at "
        f"{result['venue']['id']}: {decision['results_browser']} in the page, {agree} in Python; every decision timed "
        f"alone{' (cross-origin-isolated clock, 5 µs steps)' if decision['timer_isolated'] else ''}.",
        style="dim",
    )
    met = "met" if result["target_met"] else "not met"
    console.print(
        f"ratio browser/Python (medians): {decision['ratio']:.2f}x; "
        f"target: under {result['target_ms']:.0f} ms per decision in the browser: {met} "
        f"(p95 {decision['browser']['p95_ms']:.3f} ms)"
    )


def _rounded(value: Any) -> Any:
    """Floats to 4 decimals, for a readable file."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.handheld", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two short rounds: a smoke run, not figures")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file (default {DEFAULT_OUTPUT})")
    args = parser.parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    if not CHROMIUM.exists():
        console.print(f"{CHROMIUM} is not installed: no browser to measure (make test installs it)")
        return 1
    started = time.perf_counter()
    with console.status("handheld: decisions in Chromium and in Python ..."):
        result = handheld_suite(rounds=2, per_round=60) if args.quick else handheld_suite()
    print_handheld(console, result)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["quick"] = args.quick
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(_rounded(result), indent=2) + "\n")
    console.print(f"wrote {args.output} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
