"""Putting a gate together from its settings, and running it over a stream of frames.

Decisions happen on the main thread; a background thread uploads the outbox and refreshes the
signed documents, and the main thread swaps in new documents between frames.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from keys.algorithms import PublicKey
from scanner_client.chain import DEFAULT_DEEP_EVERY, DecoderChain
from scanner_client.decoders import make_decoders
from scanner_client.display import Display
from scanner_client.documents import CATALOGUE, REVOCATIONS, TRUST_LIST, DocumentCache
from scanner_client.gate import Gate
from scanner_client.outbox import Outbox
from scanner_client.refresh import refresh
from scanner_client.replay_local import SqliteReplayGuard
from scanner_client.replay_shared import LayeredReplayGuard, RedisCache
from scanner_client.server import ServerClient
from scanner_client.sources import Frame
from scanner_client.uploader import Background, Uploader
from verifier.decide import Venue

DEFAULT_REFRESH_S = 300.0


@dataclass
class Settings:
    venue: Venue
    state: Path
    root: PublicKey
    server: str | None = None
    api_key: str | None = None
    redis: str | None = None
    decoders: str = "zxing"
    deep_every: int = DEFAULT_DEEP_EVERY
    power_safe: bool = False  # fsync each outbox write (power cuts), not only survive a killed process
    seed: dict[str, Path] = field(default_factory=dict)  # a document's label ("trust list", ...) → its file
    refresh_s: float = DEFAULT_REFRESH_S


@dataclass
class Parts:
    gate: Gate
    outbox: Outbox
    documents: DocumentCache
    client: ServerClient | None
    uploader: Uploader | None
    messages: list[str]


def build(settings: Settings) -> Parts:
    """The gate and its stores; DocumentError for a seed document that does not check out."""
    state = settings.state
    documents = DocumentCache(state / "documents", settings.root)
    messages = []
    for kind in (TRUST_LIST, CATALOGUE, REVOCATIONS):
        path = settings.seed.get(kind.label)
        if path is not None:
            version = documents.install(kind, path.read_bytes())
            messages.append(f"{kind.label} version {version} installed from {path}")
    client = ServerClient(settings.server, settings.api_key, timeout_s=3.0) if settings.server else None
    if client is not None:
        messages.extend(refresh(documents, client).messages)
    shared = RedisCache(settings.redis) if settings.redis else None
    replay = LayeredReplayGuard(SqliteReplayGuard(state / "replay.sqlite"), shared)
    outbox = Outbox(state / "outbox.sqlite", power_safe=settings.power_safe)
    chain = DecoderChain(make_decoders(settings.decoders), deep_every=settings.deep_every)
    gate = Gate(settings.venue, chain, documents, replay, outbox)
    messages.extend(gate.problems)
    uploader = Uploader(outbox, client) if client is not None else None
    return Parts(gate, outbox, documents, client, uploader, messages)


class Sync:
    """The background work: drain the outbox; refresh documents every `refresh_s`."""

    def __init__(self, parts: Parts, refresh_s: float) -> None:
        self.parts = parts
        self.refresh_s = refresh_s
        self.next_refresh = time.monotonic() + refresh_s
        self.documents_changed = threading.Event()
        self.messages: list[str] = []
        self._upload_error: str | None = None

    def tick(self) -> None:
        parts = self.parts
        uploader = parts.uploader
        if uploader is not None:
            uploader.drain(max_batches=10)
            if (uploader.last_error is None) != (self._upload_error is None):  # say so once per change
                waiting = parts.outbox.counts().pending
                self.messages.append(
                    f"uploads paused ({uploader.last_error}); {waiting} event(s) kept in the outbox"
                    if uploader.last_error
                    else "uploads resumed"
                )
            self._upload_error = uploader.last_error
        if parts.client is not None and time.monotonic() >= self.next_refresh:
            self.next_refresh = time.monotonic() + self.refresh_s
            result = refresh(parts.documents, parts.client)
            self.messages.extend(result.messages)
            if result.changed:
                self.documents_changed.set()


class SharedCacheWatch:
    """Says when the shared replay cache is lost and when it is back, once per change."""

    def __init__(self, replay: LayeredReplayGuard) -> None:
        self.replay = replay
        self.was_open = False

    def message(self) -> str | None:
        if self.replay.shared is None or self.replay.breaker.open == self.was_open:
            return None
        self.was_open = self.replay.breaker.open
        if self.was_open:
            return "shared replay cache unreachable: deciding from this gate's own cache (decisions marked degraded)"
        return "shared replay cache back"


def run(parts: Parts, frames: Iterator[Frame], display: Display, *, refresh_s: float = DEFAULT_REFRESH_S) -> None:
    for message in parts.messages:
        display.message(message)
    watch = SharedCacheWatch(parts.gate.replay)
    sync = Sync(parts, refresh_s)
    background = Background(sync.tick, period_s=1.0) if parts.client is not None else None
    if background is not None:
        background.start()
    try:
        for frame in frames:
            if sync.documents_changed.is_set():
                sync.documents_changed.clear()
                for problem in parts.gate.reload():
                    display.message(problem)
            while sync.messages:
                display.message(sync.messages.pop(0))
            if frame.image is None:
                display.message(f"{frame.label}: {frame.problem}")
                continue
            outcome = parts.gate.process(frame.image)
            for decision in outcome.decisions:
                display.show(decision)
            if (change := watch.message()) is not None:
                display.message(change)
            if not display.frame(frame.image):
                break
    finally:
        if background is not None:
            background.stop()
        if parts.uploader is not None:
            parts.uploader.drain(max_batches=20)
        display.message(summary(parts))


def summary(parts: Parts) -> str:
    c = parts.gate.counters
    results = ", ".join(f"{k.lower()} {v}" for k, v in sorted(c.by_result.items())) or "none"
    counts = parts.outbox.counts()
    return (
        f"{c.frames} frame(s), {c.decisions} decision(s) ({results}; {c.repeats} repeat(s), {c.degraded} degraded), "
        f"{c.not_sp1} non-SP1 code(s) ignored; outbox: {counts.pending} waiting, {counts.sent} sent"
        + (f", {counts.refused} refused by the server" if counts.refused else "")
    )
