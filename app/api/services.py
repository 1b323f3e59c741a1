"""Everything a server process holds: database, keys, trust list, catalogue, verifier, limits.

Built once at start-up from `Settings`. The catalogue and trust list in force are swapped as a
whole (one attribute assignment) when a new version is published here or in another process,
so a request sees either the old or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app import catalogue_admin
from app.api.auth import Authenticators, DeviceKeys, TokenAuthority
from app.api.metrics import Metrics, StateCollector
from app.api.shared_state import RateLimiter, RedisLink, SharedReplayGuard, UpdateChannel
from app.api.sole_process import SoleProcessLock
from app.catalogue import Catalogue
from app.db.engine import open_database
from app.issuing import Issuer, day_pseudonym
from app.private_files import private_dir, tighten
from app.revocations import HeldRevocations, publish_requests
from app.settings import Settings
from keys import directory
from keys.algorithms import PrivateKey, PublicKey
from keys.errors import SuishenError
from keys.partners import merged_trust_list
from keys.ring import KeyRingError
from keys.storage import passphrase_from_environment, read_private_key
from keys.trust_list import load_trust_list
from verifier.catalogue import Snapshot, load_snapshot
from verifier.claims import group_key
from verifier.decide import LOCAL_OFFSET_S, Decider, Decision, Venue
from verifier.trust import TrustStore
from verifier.verify import VerifiedCode, Verifier

log = logging.getLogger("suishen.services")


class NoActiveKey(SuishenError, RuntimeError):
    """Every issuer key is revoked or retired: nothing may be signed until the ring is rotated."""


CHECK_EVERY_S = 2.0
JSON_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # as Starlette's JSONResponse; made once


class VenueInfo(NamedTuple):
    venue: Venue
    name: dict[str, str]


class _Explained(NamedTuple):
    """A decision's JSON, explanation included, as made for an earlier holder of the same groups."""

    json: dict[str, Any]
    limited: bool

    def to_json(self) -> dict[str, Any]:
        return self.json


class ExplainedDecider:
    """The decider for the HTTP verify, which answers every decision with its explanation.

    Explaining (every candidate policy, clause by clause, in words) costs more than verifying the
    code. But with no per-holder usage ledger, a decision and its explanation depend only on the
    holder's groups, the issuer, the venue and the local minute, never on who the holder is: so
    each combination is explained once and its JSON reused (the decider itself remembers
    eligibility the same way).
    """

    MEMO_SIZE = 65536

    def __init__(self, decider: Decider) -> None:
        self.decider = decider
        self._memo: dict[tuple[Any, ...], _Explained] = {}
        self._encoded: dict[int, tuple[dict[str, Any], bytes]] = {}  # id(json) -> (json, its JSON text)

    def encoded(self, json_dict: Any) -> bytes | None:
        """The JSON text of a decision this decider remembers (the same object), else None."""
        held = self._encoded.get(id(json_dict))
        return held[1] if held is not None and held[0] is json_dict else None

    def decide(self, code: VerifiedCode, venue: Venue, now: float) -> Decision | _Explained:
        decision = self.decider.decide(code, venue, now)
        if self.decider.usage is not None or decision.code is None or decision.card_number is not None:
            return decision  # per-holder counts, a stale catalogue / no policy, or a card (its line names it)
        minute = (int(now) + LOCAL_OFFSET_S) // 60
        privileges = tuple(p.policy_id for p in decision.privileges)
        key = (venue, minute, code.issuer, group_key(code.profile), decision.result, decision.reason, privileges)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
                self._encoded.clear()
            found = self._memo[key] = _Explained(decision.to_json(), decision.limited)
            self._encoded[id(found.json)] = (found.json, JSON_TEXT.encode(found.json).encode())
        return found


class Catalogued(NamedTuple):
    """The catalogue in force: its signed document, ETag, parsed snapshot and decider."""

    version: int
    document: bytes
    etag: str
    snapshot: Snapshot
    decider: ExplainedDecider


class Trusted(NamedTuple):
    """The trust list in force (issuer keys with their status: a revoked key is listed as revoked)."""

    document: bytes
    etag: str
    store: TrustStore


def etag_of(document: bytes) -> str:
    return '"' + hashlib.sha256(document).hexdigest()[:32] + '"'


