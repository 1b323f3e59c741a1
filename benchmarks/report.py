"""Printing the figures as rich tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.suites import Plan
from verifier.verify import HOLDER_BOUND

KIND_LABEL = {"online": "online", HOLDER_BOUND: "holder-bound"}


def _met(ok: bool) -> str:
    return "[green]met[/]" if ok else "[red]not met[/]"


def print_meta(console: Console, meta: dict[str, Any], plan: Plan) -> None:
    console.print(
        f"[bold]Suishen Pass benchmarks[/] at {meta['commit'] or 'unknown commit'}  "
        f"Python {meta['python']}  cryptography {meta['cryptography']} "
        f"({meta['openssl']})  cbor2 {meta['cbor2']}  qrcode {meta['qrcode']}"
    )
    console.print(
        f"{meta['cpu']}, {meta['cpus']} CPUs; one process, one thread. Medians over {plan.rounds} interleaved "
        f"rounds after {plan.warmup} warm-up rounds; each batch runs many operations (perf_counter_ns)."
    )


def print_verify(console: Console, results: list[dict[str, Any]], plan: Plan) -> None:
    table = Table(title="1. Verifier.verify (fresh code each call, real replay guard) vs the bare verifies it needs")
    for column in ("issuer key", "code", "verify µs", "bare verifies", "bare µs", "ratio", "ratio IQR", "target"):
        table.add_column(column, justify="right" if column not in ("issuer key", "code", "bare verifies") else "left")
    table.add_column("")
    for r in results:
        low, high = r["ratio_per_round_p25_p75"]
        table.add_row(
            r["alg"],
            KIND_LABEL[r["kind"]],
            f"{r['verify_us']:.1f}",
            r["bare_needed"],
            f"{r['bare_us']:.1f}",
            f"{r['ratio']:.3f}x",
            f"{low:.3f}-{high:.3f}",
            f"<= {r['target_ratio']}x",
            _met(r["met"]),
        )
    console.print(table)
    console.print(
        f"  bare ES256 = public_key.verify(DER signature, 100-byte message, ECDSA(SHA256)); bare Ed25519 = "
        f"public_key.verify(sig, message). {plan.n_signature} operations per batch; ratio = median verify / sum "
        "of median bare verifies; IQR over per-round ratios.",
        style="dim",
    )


def print_sizes(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="2. Code sizes (CBOR bytes inside base45; QR version in alphanumeric mode at ECC M)")
    for column in ("issuer key", "code", "profile"):
        table.add_column(column)
    for column in ("CBOR B", "credential B", "claims B", "proof B", "text chars", "QR version", "target"):
        table.add_column(column, justify="right")
    table.add_column("bytes")
    table.add_column("version")
    for r in rows:
        table.add_row(
            r["alg"],
            KIND_LABEL[r["kind"]],
            r["profile"],
            str(r["cbor_bytes"]),
            str(r["credential_bytes"]),
            str(r["claims_bytes"]),
            str(r["proof_bytes"]) if r["proof_bytes"] else "-",
            str(r["text_length"]),
            str(r["qr_version_m"]),
            f"<= {r['target_bytes']} B, v{r['target_version']}",
            _met(r["bytes_met"]),
            _met(r["version_met"]),
        )
    console.print(table)
    limits = sorted({(r["target_version"], r["largest_cbor_for_target_version"]) for r in rows})
    console.print(
        "  credential = COSE_Sign1 (tag, protected header with alg and 8-byte kid, claims, 64-byte signature); "
        "the code adds a 1-byte array head. Largest CBOR that fits with the SP1: prefix: "
        + ", ".join(f"v{v}: {n} B" for v, n in limits)
        + ".",
        style="dim",
    )


def print_issuance(console: Console, results: list[dict[str, Any]]) -> None:
    table = Table(title="3. Issuing, one process on one core (Issuer.credential + online_code; PNG into io.BytesIO)")
    table.add_column("issuer key")
    table.add_column("what")
    for column in ("µs per code", "codes/s per core", "x bare sign"):
        table.add_column(column, justify="right")
    for result in results:
        for row in result["rows"]:
            table.add_row(
                result["alg"],
                row["what"],
                f"{row['us_per_code']:.1f}",
                f"{row['per_second_per_core']:,.0f}",
                f"{row['x_bare_sign']:.2f}x",
            )
    console.print(table)


def print_breakdown(console: Console, results: list[dict[str, Any]]) -> None:
    table = Table(title="4. Where verify time goes (median µs per call)")
    steps = {
        "parse_code": "parse_code",
        "base45 decode": "of which base45",
        "issuer signature check": "issuer sig",
        "decode_claims": "decode_claims",
        "device signature check": "device sig",
    }
    table.add_column("issuer")
    table.add_column("code")
    table.add_column("timed")
    for column in (*steps.values(), "rest", "verify", "bare issuer", "bare device"):
        table.add_column(column, justify="right")
    for r in results:
        for label, key in (("in sequence", "steps_in_sequence"), ("isolated", "steps_isolated")):
            cells = [f"{r[key][step]['median_us']:.2f}" if step in r[key] else "-" for step in steps]
            tail = ["-"] * 4
            if key == "steps_in_sequence":
                bare = r["bare"]
                tail = [
                    f"{r['rest_us']:.2f}",
                    f"{r['verify_us']:.2f}",
                    f"{bare['bare issuer verify']['median_us']:.2f}",
                    f"{bare['bare ES256 verify (device)']['median_us']:.2f}" if r["kind"] == HOLDER_BOUND else "-",
                ]
            table.add_row(r["alg"], KIND_LABEL[r["kind"]], label, *cells, *tail)
        table.add_section()
    console.print(table)
    console.print(
        "  in sequence: fresh codes taken through verify's steps in verify's order, each step timed on its own "
        "(the device key a new object just decoded from the claims, as in verify); base45 is re-timed right after "
        "parse_code, which already includes it. isolated: each step alone in a tight loop over 64 codes (warmer "
        "caches, lower figures). sig = cose.check_signature (Sig_structure, r||s to DER, verify). rest = verify - "
        "parse_code - sigs - decode_claims (in sequence): trust lookup, key window, rules, proof body, replay guard.",
        style="dim",
    )
