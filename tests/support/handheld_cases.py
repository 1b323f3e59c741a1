"""Cases for the handheld's verifier in the browser, judged by Python, and the page that runs them.

The handheld (app/api/web/static/js/verifier/) must answer exactly as `verifier` does. Python
makes the keys, the signed documents and the codes here, Python's `Verifier` gives the expected
answer, and the same cases run in a real Chromium page; a test compares the two lists.

    world = HandheldWorld()
    docsets = world.docsets | corpus_docsets()
    cases = verify_cases(world) + corpus_cases()
    expected = python_results(cases, docsets)
    page = open_page(browser, static_server)
    load_documents(page, docsets.values())
    got = run_in_page(page, cases)  # one dict per case, the shape `python_results` gives

A `Case` names its document set (`docs`), its clock (`now`), its venue, and its replay guard:
cases that share a `guard` name share one guard, on both sides, and run in list order (replay
sequences); a name starting with "idb:" is an IndexedDB guard in the page. `run_in_page` takes
any JS step (`step=`, the source of `async (v, hh, c) => result`, with `v` the verifier module,
`hh.docs[name]` the loaded documents, `await hh.guard(name)` the guard, `c` the case as JSON), so
the decision parity test reuses the page, the documents and the cases with its own step.

The one designed difference: WebCrypto has no SM2, so where Python goes on to check an SM2
issuer's signature the handheld answers UNSUPPORTED_ALG with `manual: true` (check by hand);
`python_results` states that expectation (`js_expectation`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from keys import algorithms
from keys.algorithms import EDDSA, ES256, ES384, SM2, PrivateKey, PublicKey, generate_private_key, spki_der
from keys.revocation_list import RevocationList, credential_id, list_payload, load_revocation_list, sign_revocation_list
from keys.ring import ALL_PRIVILEGES, RETIRED, REVOKED, KeyEntry, new_entry
from keys.signed_json import b64url
from keys.trust_list import payload_from_rings, sign_trust_list, trust_list_payload
from verifier import cbor_strict, cose
from verifier.base45 import b45decode, b45encode
from verifier.claims import CTI_LENGTH, Claims, Profile, cose_key_map, encode_claims
from verifier.code import device_proof, holder_code, issue_credential, online_code, parse_code
from verifier.errors import Reason, VerificationError
from verifier.local_time import LOCAL_OFFSET_S
from verifier.replay import InMemoryReplayGuard
from verifier.trust import TrustStore
from verifier.verify import DEFAULT_CLOCK_SKEW_S, DEFAULT_PROOF_MAX_AGE_S, Verifier

NOW = 1_800_000_000  # 2027-01-15 08:00 UTC, 16:00 in Shanghai: the documents are loaded at this clock
DAY = 86400
SKEW = DEFAULT_CLOCK_SKEW_S
PROOF_MAX_AGE = DEFAULT_PROOF_MAX_AGE_S
TRUST_MAX_AGE = 7 * DAY
REVOCATION_MAX_AGE = 2 * DAY
TRUST_ISSUED = NOW - 3600
REVOCATION_ISSUED = NOW - 600
ISSUER = "CN-SH"
REGION = "310000"
PARTNER_ISSUER = "CN-JS"
PARTNER_REGION = "320000"
PARTNER_PRIVILEGES = ("age_over", "residence")
VENUES = ("sh-century-park", "sh-museum", "metro-line-2", "馆-1")
STATIC_MODULE = "/static/js/verifier/index.js"

# Every reason `Verifier.verify` can give; the parity test shows each one at least once.
VERIFY_REASONS = frozenset(Reason) - {Reason.NOT_ELIGIBLE, Reason.NO_POLICY_FOR_VENUE, Reason.CATALOGUE_STALE}
# Raised before the issuer signature is checked: where an SM2 code still gets Python's answer.
_BEFORE_SIGNATURE = {Reason.TRUST_LIST_STALE, Reason.KEY_REVOKED, Reason.KEY_NOT_VALID_NOW}


@dataclasses.dataclass
class DocSet:
    """The signed documents one handheld holds: a trust list and (optionally) a revocation list and deltas."""

    name: str
    root: PublicKey
    trust_document: bytes
    revocation_document: bytes | None = None
    deltas: tuple[bytes, ...] = ()
    loaded_at: int = NOW

    def store(self) -> TrustStore:
        return TrustStore.from_document(self.trust_document, self.root, self.loaded_at)

    def revocations(self) -> RevocationList | None:
        if self.revocation_document is None:
            return None
        held = load_revocation_list(self.revocation_document, self.root, self.loaded_at)
        for delta in self.deltas:
            held = load_revocation_list(delta, self.root, self.loaded_at, held=held)
        return held

    def to_js(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rootKey": b64url(spki_der(self.root)),
            "trustList": self.trust_document.decode(),
            "revocationList": None if self.revocation_document is None else self.revocation_document.decode(),
            "revocationDeltas": [d.decode() for d in self.deltas],
            "loadedAt": self.loaded_at,
        }


@dataclasses.dataclass
class Case:
    """One scan: code text at a clock and venue, against a document set, with a named replay guard."""

    id: str
    docs: str
    text: str
    now: float
    venue: str = ""
    guard: str = ""  # empty: a guard of its own

    @property
    def guard_name(self) -> str:
        return self.guard or "own:" + self.id

    def to_js(self) -> dict[str, Any]:
        return {"id": self.id, "docs": self.docs, "text": self.text, "now": self.now, "venue": self.venue,
                "guard": self.guard_name}  # fmt: skip


@dataclasses.dataclass
class IssuerKey:
    """One key in the handheld's trust list, with what its entry says."""

    name: str
    private: PrivateKey
    entry: KeyEntry
    issuer: str = ISSUER
    region: str = REGION
    privileges: tuple[str, ...] = ALL_PRIVILEGES
    residence_region: str | None = None

    @property
    def kid(self) -> bytes:
        return self.entry.kid

    @property
    def alg(self) -> int:
        return self.entry.alg

    def document_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kid": self.kid.hex(),
            "alg": self.entry.alg_name,
            "public_key": b64url(spki_der(self.entry.public_key)),
            "issuer": self.issuer,
            "region": self.region,
            "not_before": self.entry.not_before,
            "not_after": self.entry.not_after,
            "status": self.entry.status,
            "privileges": sorted(self.privileges),
        }
        if self.residence_region is not None:
            entry["residence_region"] = self.residence_region
        return entry

    def allowed(self) -> set[str]:
        return set(self.privileges)


def _key(name: str, alg: int, **changes: Any) -> IssuerKey:
    private = generate_private_key(alg)
    entry = dataclasses.replace(new_entry(private.public_key(), NOW - 30 * DAY), **changes.pop("entry", {}))
    return IssuerKey(name, private, entry, **changes)