def read_venues(path: Path) -> dict[str, VenueInfo]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    venues: dict[str, VenueInfo] = {}
    for item in raw["venues"]:
        venue = Venue(item["id"], item["type"], int(item.get("region", 310000)), str(item.get("operator", "")))
        venues[venue.id] = VenueInfo(venue, dict(item.get("name", {"zh": venue.id, "en": venue.id})))
    return venues


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        tighten(private_dir(settings.data_dir))  # personal data: 0700/0600, also what older versions left open
        self.engine = open_database(settings.sqlalchemy_url)
        self.passphrase = passphrase_from_environment()
        self._ring_stamp = self._ring_file_stamp()
        self.ring_generation = 0
        self.issuer_base: Issuer | None = self._load_issuer()
        self.root_key: PrivateKey = read_private_key(settings.keys_dir / directory.ROOT_KEY_FILE, self.passphrase)
        self.root_public: PublicKey = directory.root_public_key(settings.keys_dir)
        self.pepper = settings.secret("subject-pepper", settings.subject_pepper)
        self.tokens = TokenAuthority(settings.secret("token", settings.token_secret), settings.token_life_s)
        admin_key = settings.admin_key
        self.demo_admin_key: str | None = None
        if admin_key is None and settings.demo:
            admin_key = self.demo_admin_key = "sk_" + settings.secret("admin-key", None).decode()
        self.devices = DeviceKeys(self.engine, admin_key)
        self.auth = Authenticators(self.tokens, self.devices)
        self.venues = read_venues(settings.venues_file)
        url = settings.redis_url
        self.link = RedisLink(url, settings.redis_timeout_s, settings.redis_retry_s) if url else None
        self.sole = SoleProcessLock(self.engine) if self.link is None else None  # raises AnotherProcess
        self.replay = SharedReplayGuard(self.link)
        self.limiter = RateLimiter(self.link)
        self.metrics = Metrics()
        self.answers: dict[str, tuple[float, Any]] = {}  # slow public answers kept briefly: (expires, answer)
        self._decision_counters: dict[tuple[str, str], Any] = {}
        self.updates = UpdateChannel(self.link)
        self._base: Catalogue | None = None
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self.trusted = self._load_trust(int(time.time()))
        self.revocations = HeldRevocations(self.engine, self.root_key, settings.revocation_list_max_age_s)
        self.revocations.catch_up(time.time())
        self.verifier = Verifier(self.trusted.store, self.replay, revocations=self.revocations.list)
        self.catalogued = self._load_catalogue(int(time.time()))
        self.issuer = self._carrying(self.issuer_base, self.catalogued.snapshot)
        self._stop = threading.Event()
        self.metrics.registry.register(StateCollector(self.state_gauges))
        self.updates.listen(self._on_update, self._stop)
        threading.Thread(target=self._keep_revocations, name="suishen-revocations", daemon=True).start()
        if self.link is not None:
            threading.Thread(target=self._keep_redis_filled, name="suishen-replay-refill", daemon=True).start()
        if settings.notify_webhook_url:
            threading.Thread(target=self._keep_delivering, name="suishen-deliveries", daemon=True).start()

    def _keep_delivering(self) -> None:
        """Every `notify_every_s`: notices and renewal reminders to the SMS/push gateway (app.matching.delivery).

        Each server process runs one; the rows' leases keep two from posting the same notice."""
        from app.matching.delivery import WebhookGateway, run_once

        url = self.settings.notify_webhook_url
        assert url is not None
        gateway = WebhookGateway(url, self.settings.secret("notify-webhook", self.settings.notify_webhook_secret))
        try:
            while not self._stop.wait(self.settings.notify_every_s):
                try:
                    run_once(self.engine, gateway, self.catalogued.snapshot.policies)
                except Exception:  # the database away for a moment: the next round tries again
                    log.exception("delivering notices failed")
        finally:
            gateway.close()

    def _keep_redis_filled(self) -> None:
        """Every 2 s: a Redis that came back empty gets this process's live replay keys again."""
        while not self._stop.wait(CHECK_EVERY_S):
            try:
                self.replay.refill_if_emptied(time.time())
            except Exception:  # a bug here must not end the thread; the next round tries again
                log.exception("replay refill failed")

    # -- revocation list ------------------------------------------------------------------------
    def _keep_revocations(self) -> None:
        """Every 2 s: publish the subject revocations a matching run asked for, and catch up the list."""
        while not self._stop.wait(CHECK_EVERY_S):
            try:
                self.catch_up_revocations(publish=True)
            except SQLAlchemyError as exc:  # the list held stays in force; the next round tries again
                log.warning("revocation list version %d stays: %s", self.revocations.list.version, type(exc).__name__)
            except Exception:  # a bug here must not end the thread
                log.exception("revocation list catch-up failed")

    def catch_up_revocations(self, *, publish: bool = False) -> None:
        """Bring this process's revocation list (its verifier's) to the database's version.

        A new entry reaches every process's verifier at once through the updates channel
        (`revoked`), and within 2 s (CHECK_EVERY_S, `_keep_revocations`) when the push is lost or
        there is no Redis. With `publish`, waiting matching-run requests are published first.
        """
        now = time.time()
        if publish and publish_requests(self.engine, self.pepper, now) is not None:
            self.updates.publish("revocations:requests")
        self.revocations.catch_up(now)

    def revoked(self, version: int) -> int:
        """After entries were added here: this process holds them now, the others are told."""
        self.revocations.catch_up(time.time())
        self.updates.publish(f"revocations:{version}")
        return version

    def decision_counter(self, outcome: str, reason: str) -> Any:
        """The decisions counter's child for (outcome, reason), looked up once: labels() is slow per call."""
        child = self._decision_counters.get((outcome, reason))
        if child is None:
            child = self._decision_counters[(outcome, reason)] = self.metrics.decisions.labels(outcome, reason)
        return child

    # -- subjects -------------------------------------------------------------------------------
    def pseudonym(self, subject: str, at: float) -> bytes:
        """The keyed hash a code issued at `at` carries instead of the subject: one per local day."""
        return day_pseudonym(self.pepper, subject, at)

    def log_id(self, subject: str) -> str:
        """A stable keyed hash for logs and the admin's lists: it never appears in a code."""
        return hmac.new(self.pepper, b"log-id\x00" + subject.encode(), hashlib.sha256).digest()[:8].hex()

    # -- issuer keys ----------------------------------------------------------------------------
    def _ring_file_stamp(self) -> tuple[int, int]:
        """When and how big ring.json is: a cheap stat, so every process notices a rotate or revoke in 2 s."""
        stat = (self.settings.keys_dir / directory.RING_FILE).stat()
        return stat.st_mtime_ns, stat.st_size

    def _load_issuer(self) -> Issuer | None:
        """The issuer with the ring's active key, or None when the ring has none (every key revoked)."""
        ring = directory.load_ring(self.settings.keys_dir)
        self.ring_generation = ring.generation
        try:
            entry, issuer_key = directory.signing_key(self.settings.keys_dir, self.passphrase)
        except KeyRingError:
            log.error("the key ring has no active key: codes cannot be issued until `suishen keys rotate`")
            return None
        return Issuer(ring.issuer, entry, issuer_key)

    @staticmethod
    def _carrying(issuer: Issuer | None, snapshot: Snapshot) -> Issuer | None:
        return issuer.carrying(frozenset(snapshot.scan_attributes())) if issuer is not None else None

    def signing_issuer(self) -> Issuer:
        """The issuer to sign with now: never a key the ring no longer holds active."""
        self.refresh()
        issuer = self.issuer
        if issuer is None:
            raise NoActiveKey("no active issuer key: an administrator must rotate the key ring")
        return issuer

    def reload_keys(self, publish: bool = False) -> None:
        """Read the ring again (a rotate or revoke here, in another process or by `suishen keys`): new
        signing key, and a trust list and revocations that say so. `publish` tells the other processes."""
        with self._lock:
            self._ring_stamp = self._ring_file_stamp()
            self.issuer_base = self._load_issuer()
            self.issuer = self._carrying(self.issuer_base, self.catalogued.snapshot)
        self.reload_trust()
        log.info("key ring generation %d in force", self.ring_generation)
        if publish:
            self.updates.publish(f"keys:{self.ring_generation}")

    def revoke_issuer_key(self, kid: bytes) -> int:
        directory.revoke(self.settings.keys_dir, kid)
        self.reload_keys(publish=True)
        return self.ring_generation

    def rotate_issuer_key(self) -> int:
        """A new signing key; the old one stays verifiable a day, or until the last active card it signed expires."""
        from app.cards import latest_card_expiry

        keys_dir = self.settings.keys_dir
        keep_until = latest_card_expiry(self.engine, directory.load_ring(keys_dir).active().kid)
        directory.rotate(keys_dir, passphrase=self.passphrase, now=int(time.time()), keep_until=keep_until)
        self.reload_keys(publish=True)
        return self.ring_generation

    # -- trust list -----------------------------------------------------------------------------
    def _load_trust(self, now: int) -> Trusted:
        document = self.trust_document(now)
        trust_list = load_trust_list(document, self.root_public, now)
        return Trusted(document, etag_of(document), TrustStore(trust_list))

    def trust_document(self, now: int) -> bytes:
        """Our issuers' keys, plus partner regions' when any are registered, signed by our root."""
        return merged_trust_list(
            self.settings.keys_dir, now=now, passphrase=self.passphrase, max_age=self.settings.trust_list_max_age_s
        )

    def reload_trust(self) -> None:
        with self._lock:
            self.trusted = self._load_trust(int(time.time()))
            self.verifier = Verifier(self.trusted.store, self.replay, revocations=self.revocations.list)

    # -- catalogue ------------------------------------------------------------------------------
    @property
    def base_catalogue(self) -> Catalogue:
        if self._base is None:
            self._base = catalogue_admin.base_catalogue(self.settings.catalogue_dir)
        return self._base

    def _load_catalogue(self, now: int) -> Catalogued:
        held = catalogue_admin.latest_snapshot(self.engine)
        if held is None:
            with contextlib.suppress(IntegrityError):  # another process may publish version 1 at the same moment
                catalogue_admin.publish(
                    self.engine, self.base_catalogue, self.root_key, "start-up", now, self.settings.catalogue_max_age_s
                )
            held = catalogue_admin.latest_snapshot(self.engine)
            assert held is not None
        version, document = held
        snapshot = load_snapshot(document, self.root_public)
        return Catalogued(version, document, etag_of(document), snapshot, ExplainedDecider(Decider(snapshot)))

    def publish_catalogue(self, by: str) -> int:
        now = int(time.time())
        version, _ = catalogue_admin.publish(
            self.engine, self.base_catalogue, self.root_key, by, now, self.settings.catalogue_max_age_s
        )
        self._swap_catalogue()
        self.updates.publish(f"catalogue:{version}")
        return version

    def _swap_catalogue(self) -> None:
        with self._lock:
            latest = self._load_catalogue(int(time.time()))
            if latest.version != self.catalogued.version:
                self.catalogued = latest
                self.issuer = self._carrying(self.issuer_base, latest.snapshot)
                log.info("catalogue version %d in force", latest.version)

    def _on_update(self, what: str) -> None:
        if what.startswith("catalogue:"):
            self._swap_catalogue()
        elif what.startswith("trust:"):
            self.reload_trust()
        elif what.startswith("keys:"):
            self.reload_keys()
        elif what.startswith("revocations:"):
            self.catch_up_revocations()
        elif what.startswith("device:"):
            self.devices.forget(what.removeprefix("device:"))

    def refresh(self) -> None:
        """Cheap check, at most every 2 s: a newer catalogue in the database, a trust list near its age."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY_S:
            return
        self._checked_at = now
        try:
            if catalogue_admin.latest_version(self.engine) != self.catalogued.version:
                self._swap_catalogue()
        except SQLAlchemyError as exc:  # verifying needs no database: keep the catalogue in force, look again later
            log.warning("database unreachable, catalogue version %d stays: %s", self.catalogued.version,
                        type(exc).__name__)  # fmt: skip
        try:
            if self._ring_file_stamp() != self._ring_stamp:
                self.reload_keys()
        except (OSError, KeyRingError) as exc:  # a ring being replaced, or broken: keep the one in force
            log.warning("key ring unreadable, generation %d stays: %s", self.ring_generation, exc)
        wall = time.time()
        if wall > self.trusted.store.expires_at - self.settings.trust_list_max_age_s / 2:
            self.reload_trust()

    def state_gauges(self) -> dict[str, tuple[str, dict[str, float]]]:
        """The scrape-time gauges: Redis reachability, how long each signed document has left, delivery backlog."""
        from app.matching.delivery import delivery_counts

        now = time.time()
        gauges: dict[str, tuple[str, dict[str, float]]] = {
            "suishen_catalogue_seconds_left": ("Seconds until the catalogue snapshot in force passes its max age.",
                                               {"": self.catalogued.snapshot.expires_at - now}),
            "suishen_trust_list_seconds_left": ("Seconds until the trust list in force passes its max age.",
                                                {"": self.trusted.store.expires_at - now}),
            "suishen_revocation_list_seconds_left": ("Seconds until the revocation list held passes its max age.",
                                                     {"": self.revocations.list.expires_at - now}),
        }  # fmt: skip
        if self.link is not None:
            gauges["suishen_redis_up"] = ("1 when Redis answers; 0: the in-process fallback is in use.",
                                          {"": 1.0 if self.link.ping() else 0.0})  # fmt: skip
        if self.settings.notify_webhook_url:
            counts = delivery_counts(self.engine)
            gauges["suishen_deliveries"] = ("Notices to the SMS/push gateway by status (pending: the backlog).",
                                            {k: float(v) for k, v in counts.items()})  # fmt: skip
        return gauges

    def close(self) -> None:
        self._stop.set()
        if self.sole is not None:
            self.sole.release()
        self.engine.dispose()

    def now_utc(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)