class HandheldWorld:
    """Root key, issuer keys of every kind, the signed documents, and makers of codes (seeded choices)."""

    def __init__(self, seed: int = 14) -> None:
        self.rng = random.Random(seed)
        self.root = generate_private_key(ES256)
        self.ed_root = generate_private_key(EDDSA)
        keys = [
            _key("es256", ES256),
            _key("ed25519", EDDSA),
            _key("es384", ES384),
            _key("retired", ES256, entry={"status": RETIRED, "not_after": NOW + 3 * DAY}),
            _key("revoked", ES256, entry={"status": REVOKED}),
            _key("later", ES256, entry={"not_before": NOW + 7200}),
            _key("ended", ES256, entry={"not_after": NOW - 7200}),
            _key(
                "partner",
                ES256,
                issuer=PARTNER_ISSUER,
                region=PARTNER_REGION,
                privileges=PARTNER_PRIVILEGES,
                residence_region=PARTNER_REGION,
            ),
            _key("narrow", ES256, issuer="CN-SH-NARROW", privileges=("residence",)),
        ]
        if SM2 in algorithms.ALG_NAMES:
            keys.append(_key("sm2", SM2))
        self.keys: dict[str, IssuerKey] = {k.name: k for k in keys}
        self.stranger = _key("stranger", ES256)
        self.revoked_ids: list[tuple[bytes, int]] = []  # (credential id, until) put in the revocation list
        self.revoked_subjects: list[tuple[bytes, int, int]] = []  # (subject, before, until)
        self.revoked: dict[str, list[str]] = {"online": [], "holder": [], "card": []}
        self.subject_revoked: list[tuple[bytes, int]] = []  # (subject, before) for codes made later
        self._revoke_some()
        self.docsets = self._docsets()

    # ---- documents ----

    def trust_payload(self, *, issued_at: int = TRUST_ISSUED, max_age: int = TRUST_MAX_AGE) -> dict[str, Any]:
        entries = [k.document_entry() for k in self.keys.values()]
        return trust_list_payload(entries, version=7, issued_at=issued_at, max_age=max_age)

    def _revoke_some(self) -> None:
        """Codes whose credentials the revocation list names, and subjects it withdraws before a time."""
        key = self.keys["es256"]
        for kind in ("online", "holder", "card"):
            for n in range(12):
                at = NOW - self.rng.randrange(0, 50)
                text, cti = self._code_with_cti(key, kind, at)
                life = {"online": 60, "holder": DAY, "card": 365 * DAY}[kind]
                until = at + life + SKEW if n % 4 else NOW + 400  # some entries end soon after the clock
                self.revoked_ids.append((credential_id(key.kid, cti), until))
                self.revoked[kind].append(text)
        for n in range(16):
            subject = self.rng.randbytes(8 + 8 * (n % 3))
            before = NOW - 100 + 40 * (n % 5)
            until = NOW + DAY if n % 4 else NOW + 300
            self.revoked_subjects.append((subject, before, until))
            self.subject_revoked.append((subject, before))

    def _code_with_cti(self, key: IssuerKey, kind: str, at: int) -> tuple[str, bytes]:
        cti = self.rng.randbytes(CTI_LENGTH)
        profile = self.profile(key)
        if kind == "online":
            claims = Claims(key.issuer, at, at + 60, cti, profile)
            return online_code(issue_credential(claims, key.private, key.kid)), cti
        if kind == "card":
            claims = Claims(key.issuer, at, at + 365 * DAY, cti, profile, card_number=self.card_number())
            return online_code(issue_credential(claims, key.private, key.kid)), cti
        device = generate_private_key(ES256)
        claims = Claims(key.issuer, at, at + DAY, cti, profile, device_key=device.public_key())  # type: ignore[arg-type]
        cred = issue_credential(claims, key.private, key.kid)
        return holder_code(cred, device_proof(cred, device, at, nonce=self.rng.randbytes(8))), cti  # type: ignore[arg-type]

    def revocation_documents(self, root: PrivateKey) -> tuple[bytes, bytes]:
        """A full list (version 3) with most entries, and a delta (3 -> 4) with the rest."""
        full = RevocationList(3, REVOCATION_ISSUED, REVOCATION_MAX_AGE)
        later = RevocationList(4, REVOCATION_ISSUED + 60, REVOCATION_MAX_AGE)
        for n, (cred_id, until) in enumerate(self.revoked_ids):
            (later if n % 5 == 0 else full).add_credential(cred_id, until)
        for n, (subject, before, until) in enumerate(self.revoked_subjects):
            if n % 4 == 0:  # in both: the delta's later `before` wins
                full.add_subject(subject, before - 500, until)
            (later if n % 3 == 0 else full).add_subject(subject, before, until)
        full.add_credential(bytes(8), NOW - 10)  # already over at load: pruned on both sides
        merged = RevocationList(4, later.issued_at, later.max_age, dict(full.credentials), dict(full.subjects))
        for k, u in later.credentials.items():
            merged.add_credential(k, u)
        for k, (b, u) in later.subjects.items():
            merged.add_subject(k, b, u)
        return (
            sign_revocation_list(list_payload(full), root),
            sign_revocation_list(list_payload(merged, since=3, only=later), root),
        )

    def _docsets(self) -> dict[str, DocSet]:
        trust = sign_trust_list(self.trust_payload(), self.root)
        full, delta = self.revocation_documents(self.root)
        ed_trust = sign_trust_list(self.trust_payload(), self.ed_root)
        ed_full, ed_delta = self.revocation_documents(self.ed_root)
        return {
            "main": DocSet("main", self.root.public_key(), trust, full, (delta,)),
            "no-revocations": DocSet("no-revocations", self.root.public_key(), trust),
            "ed-root": DocSet("ed-root", self.ed_root.public_key(), ed_trust, ed_full, (ed_delta,)),
        }

    # ---- profiles and codes ----

    def card_number(self) -> int:
        return self.rng.choice([1, 2, 12345, (1 << 40) - 1, self.rng.randrange(1, 1 << 40)])

    def profile(self, key: IssuerKey | None = None, *, subject: bytes | None = None) -> Profile:
        """A random profile that `key` may assert (any profile when key is None)."""
        rng = self.rng
        allowed = key.allowed() if key is not None else set(ALL_PRIVILEGES)
        fields: dict[str, Any] = {"subject": subject or rng.randbytes(rng.choice([8, 8, 8, 16, 32]))}
        if "age_over" in allowed and rng.random() < 0.6:
            fields["age_over"] = rng.choice([60, 65, 70, 80])
        if "disability" in allowed and rng.random() < 0.3:
            fields["disability_category"], fields["disability_grade"] = rng.randrange(1, 8), rng.randrange(1, 5)
        if "martyr_family" in allowed and rng.random() < 0.15:
            fields["martyr_family"] = True
        if "entitled_group" in allowed and rng.random() < 0.15:
            fields["entitled_group"] = True
        if "student" in allowed and rng.random() < 0.25:
            fields["student_level"] = rng.randrange(1, 7)
            fields["enrolled_until"] = dt.date(1970, 1, 1) + dt.timedelta(days=rng.choice([0, 20000, 21000, 199999]))
        if "residence" in allowed and rng.random() < 0.7:
            province = key.residence_region[:2] if key is not None and key.residence_region else "31"
            fields["residence"] = int(province) * 10000 + rng.randrange(0, 10000)
        fields["version"] = rng.choice([0, 1, 4, (1 << 32) - 1])
        return Profile(**fields)

    def claims(
        self,
        key: IssuerKey,
        at: int,
        life: int = 60,
        *,
        profile: Profile | None = None,
        nbf: int | None = None,
        device: ec.EllipticCurvePrivateKey | None = None,
        card: int | None = None,
        iss: str | None = None,
    ) -> Claims:
        return Claims(
            iss or key.issuer, at, at + life, self.rng.randbytes(CTI_LENGTH), profile or self.profile(key), nbf,
            device.public_key() if device is not None else None, card,
        )  # fmt: skip

    def credential(self, key: IssuerKey, claims: Claims) -> bytes:
        return issue_credential(claims, key.private, key.kid)

    def online(self, key: IssuerKey, at: int, life: int = 60, **kw: Any) -> str:
        return online_code(self.credential(key, self.claims(key, at, life, **kw)))

    def card(self, key: IssuerKey, at: int, life: int = 365 * DAY, **kw: Any) -> str:
        return online_code(self.credential(key, self.claims(key, at, life, card=self.card_number(), **kw)))

    def holder_parts(self, key: IssuerKey, at: int, life: int = DAY, **kw: Any) -> tuple[bytes, Any]:
        device = generate_private_key(ES256)
        return self.credential(key, self.claims(key, at, life, device=device, **kw)), device  # type: ignore[arg-type]

    def proof(self, cred: bytes, device: Any, proof_at: float) -> bytes:
        return device_proof(cred, device, proof_at, nonce=self.rng.randbytes(8))

    def holder(self, key: IssuerKey, at: int, proof_at: float | None = None, **kw: Any) -> str:
        cred, device = self.holder_parts(key, at, **kw)
        return holder_code(cred, self.proof(cred, device, at if proof_at is None else proof_at))


# ---- the cases ----------------------------------------------------------------------------


def _raw(text: str) -> bytes:
    return b45decode(text[4:])


def _text(raw: bytes) -> str:
    return "SP1:" + b45encode(raw)


def _signed(protected: bytes, payload: bytes, key: PrivateKey, aad: bytes = b"", *, tagged: bool = True) -> bytes:
    """A COSE_Sign1 with any protected header bytes and a real signature over them."""
    signature = algorithms.sign(key, algorithms.alg_of(key), cose.sig_structure(protected, aad, payload))
    return cose.encode_sign1(protected, payload, signature, tagged=tagged)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    """One random change: a bit, a byte, an insertion, a deletion, a cut or a repeated slice."""
    b = bytearray(data)
    if not b:
        return bytes([rng.randrange(256)])
    i = rng.randrange(len(b))
    op = rng.randrange(7)
    if op == 0:
        b[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        b[i] = rng.choice([0x00, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x40, 0x58, 0x5F, 0x60, 0x80, 0x9F, 0xA0, 0xBF,
                           0xC0, 0xD2, 0xD8, 0xF4, 0xF5, 0xF6, 0xF7, 0xF9, 0xFF, rng.randrange(256)])  # fmt: skip
    elif op == 2:
        b.insert(i, rng.randrange(256))
    elif op == 3:
        del b[i]
    elif op == 4:
        del b[i:]
    elif op == 5:
        j = min(len(b), i + rng.randrange(1, 8))
        b[i:i] = b[i:j]
    else:
        b[i] = (b[i] + rng.choice([-1, 1])) % 256
    return bytes(b)


class _Cases:
    def __init__(self, world: HandheldWorld) -> None:
        self.w = world
        self.rng = world.rng
        self.out: list[Case] = []
        self.seq = 0

    def add(self, family: str, text: str, now: float, *, docs: str = "main", venue: str = "", guard: str = "") -> None:
        self.out.append(Case(f"{family}-{len(self.out)}", docs, text, now, venue, guard))

    def guard(self, prefix: str = "seq") -> str:
        self.seq += 1
        return f"{prefix}:{self.seq}"

    def key(self, *names: str) -> IssuerKey:
        return self.w.keys[self.rng.choice(names)]

    def clock(self) -> float:
        """A clock the main documents are fresh at: around the load time, sometimes fractional."""
        t = NOW + self.rng.randrange(-300, 3600)
        return t + 0.5 if self.rng.random() < 0.15 else t


def _valid(c: _Cases) -> None:
    w, rng = c.w, c.rng
    good = ("es256", "ed25519", "es384", "retired", "partner", "narrow")
    for _ in range(150):
        now = c.clock()
        at = int(now) - rng.randrange(0, 50)
        c.add(
            "online",
            w.online(c.key(*good), at, rng.choice([1, 60, 600, DAY])),
            now,
            docs=rng.choice(["main", "ed-root"]),
        )
    for _ in range(150):
        now = c.clock()
        at = int(now) - rng.randrange(0, 3 * 3600)
        c.add("holder", w.holder(c.key(*good), at, proof_at=now + rng.randrange(-85, 55)), now)
    for _ in range(70):
        now = c.clock()
        at = int(now) - rng.randrange(0, 300 * DAY)
        c.add("card", w.card(c.key(*good), at, life=rng.choice([DAY, 365 * DAY, 730 * DAY])), now,
              venue=rng.choice(VENUES), docs=rng.choice(["main", "no-revocations"]))  # fmt: skip


def _time_windows(c: _Cases) -> None:
    w, rng = c.w, c.rng
    key = w.keys["es256"]
    for _ in range(60):
        now = c.clock()
        edge = rng.choice([-2, -1, 0, 1, 2])
        kind = rng.randrange(3)
        if kind == 0:  # issued ahead of this clock: NOT_YET_VALID beyond the skew
            text = w.online(key, int(now) + SKEW + edge)
        elif kind == 1:  # nbf ahead
            at = int(now) - 10
            text = w.online(key, at, 3600, nbf=int(now) + SKEW + edge)
        else:  # expired
            text = w.online(key, int(now) - SKEW - 60 - edge, 60)
        c.add("time", text, now)
    for _ in range(30):  # a card's and a holder credential's end
        now = c.clock()
        edge = rng.choice([-1, 0, 1])
        if rng.random() < 0.5:
            c.add("time-card", w.card(key, int(now) - DAY - SKEW - edge, DAY), now, venue="sh-museum")
        else:
            c.add("time-holder", w.holder(key, int(now) - DAY - SKEW - edge, proof_at=now), now)
    for _ in range(40):  # keys' windows
        name = rng.choice(["later", "ended"])
        key_entry = w.keys[name].entry
        edge = rng.choice([-2, -1, 0, 1, 2, 3600])
        now = key_entry.not_before - SKEW + edge if name == "later" else key_entry.not_after + SKEW - edge
        c.add("key-window", w.online(w.keys[name], int(now) - 5), now)
    for _ in range(12):
        c.add("key-revoked", w.online(w.keys["revoked"], NOW), NOW + rng.randrange(0, 60))


def _kids_and_algs(c: _Cases) -> None:
    w, rng = c.w, c.rng
    key = w.keys["es256"]
    for _ in range(8):
        c.add("unknown-kid", w.online(w.stranger, NOW), NOW)
    for n in (0, 1, 7, 9, 16):
        payload = encode_claims(w.claims(key, NOW))
        header = cbor_strict.dumps({1: ES256, 4: rng.randbytes(n)})
        c.add("unknown-kid", _text(b"\x81" + _signed(header, payload, key.private)), NOW)
    for _ in range(4):
        payload = encode_claims(w.claims(key, NOW))
        c.add("no-kid", _text(b"\x81" + _signed(cbor_strict.dumps({1: ES256}), payload, key.private)), NOW)
    for alg in (EDDSA, ES384, -36, -37, 5, 0, -65600, -65601, 1 << 40):  # claimed algorithms on the ES256 key
        payload = encode_claims(w.claims(key, NOW))
        header = cbor_strict.dumps({1: alg, 4: key.kid})
        c.add("alg", _text(b"\x81" + _signed(header, payload, key.private)), NOW)
    for name in ("ed25519", "es384"):  # ES256 claimed on other keys
        other = w.keys[name]
        header = cbor_strict.dumps({1: ES256, 4: other.kid})
        c.add("alg", _text(b"\x81" + _signed(header, encode_claims(w.claims(other, NOW)), key.private)), NOW)


def _signatures(c: _Cases) -> None:
    w, rng = c.w, c.rng
    for _ in range(60):
        key = c.key("es256", "ed25519", "es384")
        raw = bytearray(_raw(w.online(key, NOW)))
        how = rng.randrange(4)
        if how == 0:  # flip a bit of the signature
            sig_len = 64 if key.alg == EDDSA else (96 if key.alg == ES384 else 64)
            raw[len(raw) - 1 - rng.randrange(sig_len)] ^= 1 << rng.randrange(8)
            text = _text(bytes(raw))
        elif how == 1:  # an impostor signs with our kid
            impostor = generate_private_key(key.alg)
            header = cose.protected_header(key.alg, key.kid)
            text = _text(b"\x81" + _signed(header, encode_claims(w.claims(key, NOW)), impostor))
        elif how == 2:  # signature of another length
            header = cose.protected_header(key.alg, key.kid)
            payload = encode_claims(w.claims(key, NOW))
            sig = rng.randbytes(rng.choice([0, 1, 63, 65, 96, 128]))
            text = _text(b"\x81" + cose.encode_sign1(header, payload, sig, tagged=True))
        else:  # r or s zero, or all zero
            header = cose.protected_header(key.alg, key.kid)
            payload = encode_claims(w.claims(key, NOW))
            width = 48 if key.alg == ES384 else 32
            sig = bytes(2 * width) if rng.random() < 0.5 else rng.randbytes(width) + bytes(width)
            text = _text(b"\x81" + cose.encode_sign1(header, payload, sig, tagged=True))
        c.add("bad-signature", text, NOW + rng.randrange(0, 30))


def _proofs(c: _Cases) -> None:
    w, rng = c.w, c.rng
    key = w.keys["es256"]
    for _ in range(15):  # holder credential shown as an online code
        cred, _device = w.holder_parts(key, NOW)
        c.add("proof-missing", online_code(cred), NOW)
    for _ in range(10):  # a proof on an online credential, and on a card
        cred = w.credential(key, w.claims(key, NOW, card=w.card_number() if rng.random() < 0.5 else None))
        c.add("proof-on-no-device", holder_code(cred, w.proof(cred, generate_private_key(ES256), NOW)), NOW)
    for _ in range(40):
        cred, device = w.holder_parts(key, NOW - 100)
        how = rng.randrange(5)
        if how == 0:  # another phone's proof
            proof = w.proof(cred, generate_private_key(ES256), NOW)
        elif how == 1:  # bound to another credential
            other, _ = w.holder_parts(key, NOW - 100)
            proof = w.proof(other, device, NOW)
        elif how == 2:  # a bit flipped in the proof's signature
            p = bytearray(w.proof(cred, device, NOW))
            p[-1 - rng.randrange(64)] ^= 1 << rng.randrange(8)
            proof = bytes(p)
        elif how == 3:  # a proof with a kid, or claiming EdDSA
            header = cbor_strict.dumps({1: ES256, 4: b"phone"}) if rng.random() < 0.5 else cbor_strict.dumps({1: EDDSA})
            payload = cbor_strict.dumps([NOW // 30, rng.randbytes(8)])
            proof = _signed(header, payload, device, cred, tagged=False)
        else:  # a tagged proof
            proof = b"\xd2" + w.proof(cred, device, NOW)
        c.add("bad-proof", holder_code(cred, proof), NOW)
    for _ in range(70):  # proof times at the edges of PROOF_TOO_OLD and PROOF_IN_FUTURE
        now = c.clock()
        if rng.random() < 0.5:
            proof_at = now - PROOF_MAX_AGE + rng.choice([-31, -30, -1, 0, 1, 29, 30])
        else:
            proof_at = now + SKEW + rng.choice([-30, -1, 0, 1, 30, 31])
        c.add("proof-time", w.holder(key, int(now) - 200, proof_at=proof_at), now)


def _cards(c: _Cases) -> None:
    w, rng = c.w, c.rng
    key = w.keys["es256"]
    for _ in range(6):  # a card with a device key, or living past two years and a day
        device = generate_private_key(ES256)
        claims = {1: ISSUER, 4: NOW + DAY, 6: NOW, 7: rng.randbytes(16), 8: {1: cose_key_map(device.public_key())},  # type: ignore[arg-type]
                  -65537: {1: rng.randbytes(8), 2: 65}, -65538: 77}  # fmt: skip
        cred = cose.sign1(cbor_strict.dumps(claims), key.private, kid=key.kid)
        c.add("card-with-device", holder_code(cred, w.proof(cred, device, NOW)), NOW)
        c.add("card-with-device", online_code(cred), NOW)
    for life in (731 * DAY, 731 * DAY + 1, 800 * DAY):
        claims = {1: ISSUER, 4: NOW + life, 6: NOW, 7: rng.randbytes(16), -65537: {1: rng.randbytes(8)}, -65538: 5}
        c.add("card-life", online_code(cose.sign1(cbor_strict.dumps(claims), key.private, kid=key.kid)), NOW)
    for number in (0, 1 << 40, (1 << 64) - 1):
        claims = {1: ISSUER, 4: NOW + DAY, 6: NOW, 7: rng.randbytes(16), -65537: {1: rng.randbytes(8)}, -65538: number}
        c.add("card-number", online_code(cose.sign1(cbor_strict.dumps(claims), key.private, kid=key.kid)), NOW)


def _replays(c: _Cases) -> None:
    w, rng = c.w, c.rng
    key = w.keys["es256"]
    for n in range(25):  # an online code twice (and a third time after it expired)
        g = c.guard("idb" if n % 5 == 0 else "seq")
        text = w.online(key, NOW, 60)
        for t in (NOW, NOW + rng.randrange(0, 60), NOW + 121, NOW + 100):
            c.add("replay-online", text, t, guard=g)
    for n in range(30):  # one holder credential shown with proofs at several steps and clocks
        g = c.guard("idb" if n % 5 == 0 else "seq")
        cred, device = w.holder_parts(key, NOW - 600)
        now = NOW
        for _ in range(6):
            now += rng.choice([0, 1, 10, 29, 30, 31, 60, 95])
            proof_at = now + rng.choice([-60, -30, 0, 0, 0, 30, 60])
            c.add("replay-holder", holder_code(cred, w.proof(cred, device, proof_at)), now, guard=g)
    midnight = (NOW + LOCAL_OFFSET_S) // DAY * DAY + DAY - LOCAL_OFFSET_S  # the next local midnight (16:00 UTC)
    for n in range(20):  # a card: twice at one venue, at another venue, across local midnight, the next day
        g = c.guard("idb" if n % 5 == 0 else "seq")
        text = w.card(key, NOW - 10 * DAY)
        start = rng.choice([NOW, midnight - 120, midnight - 1])
        times = [
            start,
            start + 30,
            start + 31,
            start + 32,
            midnight + rng.choice([-61, -1, 0, 1, 60]),
            start + DAY + 40,
        ]
        venues = [VENUES[0], VENUES[0], VENUES[1], VENUES[1], VENUES[0], VENUES[0]]
        for t, venue in sorted(zip(times, venues, strict=True), key=lambda tv: tv[0]):
            c.add("replay-card", text, t, venue=venue, guard=g)
        c.add("replay-card", text, start + DAY + 41, venue=VENUES[3], guard=g)
    for _ in range(6):  # a rejected code does not occupy the guard: expired first, then fresh
        g = c.guard()
        text = w.online(key, NOW, 60)
        c.add("replay-after-reject", text, NOW + 300, guard=g)
        c.add("replay-after-reject", text, NOW, guard=g)


def _revocations(c: _Cases) -> None:
    w, rng = c.w, c.rng
    for kind, texts in w.revoked.items():
        for n, text in enumerate(texts):
            now = NOW + rng.choice([0, 30, 250])
            docs = rng.choice(["main", "main", "ed-root", "no-revocations"])
            c.add(f"revoked-{kind}", text, now, docs=docs, venue="sh-museum")
            if n % 4 == 0:  # entries that end at NOW + 400: in force just before, not after
                c.add(f"revoked-{kind}-until", text, NOW + 399, venue="sh-park")
                c.add(f"revoked-{kind}-until", text, NOW + 401, venue="sh-park")
    key = w.keys["es256"]
    for subject, before in w.subject_revoked:
        for at in (before - 1, before, before + 1, before - 600):
            now = max(NOW, at + 1) + rng.choice([0, 200, 301])
            profile = w.profile(key, subject=subject)
            choice = rng.randrange(3)
            if choice == 0:
                text = w.online(key, at, 3600, profile=profile)
            elif choice == 1:
                text = w.holder(key, at, proof_at=now, profile=profile)
            else:
                text = w.card(key, at, profile=profile)
            c.add("revoked-subject", text, now, docs=rng.choice(["main", "ed-root"]), venue="sh-museum")


_NOT_PARTNERS: list[dict[str, Any]] = [
    {"disability_category": 2, "disability_grade": 1},
    {"martyr_family": True},
    {"entitled_group": True},
    {"student_level": 5, "enrolled_until": dt.date(2028, 7, 1)},
]


def _issuer_limits(c: _Cases) -> None:
    w, rng = c.w, c.rng
    partner, narrow = w.keys["partner"], w.keys["narrow"]
    for _ in range(40):
        now = c.clock()
        how = rng.randrange(5)
        if how == 0:  # a partner asserts what only we may
            extra = rng.choice(_NOT_PARTNERS)
            text = w.online(partner, int(now), profile=w.profile(partner)._replace(**extra))
        elif how == 1:  # a partner makes a resident outside its province
            elsewhere = rng.choice([310104, 110000, 329999, 330000])
            text = w.online(partner, int(now), profile=w.profile(partner)._replace(residence=elsewhere))
        elif how == 2:  # the iss is not the key's issuer
            text = w.online(w.keys["es256"], int(now), iss=rng.choice([PARTNER_ISSUER, "CN-SH ", "cn-sh"]))
        elif how == 3:  # a narrow key asserts age
            text = w.online(narrow, int(now), profile=w.profile(narrow)._replace(age_over=80))
        else:  # a partner's own residents: accepted
            text = w.holder(partner, int(now) - 60, proof_at=now, profile=w.profile(partner)._replace(residence=320102))
        c.add("issuer-limits", text, now)


def _stale(c: _Cases) -> None:
    w, rng = c.w, c.rng
    key = w.keys["es256"]
    trust_end = TRUST_ISSUED + TRUST_MAX_AGE
    revocation_end = REVOCATION_ISSUED + 60 + REVOCATION_MAX_AGE  # the delta's issue time counts
    for _ in range(45):
        edge = rng.choice([-1, 0, 0.5, 1, 3600])
        end = rng.choice([trust_end, revocation_end])
        now = end + edge
        docs = rng.choice(["main", "no-revocations", "ed-root"])
        kind = rng.randrange(3)
        at = int(now) - 5
        text = w.online(key, at) if kind == 0 else (w.holder(key, at, proof_at=now) if kind == 1 else w.card(key, at))
        c.add("stale", text, now, docs=docs, venue="sh-museum")


def _sm2(c: _Cases) -> None:
    if "sm2" not in c.w.keys:
        return
    w, rng = c.w, c.rng
    key = w.keys["sm2"]
    for _ in range(10):
        c.add("sm2", w.online(key, NOW), NOW)
        c.add("sm2", w.holder(key, NOW, proof_at=NOW), NOW)
        raw = bytearray(_raw(w.online(key, NOW)))
        raw[-1 - rng.randrange(64)] ^= 1
        c.add("sm2-bad-signature", _text(bytes(raw)), NOW)
    header = cbor_strict.dumps({1: ES256, 4: key.kid})
    c.add("sm2-alg", _text(b"\x81" + _signed(header, encode_claims(w.claims(key, NOW)), w.keys["es256"].private)), NOW)
    c.add("sm2-expired", w.online(key, NOW - 3600), NOW)
    c.add("sm2-stale", w.online(key, NOW + TRUST_MAX_AGE), NOW + TRUST_MAX_AGE + 1)


def _fuzz(c: _Cases) -> None:
    """Random changes to valid codes, at every layer, each signed again where that layer is signed."""
    w, rng = c.w, c.rng
    key = w.keys["es256"]
    for _ in range(320):  # the code's bytes, unsigned
        kind = rng.randrange(3)
        text = w.online(key, NOW) if kind == 0 else (w.holder(key, NOW) if kind == 1 else w.card(key, NOW))
        raw = _raw(text)
        for _ in range(rng.choice([1, 1, 2])):
            raw = _mutate(rng, raw)
        c.add("fuzz-code", _text(raw), NOW, venue="sh-museum")
    for _ in range(260):  # the claims, signed again by the issuer
        device = generate_private_key(ES256) if rng.random() < 0.3 else None
        card = w.card_number() if device is None and rng.random() < 0.3 else None
        nbf = NOW - rng.randrange(0, 60) if rng.random() < 0.2 else None
        payload = encode_claims(w.claims(key, NOW, rng.choice([60, DAY]), nbf=nbf, device=device, card=card))  # type: ignore[arg-type]
        for _ in range(rng.choice([1, 1, 2])):
            payload = _mutate(rng, payload)
        cred = cose.sign1(payload, key.private, kid=key.kid)
        text = holder_code(cred, w.proof(cred, device, NOW)) if device is not None else online_code(cred)
        c.add("fuzz-claims", text, NOW, venue="sh-museum")
    headers = [b"\xa2\x01\x26\x04\x48" + key.kid, b"\xa1\x01\x26", b"\xa2\x04\x48" + key.kid + b"\x01\x26"]
    for _ in range(120):  # the protected header, signed again
        header = _mutate(rng, rng.choice(headers))
        if rng.random() < 0.3:
            header = _mutate(rng, header)
        payload = encode_claims(w.claims(key, NOW))
        c.add("fuzz-header", _text(b"\x81" + _signed(header, payload, key.private)), NOW)
    for header in _crafted_headers(key.kid):
        payload = encode_claims(w.claims(key, NOW))
        c.add("crafted-header", _text(b"\x81" + _signed(header, payload, key.private)), NOW)
    for _ in range(80):  # the device proof's payload, signed again by the phone
        cred, device = w.holder_parts(key, NOW - 100)
        payload = cbor_strict.dumps([NOW // 30, rng.randbytes(8)])
        for _ in range(rng.choice([1, 1, 2])):
            payload = _mutate(rng, payload)
        c.add("fuzz-proof", holder_code(cred, _signed(b"\xa1\x01\x26", payload, device, cred, tagged=False)), NOW)
    for payload in _crafted_proof_payloads(rng):
        cred, device = w.holder_parts(key, NOW - 100)
        c.add("crafted-proof", holder_code(cred, _signed(b"\xa1\x01\x26", payload, device, cred, tagged=False)), NOW)
    for claims in _crafted_claims(w, key):
        c.add("crafted-claims", online_code(cose.sign1(claims, key.private, kid=key.kid)), NOW)


def _crafted_headers(kid: bytes) -> list[bytes]:
    """Protected headers at the edges of strict CBOR: tags, floats, order, duplicates, big integers."""
    k = b"\x48" + kid
    return [
        b"\xa2\x01\x26\x04" + k[:1] + k[1:],  # the right one
        b"\xa2\x01\x38\x1f\x04" + k,  # alg -32 in shortest form: not allowed
        b"\xa2\x01\x38\x06\x04" + k,  # alg -7 in a longer head
        b"\xa2\x01\x26\x04\x58\x08" + kid,  # kid length in a longer head
        b"\xa2\x01\xc6\x26\x04" + k,  # alg inside an unknown tag 6
        b"\xa2\x01\xd8\x64\x26\x04" + k,  # tag 100 (a date for cbor2)
        b"\xa2\x01\xc2\x41\x07\x04" + k,  # a bignum
        b"\xa2\x01\xf5\x04" + k,  # alg true
        b"\xa2\x01\xf6\x04" + k,  # alg null
        b"\xa2\x01\xf9\x00\x00\x04" + k,  # alg a half float
        b"\xa2\x01\x26\x04\x68" + kid.hex()[:8].encode(),  # kid as text
        b"\xa2\x01\x26\x04\xc6" + k,  # kid in a tag
        b"\xa2\x01\x26\x01\x26",  # alg twice
        b"\xa2\x04" + k + b"\x01\x26",  # keys out of order
        b"\xbf\x01\x26\x04" + k + b"\xff",  # indefinite map
        b"\xa3\x01\x26\x04" + k + b"\x03\x00",  # content type as well
        b"\xa3\x01\x26\x02\x80\x04" + k,  # crit
        b"\xa2\x01\x26\x04" + k + b"\x00",  # trailing byte
        b"\xa1\x01\x3b\x00\x00\x00\x00\x00\x01\x00\x3f",  # alg -65600 in a longer head
        b"\xa1\x01\x3a\x00\x01\x00\x3f",  # SM2 without a kid
        b"\xa1\x01\x3b\xff\xff\xff\xff\xff\xff\xff\xff",  # the most negative integer
        b"\xa1\x01\x1b\xff\xff\xff\xff\xff\xff\xff\xff",  # the largest
        b"\xa2\x01\x26\x04\x81" + k,  # kid in an array
        b"\xa2\x01\x26\x04\x40",  # empty kid
        b"\xa2\x01\x26\x04\x62\xc3\x28",  # kid as invalid UTF-8 text
        b"\xa2\x01\x26\x61\x61\x00",  # a text key
        b"\xa2\x01\x26\x41\x00\x00",  # a byte-string key
        b"\xa1\x01" + b"\x81" * 40 + b"\x26",  # alg nested in arrays
        b"\x80",  # an array
        b"",  # nothing
        b"\xa0",  # an empty map
        b"\xa1\x01\x26\x00",  # trailing
        b"\xa2\x01\x26\x04\xd9\xd9\xf7" + k,  # self-described kid
        b"\xa2\x01\x26\x04\xd8\x1c" + k,  # shareable kid
    ]


def _crafted_proof_payloads(rng: random.Random) -> list[bytes]:
    step = NOW // 30
    n = rng.randbytes(8)
    dumps = cbor_strict.dumps
    return [
        dumps([step, n]), dumps([step, n[:7]]), dumps([step, n + b"\x00"]), dumps([step]), dumps([step, n, 0]),
        dumps({step: n}), dumps([-step, n]), dumps([(1 << 36) - 1, n]), dumps([1 << 36, n]), dumps([0, n]),
        b"\x82\x1b" + step.to_bytes(8, "big") + b"\x48" + n, b"\x82\x1a" + step.to_bytes(4, "big") + b"\x48" + n,
        dumps([step, n]) + b"\x00", dumps([str(step), n]),
        b"\x9f\x1a" + step.to_bytes(4, "big") + b"\x48" + n + b"\xff",
    ]  # fmt: skip


def _crafted_claims(w: HandheldWorld, key: IssuerKey) -> list[bytes]:
    """Claims that look right: order, counts, big integers, nbf zero, subjects at length edges."""
    rng = w.rng
    dumps = cbor_strict.dumps
    cti = rng.randbytes(16)
    subject = rng.randbytes(8)
    base: dict[int, Any] = {1: ISSUER, 4: NOW + 60, 6: NOW, 7: cti, -65537: {1: subject, 2: 65}}
    out = [dumps(base)]
    for change in (
        {5: 0}, {5: NOW - 10}, {5: NOW + 3600}, {5: 1 << 40}, {4: (1 << 40) - 1}, {4: 1 << 40}, {6: (1 << 64) - 1},
        {4: NOW}, {1: "A" * 23}, {1: "A" * 24}, {1: ""}, {7: cti[:15]}, {-65537: {1: rng.randbytes(7)}},
        {-65537: {1: rng.randbytes(33)}}, {-65537: {1: rng.randbytes(32), 9: (1 << 32) - 1}},
        {-65537: {1: subject, 9: 1 << 32}}, {-65537: {1: subject, 9: 0}}, {-65537: {1: subject, 7: 199999, 6: 1}},
        {-65537: {1: subject, 6: 1, 7: 200000}}, {-65537: {1: subject, 3: 7, 4: 4}}, {-65537: {1: subject, 3: 8, 4: 1}},
        {-65537: {1: subject, 5: False}}, {-65537: {1: subject, 10: True, 5: True}}, {-65537: {1: subject, 8: 99999}},
        {-65537: {1: subject, 8: 999999}}, {-65537: {1: subject, 2: 60, 3: 1, 4: 1, 5: True, 6: 6, 7: 1, 8: 100000,
                                                     9: 1, 10: True}},
        {-65538: 1}, {-65538: 1, 4: NOW + 731 * DAY}, {-65539: 1}, {2: "sub"},
    ):  # fmt: skip
        out.append(dumps({**base, **change}))
    text = dumps(base)
    out += [text.replace(b"\xa5", b"\xa6", 1), text.replace(b"\xa5", b"\xa4", 1), text + b"\x00", text[:-1]]
    return out


def _text_level(c: _Cases) -> None:
    w, rng = c.w, c.rng
    key = w.keys["es256"]
    text = w.online(key, NOW)
    body = text[4:]
    variants = [
        "", "SP1:", "SP1", "sp1:" + body, "SP2:" + body, " " + text, text + " ", text + "\n", text.lower(),
        "SP1:" + body[:-1], "SP1:" + body[:-2], "SP1:" + body + "A", "SP1:GGW" + body[3:], "SP1:" + ":::" + body[3:],
        "SP1:" + body.replace(body[5], "#", 1), "ＳP1:" + body, "\ufeff" + text, "SP1:" + body + "é",
        "SP1:" + "A" * 1020, "SP1:" + "00" + "A" * 1018, "A" * 1025, "SP1:" + "0" * 1021, "😀" * 600, "😀" * 1025,
        "SP1:" + body + " " * (1024 - len(text)), "SP1:" + body + " " * (1025 - len(text)), "SP1:" + "FGW" * 3,
        "SP1:" + ":" * 3, "SP1:" + "00", "SP1:" + "U5", "SP1:" + "V5",
    ]  # fmt: skip
    for v in variants:
        c.add("text", v, NOW)
    for _ in range(40):
        chars = list(text)
        for _ in range(rng.choice([1, 2])):
            i = rng.randrange(len(chars))
            chars[i] = rng.choice("abc#@!\x00é\n" + "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
        c.add("text-fuzz", "".join(chars), NOW)


def enterprise_profile(rng: random.Random, *, subject: bytes | None = None) -> Profile:
    """An enterprise's profile (法人随申码): its kind, sometimes 守信 and a registered region, nothing of a person."""
    return Profile(
        subject or rng.randbytes(rng.choice([8, 8, 16])), version=rng.choice([0, 1, 7]), enterprise=True,
        credit_good=rng.random() < 0.6, enterprise_region=rng.choice([None, None, 310000, 320500, 999999]),
    )  # fmt: skip


def _enterprises(c: _Cases) -> None:
    """Enterprise codes: ours accepted in every kind; a partner's or a narrow key's refused; crafted profile maps."""
    w, rng = c.w, c.rng
    ours = ("es256", "ed25519", "es384", "retired")
    for _ in range(40):
        now = c.clock()
        at = int(now) - rng.randrange(0, 50)
        how = rng.randrange(3)
        key, profile = c.key(*ours), enterprise_profile(rng)
        if how == 0:
            text = w.online(key, at, profile=profile)
        elif how == 1:
            text = w.holder(key, at - 600, proof_at=now, profile=profile)
        else:
            text = w.card(key, at, profile=profile)
        c.add("enterprise", text, now, venue=rng.choice(VENUES))
    for _ in range(12):  # a partner region, or a key with fewer privileges, asserts no enterprise
        now = c.clock()
        c.add("enterprise-issuer", w.online(c.key("partner", "narrow"), int(now), profile=enterprise_profile(rng)), now)
    key, dumps, subject = w.keys["es256"], cbor_strict.dumps, rng.randbytes(8)
    for profile_map in (
        {1: subject, 11: 1}, {1: subject, 11: 1, 12: True, 13: 310000}, {1: subject, 9: 3, 11: 1, 12: True},
        {1: subject, 11: 2}, {1: subject, 11: 0}, {1: subject, 12: True}, {1: subject, 13: 310000},
        {1: subject, 2: 65, 11: 1}, {1: subject, 8: 310000, 11: 1}, {1: subject, 5: True, 11: 1, 12: True},
        {1: subject, 3: 1, 4: 1, 11: 1}, {1: subject, 11: 1, 12: False}, {1: subject, 11: 1, 13: 99999},
        {1: subject, 11: 1, 13: 1000000}, {1: subject, 11: True}, {1: subject, 11: 1, 14: 1},
        {1: subject, 11: 1, 12: 1},
    ):  # fmt: skip
        claims = {1: ISSUER, 4: NOW + 60, 6: NOW, 7: rng.randbytes(16), -65537: profile_map}
        c.add("enterprise-crafted", online_code(cose.sign1(dumps(claims), key.private, kid=key.kid)), NOW)


FAMILIES: tuple[Callable[[_Cases], None], ...] = (
    _valid, _time_windows, _kids_and_algs, _signatures, _proofs, _cards, _replays, _revocations, _issuer_limits,
    _stale, _sm2, _fuzz, _text_level, _enterprises,
)  # fmt: skip


def verify_cases(world: HandheldWorld) -> list[Case]:
    """Every family of case, in a fixed order (replay sequences keep their own order)."""
    cases = _Cases(world)
    for family in FAMILIES:
        family(cases)
    return cases.out


# ---- the bad-code corpus (tests/corpus/codes) ----------------------------------------------

CORPUS_CODES = Path(__file__).resolve().parents[1] / "corpus" / "codes" / "manifest.json"


def corpus_docsets() -> dict[str, DocSet]:
    """The corpus's trust variants as documents (tests/corpus/world.py builds its stores the same way)."""
    from tests.corpus import world as corpus

    rings = {
        "ours": corpus.our_ring(),
        "revoked": corpus.our_ring(status="revoked"),
        "key_later": corpus.our_ring(not_before=corpus.NOW + 3600),
        "key_ended": corpus.our_ring(not_after=corpus.NOW - 3600),
        "narrow": corpus.our_ring(privileges=("residence",)),
        "with_partner": corpus.our_ring(),
    }
    out = {}
    for variant, ring in rings.items():
        keys = payload_from_rings([ring], version=1, issued_at=corpus.NOW)["keys"]
        if variant == "with_partner":
            keys = [*keys, corpus.partner_entry_json()]
        payload = trust_list_payload(keys, version=1, issued_at=corpus.NOW, max_age=7 * corpus.DAY)
        document = sign_trust_list(payload, corpus.ROOT_KEY)
        out["corpus:" + variant] = DocSet(
            "corpus:" + variant, corpus.ROOT_KEY.public_key(), document, loaded_at=corpus.NOW
        )
    return out


def corpus_cases() -> list[Case]:
    """Every bad code of the corpus (and its good codes), judged against its own trust variant."""
    manifest = json.loads(CORPUS_CODES.read_text())
    now = manifest["now"]
    out = [Case(f"corpus-good-{kind}", "corpus:ours", text, now) for kind, text in manifest["good"].items()]
    for case in manifest["cases"]:
        docs = "corpus:" + case.get("trust", "ours")
        at = now + case.get("at", 0)
        guard = "corpus:" + case["id"]
        for n, earlier in enumerate(case.get("first", [])):
            out.append(Case(f"corpus-{case['id']}-first-{n}", docs, earlier, at, guard=guard))
        out.append(Case(f"corpus-{case['id']}", docs, case["text"], at, guard=guard))
    return out


# ---- Python's answers ----------------------------------------------------------------------


def js_expectation(result: dict[str, Any], case: Case, store: TrustStore) -> dict[str, Any]:
    """Python's answer as the handheld must give it: an SM2 issuer checked here is a check by hand there."""
    try:
        code = parse_code(case.text)
    except VerificationError:
        return result
    kid = code.credential.kid
    key = store.get(kid) if kid is not None else None
    if key is None or key.alg != SM2 or code.credential.alg != SM2:
        return result
    if not result["ok"] and Reason(result["reason"]) in _BEFORE_SIGNATURE:
        return result
    return {"ok": False, "reason": Reason.UNSUPPORTED_ALG.value, "manual": True}


def python_results(cases: Sequence[Case], docsets: dict[str, DocSet]) -> list[dict[str, Any]]:
    """`Verifier.verify` on every case, in order, guards shared by name: what the page must answer."""
    stores = {name: d.store() for name, d in docsets.items()}
    revocations = {name: d.revocations() for name, d in docsets.items()}
    guards: dict[str, InMemoryReplayGuard] = {}
    out = []
    for case in cases:
        guard = guards.setdefault(case.guard_name, InMemoryReplayGuard())
        verifier = Verifier(stores[case.docs], guard, revocations=revocations[case.docs])
        try:
            verified = verifier.verify(case.text, case.now, case.venue)
        except VerificationError as exc:
            result: dict[str, Any] = {"ok": False, "reason": exc.reason.value}
        else:
            result = {"ok": True, "code": verified.to_json()}
        out.append(js_expectation(result, case, stores[case.docs]))
    return out


# ---- the page ------------------------------------------------------------------------------

_SETUP = """async (docsets) => {
  const v = await import('MODULE');
  const hh = window.__handheld ??= {docs: {}, guards: new Map(), steps: new Map(), v};
  hh.guard = (name) => {
    let g = hh.guards.get(name);
    if (g === undefined) {
      g = name.startsWith('idb:')
        ? v.IndexedDBReplayGuard.open('parity-' + name)
        : Promise.resolve(new v.MemoryReplayGuard());
      hh.guards.set(name, g);
    }
    return g;
  };
  const loaded = [];
  for (const d of docsets) {
    hh.docs[d.name] = await v.loadDocuments(d, d.loadedAt);
    loaded.push(d.name);
  }
  return loaded;
}""".replace("MODULE", STATIC_MODULE)

VERIFY_STEP = """async (v, hh, c) => {
  const r = await v.verifyCode(c.text, hh.docs[c.docs], await hh.guard(c.guard), c.now, c.venue);
  if (r.ok) return {ok: true, code: r.code};
  return r.manual ? {ok: false, reason: r.reason, manual: true} : {ok: false, reason: r.reason};
}"""

_RUN = """async ([cases, source]) => {
  const hh = window.__handheld;
  let step = hh.steps.get(source);
  if (step === undefined) {
    step = (0, eval)('(' + source + ')');
    hh.steps.set(source, step);
  }
  const out = [];
  for (const c of cases) {
    try {
      out.push(await step(hh.v, hh, c));
    } catch (e) {
      out.push({crash: String(e && e.stack || e)});
    }
  }
  return out;
}"""


def open_page(browser: Any, static_server: str) -> Any:
    """A blank page of the static server (tests/web/conftest.py `static_server`), where the modules load."""
    page = browser.new_page()
    page.goto(static_server + "/")
    return page


def load_documents(page: Any, docsets: Iterable[DocSet]) -> list[str]:
    """Load and verify each document set in the page (`hh.docs[name]`), at its own load time."""
    return list(page.evaluate(_SETUP, [d.to_js() for d in docsets]))


def run_in_page(
    page: Any, cases: Sequence[Case | dict[str, Any]], *, step: str = VERIFY_STEP, batch: int = 300
) -> list[dict[str, Any]]:
    """Run `step` on every case in order, `batch` cases per page.evaluate; one result per case.

    A case is a `Case` or any JSON-ready dict (the decision test adds its own fields). A step
    that throws gives `{"crash": "<stack>"}` for that case, so one bug does not hide the rest.
    """
    payload = [c.to_js() if isinstance(c, Case) else c for c in cases]
    out: list[dict[str, Any]] = []
    for start in range(0, len(payload), batch):
        out += page.evaluate(_RUN, [payload[start : start + batch], step])
    return out


def mismatches(cases: Sequence[Case], expected: Sequence[Any], got: Sequence[Any]) -> list[str]:
    """One line per case where the page's answer differs from Python's."""
    lines = []
    for case, want, have in zip(cases, expected, got, strict=True):
        if want != have:
            lines.append(f"{case.id} [{case.docs} at {case.now}, guard {case.guard_name}]: python {want} page {have}"
                         f"  text={case.text[:80]!r}")  # fmt: skip
    return lines


__all__ = [
    "NOW", "VERIFY_REASONS", "VERIFY_STEP", "Case", "DocSet", "HandheldWorld", "corpus_cases", "corpus_docsets",
    "js_expectation", "load_documents", "mismatches", "open_page", "python_results", "run_in_page", "verify_cases",
]  # fmt: skip
