"""Partner regions: registering roots, importing their signed lists, merging them into ours."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import directory
from keys.algorithms import EDDSA, ES256, generate_private_key, kid_of
from keys.partners import (
    PARTNER_LIST_FILE,
    PARTNERS_DIR,
    Partner,
    PartnerError,
    export_own_trust_list,
    held_trust_list,
    import_partner_trust_list,
    list_partners,
    load_partner,
    merge,
    merge_payload,
    merged_trust_list,
    partner_summaries,
    register_partner,
)
from keys.ring import ALL_PRIVILEGES, REVOKED, KeyRing, new_entry
from keys.signed_json import sign_document
from keys.storage import public_key_pem, read_private_key
from keys.trust_list import TrustList, TrustListError, load_trust_list, payload_from_rings
from tests.support.world import NOW

PASS = b"correct horse battery staple"
DAY = 86400


@dataclass
class Setup:
    ours: Path
    jiangsu: Path  # the partner's own keys directory (its root signs its lists)

    def partner_list(self, now: int = NOW, max_age: int = 7 * DAY) -> bytes:
        return directory.export_trust_list(self.jiangsu, passphrase=PASS, now=now, max_age=max_age)

    def register(self, **kwargs: object) -> None:
        register_partner(
            self.ours,
            "320000",
            (self.jiangsu / directory.ROOT_PUBLIC_FILE).read_bytes(),
            issuers=("CN-JS",),
            now=NOW,
            name="江苏 Jiangsu",
            **kwargs,  # type: ignore[arg-type]
        )

    def held_bytes(self) -> bytes:
        return (self.ours / PARTNERS_DIR / "320000" / PARTNER_LIST_FILE).read_bytes()


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    ours, jiangsu = tmp_path / "ours", tmp_path / "jiangsu"
    directory.init_directory(ours, issuer="CN-SH", region="310000", passphrase=PASS, now=NOW - DAY)
    directory.init_directory(jiangsu, issuer="CN-JS", region="320000", passphrase=PASS, now=NOW - DAY, alg=EDDSA)
    return Setup(ours, jiangsu)


# --- registry --------------------------------------------------------------------------------


def test_register_and_list(setup: Setup) -> None:
    setup.register(privileges=("age_over", "disability", "residence"))
    partner = load_partner(setup.ours, "320000")
    assert partner.issuers == ("CN-JS",) and partner.name == "江苏 Jiangsu"
    assert partner.privileges == ("age_over", "disability", "residence")
    assert partner.root == directory.root_public_key(setup.jiangsu)
    assert [p.region for p in list_partners(setup.ours)] == ["320000"]
    with pytest.raises(PartnerError, match="already registered"):
        setup.register()
    setup.register(replace=True)  # all privileges now
    assert len(load_partner(setup.ours, "320000").privileges) == 6


@pytest.mark.parametrize(
    ("region", "issuers", "privileges", "message"),
    [
        ("32000", ("CN-JS",), ("age_over",), "six-digit"),
        ("../../etc", ("CN-JS",), ("age_over",), "six-digit"),  # a region is also a folder name: no paths
        ("320000\n", ("CN-JS",), ("age_over",), "six-digit"),
        ("320000", ("CN-JS\n",), ("age_over",), "issuer ids"),
        ("310000", ("CN-JS",), ("age_over",), "our own region"),
        ("310100", ("CN-JS",), ("age_over",), "our own province"),
        ("320000", ("CN-SH",), ("age_over",), "our own"),
        ("320000", (), ("age_over",), "one or more issuer ids"),
        ("320000", ("bad id!",), ("age_over",), "issuer ids"),
        ("320000", ("CN-JS",), ("shoe_size",), "unknown privileges"),
    ],
)
def test_bad_registrations(
    setup: Setup, region: str, issuers: tuple[str, ...], privileges: tuple[str, ...], message: str
) -> None:
    root = (setup.jiangsu / directory.ROOT_PUBLIC_FILE).read_bytes()
    with pytest.raises(PartnerError, match=message):
        register_partner(setup.ours, region, root, issuers=issuers, privileges=privileges, now=NOW)


def test_a_root_must_be_a_public_key_and_issuers_are_not_shared(setup: Setup) -> None:
    with pytest.raises(PartnerError, match="root key"):
        register_partner(setup.ours, "320000", b"not a key", issuers=("CN-JS",), now=NOW)
    setup.register()
    other_root = public_key_pem(generate_private_key(ES256).public_key())
    with pytest.raises(PartnerError, match="already registered for partner 320000"):
        register_partner(setup.ours, "330000", other_root, issuers=("CN-JS",), now=NOW)


def test_importing_for_an_unregistered_region_names_the_fix(setup: Setup) -> None:
    with pytest.raises(PartnerError, match="no partner registered for region 320000: register its root key first"):
        import_partner_trust_list(setup.ours, "320000", setup.partner_list(), NOW)
    with pytest.raises(PartnerError, match="six-digit"):
        import_partner_trust_list(setup.ours, "../ours", setup.partner_list(), NOW)


# --- import ----------------------------------------------------------------------------------


def test_a_good_list_is_held(setup: Setup) -> None:
    setup.register()
    document = setup.partner_list()
    trust_list = import_partner_trust_list(setup.ours, "320000", document, NOW)
    assert trust_list.version == 1 and {k.issuer for k in trust_list.keys} == {"CN-JS"}
    assert setup.held_bytes() == document
    [summary] = partner_summaries(setup.ours, NOW)
    assert summary["region"] == "320000" and summary["trust_list"]["version"] == 1
    assert summary["trust_list"]["stale"] is False and summary["trust_list"]["keys"][0]["status"] == "active"


def test_a_bad_signature_is_refused_and_the_held_list_stays(setup: Setup) -> None:
    setup.register()
    good = setup.partner_list()
    import_partner_trust_list(setup.ours, "320000", good, NOW)
    directory.revoke(setup.jiangsu, directory.load_ring(setup.jiangsu).active().kid)
    doc = json.loads(setup.partner_list(NOW + 10))
    forged = sign_document(doc["payload"], generate_private_key(ES256))  # someone else's root
    with pytest.raises(TrustListError, match=r"refused: .*signed by key .*; version 1 stays in force"):
        import_partner_trust_list(setup.ours, "320000", forged, NOW + 10)
    doc["payload"]["version"] = 99  # tampered after signing
    with pytest.raises(TrustListError, match=r"signature is not valid for the root key; version 1 stays in force"):
        import_partner_trust_list(setup.ours, "320000", json.dumps(doc).encode(), NOW + 10)
    assert setup.held_bytes() == good


def test_an_older_version_is_refused(setup: Setup) -> None:
    setup.register()
    first = setup.partner_list()
    directory.rotate(setup.jiangsu, passphrase=PASS, now=NOW)
    second = setup.partner_list(NOW + 5)
    import_partner_trust_list(setup.ours, "320000", second, NOW + 5)
    with pytest.raises(TrustListError, match="version 1 is older than the held version 2; version 2 stays in force"):
        import_partner_trust_list(setup.ours, "320000", first, NOW + 6)
    assert setup.held_bytes() == second


def test_the_same_version_with_other_keys_is_refused_but_a_reissue_refreshes(setup: Setup) -> None:
    setup.register()
    import_partner_trust_list(setup.ours, "320000", setup.partner_list(NOW), NOW)
    reissue = setup.partner_list(NOW + DAY)  # same version, same keys, later issue time
    assert import_partner_trust_list(setup.ours, "320000", reissue, NOW + DAY).issued_at == NOW + DAY
    assert setup.held_bytes() == reissue
    assert import_partner_trust_list(setup.ours, "320000", setup.partner_list(NOW), NOW + DAY).issued_at == NOW + DAY
    assert setup.held_bytes() == reissue  # an older issue of the same version changes nothing

    doc = json.loads(reissue)
    doc["payload"]["keys"][0]["status"] = REVOKED  # changed keys, version left at 1
    doc["payload"]["issued_at"] = NOW + DAY + 1
    root_key = read_private_key(setup.jiangsu / directory.ROOT_KEY_FILE, PASS)  # the partner's real root
    resigned = sign_document(doc["payload"], root_key)
    with pytest.raises(TrustListError, match="version 1 is already held with different keys"):
        import_partner_trust_list(setup.ours, "320000", resigned, NOW + DAY + 1)
    assert setup.held_bytes() == reissue


def test_a_stale_list_is_refused(setup: Setup) -> None:
    setup.register()
    document = setup.partner_list(NOW, max_age=DAY)
    with pytest.raises(TrustListError, match=r"is stale.*; no list from this partner is held"):
        import_partner_trust_list(setup.ours, "320000", document, NOW + DAY + 1)
    assert held_trust_list(setup.ours, load_partner(setup.ours, "320000"), NOW) is None


def test_keys_outside_the_partners_issuers_or_province_are_refused(setup: Setup, tmp_path: Path) -> None:
    setup.register()
    impostor = tmp_path / "impostor"
    directory.init_directory(impostor, issuer="CN-SH", region="310000", passphrase=PASS, now=NOW - DAY)
    ring = directory.load_ring(impostor)
    root_key = read_private_key(setup.jiangsu / directory.ROOT_KEY_FILE, PASS)
    doc = sign_document(payload_from_rings([ring], version=3, issued_at=NOW), root_key)
    with pytest.raises(TrustListError, match="names issuer 'CN-SH', not one of \\['CN-JS'\\]"):
        import_partner_trust_list(setup.ours, "320000", doc, NOW)
    moved = ring.__class__("CN-JS", "310000", ring.privileges, ring.keys)
    doc = sign_document(payload_from_rings([moved], version=3, issued_at=NOW), root_key)
    with pytest.raises(TrustListError, match="outside province 320000"):
        import_partner_trust_list(setup.ours, "320000", doc, NOW)
    ours = directory.load_ring(setup.ours)
    stolen = ring.__class__("CN-JS", "320000", ring.privileges, ours.keys)  # our own key, relabelled
    doc = sign_document(payload_from_rings([stolen], version=3, issued_at=NOW), root_key)
    with pytest.raises(TrustListError, match="already belong to another issuer"):
        import_partner_trust_list(setup.ours, "320000", doc, NOW)


# --- merge and export ------------------------------------------------------------------------


def test_the_merged_list_limits_each_partner_key(setup: Setup) -> None:
    setup.register(privileges=("age_over", "disability", "residence"))
    import_partner_trust_list(setup.ours, "320000", setup.partner_list(NOW, max_age=3 * DAY), NOW)
    document = merged_trust_list(setup.ours, NOW + 60, passphrase=PASS)
    merged = load_trust_list(document, directory.root_public_key(setup.ours), NOW + 60)
    by_issuer = {k.issuer: k for k in merged.keys}
    assert set(by_issuer) == {"CN-SH", "CN-JS"}
    ours, theirs = by_issuer["CN-SH"], by_issuer["CN-JS"]
    assert not ours.limited and ours.residence_region is None and len(ours.privileges) == 6
    assert theirs.limited and theirs.privileges == {"age_over", "disability", "residence"}
    assert theirs.residence_region == "320000" and theirs.residence_province == 32
    assert theirs.not_after == NOW + 3 * DAY  # cut at the partner list's own expiry
    assert theirs.alg == EDDSA


def test_merged_versions_rise_only_when_keys_change(setup: Setup) -> None:
    root = directory.root_public_key(setup.ours)
    setup.ours.chmod(0o555)  # with no partner, merging writes nothing: a read-only keys directory serves
    try:
        first = load_trust_list(merged_trust_list(setup.ours, NOW, passphrase=PASS), root, NOW)
    finally:
        setup.ours.chmod(0o755)
    assert first.version == 1 and [k.issuer for k in first.keys] == ["CN-SH"]
    assert not (setup.ours / PARTNERS_DIR).exists()
    again = load_trust_list(merged_trust_list(setup.ours, NOW + 10, passphrase=PASS), root, NOW + 10)
    assert again.version == 1 and again.issued_at == NOW + 10  # a refresh, same keys
    setup.register()
    _, result = merge(setup.ours, NOW + 20, passphrase=PASS)
    assert result.version == 1
    assert result.skipped == {"320000": "no usable trust list held (none imported yet, or damaged)"}
    import_partner_trust_list(setup.ours, "320000", setup.partner_list(NOW + 20, max_age=DAY), NOW + 20)
    _, result = merge(setup.ours, NOW + 30, passphrase=PASS)
    assert result.version == 2 and result.included == {"320000": 1}
    _, result = merge(setup.ours, NOW + 20 + DAY + 1, passphrase=PASS)
    assert result.version == 3 and "past its max age" in result.skipped["320000"]
    assert all(e["issuer"] == "CN-SH" for e in result.payload["keys"])
    for _ in range(3):
        directory.rotate(setup.ours, passphrase=PASS, now=NOW + 100)
    _, result = merge(setup.ours, NOW + 200, passphrase=PASS)
    assert result.version == 5  # above the ring's generation (4): partner keys make it differ from our export


def test_our_export_is_our_ring_alone(setup: Setup) -> None:
    setup.register()
    import_partner_trust_list(setup.ours, "320000", setup.partner_list(), NOW)
    document = export_own_trust_list(setup.ours, NOW, passphrase=PASS)
    exported = load_trust_list(document, directory.root_public_key(setup.ours), NOW)
    assert {k.issuer for k in exported.keys} == {"CN-SH"}
    assert all(not k.limited for k in exported.keys)


def test_a_partner_imports_our_export_the_same_way(setup: Setup) -> None:
    """Mutual recognition: Jiangsu registers our root and imports our list with the same code."""
    register_partner(
        setup.jiangsu, "310000", (setup.ours / directory.ROOT_PUBLIC_FILE).read_bytes(), issuers=("CN-SH",), now=NOW
    )
    ours = export_own_trust_list(setup.ours, NOW, passphrase=PASS)
    assert import_partner_trust_list(setup.jiangsu, "310000", ours, NOW).version == 1
    merged = load_trust_list(
        merged_trust_list(setup.jiangsu, NOW, passphrase=PASS), directory.root_public_key(setup.jiangsu), NOW
    )
    assert {k.issuer for k in merged.keys} == {"CN-JS", "CN-SH"}


def test_a_new_partner_root_keeps_the_held_list_until_the_next_import(setup: Setup, tmp_path: Path) -> None:
    setup.register()
    import_partner_trust_list(setup.ours, "320000", setup.partner_list(), NOW)
    new_root = generate_private_key(ES256)
    register_partner(
        setup.ours, "320000", public_key_pem(new_root.public_key()), issuers=("CN-JS",), now=NOW, replace=True
    )
    partner = load_partner(setup.ours, "320000")
    held = held_trust_list(setup.ours, partner, NOW)
    assert held is not None and held.version == 1  # still in force, verified under the root it came with
    _, result = merge(setup.ours, NOW, passphrase=PASS)
    assert result.included == {"320000": 1}
    with pytest.raises(TrustListError, match="refused"):  # the old root no longer signs for Jiangsu
        import_partner_trust_list(setup.ours, "320000", setup.partner_list(NOW + 10), NOW + 10)
    payload = json.loads(setup.partner_list(NOW + 10))["payload"]
    payload["version"] = 2
    assert import_partner_trust_list(setup.ours, "320000", sign_document(payload, new_root), NOW + 10).version == 2
    payload["version"] = 1
    with pytest.raises(TrustListError, match="older than the held version 2"):
        import_partner_trust_list(setup.ours, "320000", sign_document(payload, new_root), NOW + 10)


def test_revocations_summary(setup: Setup) -> None:
    from keys.trust_list import revocations

    setup.register()
    kid = directory.load_ring(setup.jiangsu).active().kid
    directory.revoke(setup.jiangsu, kid)
    trust_list = import_partner_trust_list(setup.ours, "320000", setup.partner_list(), NOW)
    assert revocations(trust_list) == {"version": 2, "revoked_kids": [kid.hex()]}


# --- a property: whatever a partner (or an attacker replaying its old lists) sends -----------

_ROOT = generate_private_key(ES256)
_KEYS = [generate_private_key(ES256).public_key() for _ in range(3)]


@st.composite
def _sends(draw: st.DrawFn) -> list[tuple[int, int, int, int]]:
    """(version, which key set, issued_at offset, delay before import) for a run of partner documents."""
    one = st.tuples(st.integers(1, 4), st.integers(0, 2), st.integers(0, 3 * DAY), st.sampled_from([0, 60, 8 * DAY]))
    return draw(st.lists(one, min_size=1, max_size=8))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sends=_sends())
def test_the_held_version_never_falls_and_a_version_never_changes_its_keys(
    sends: list[tuple[int, int, int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        keys_dir = Path(folder)
        register_partner(keys_dir, "320000", public_key_pem(_ROOT.public_key()), issuers=("CN-JS",), now=NOW)
        partner = load_partner(keys_dir, "320000")
        keys_of_version: dict[int, int] = {}
        held_version = 0
        for version, key_set, offset, delay in sends:
            ring = KeyRing("CN-JS", "320000", ALL_PRIVILEGES, (new_entry(_KEYS[key_set], NOW - DAY),))
            document = sign_document(payload_from_rings([ring], version=version, issued_at=NOW + offset), _ROOT)
            at = NOW + offset + delay  # 8 days: past the 7-day max age
            fresh = delay < 7 * DAY
            newer = version > held_version
            same = version == held_version and keys_of_version[version] == key_set
            expected_ok = fresh and (newer or same)
            try:
                import_partner_trust_list(keys_dir, "320000", document, at)
            except TrustListError:
                assert not expected_ok
            else:
                assert expected_ok
                keys_of_version.setdefault(version, key_set)
                held_version = version
            held = held_trust_list(keys_dir, partner, at)
            if held_version == 0:
                assert held is None
                continue
            assert held is not None and held.version == held_version
            assert [k.kid for k in held.keys] == [kid_of(_KEYS[keys_of_version[held_version]])]


def test_a_damaged_held_list_blocks_imports_instead_of_letting_an_old_list_in(setup: Setup) -> None:
    setup.register()
    directory.rotate(setup.jiangsu, passphrase=PASS, now=NOW)
    old = setup.partner_list(NOW)  # version 2
    directory.rotate(setup.jiangsu, passphrase=PASS, now=NOW + 1)
    import_partner_trust_list(setup.ours, "320000", setup.partner_list(NOW + 1), NOW + 1)  # version 3
    path = setup.ours / PARTNERS_DIR / "320000" / PARTNER_LIST_FILE
    path.write_bytes(path.read_bytes().replace(b'"version": 3', b'"version": 1'))  # damaged on disk
    with pytest.raises(TrustListError, match=r"the held list is unusable: .* no longer verifies"):
        import_partner_trust_list(setup.ours, "320000", old, NOW + 2)
    _, result = merge(setup.ours, NOW + 2, passphrase=PASS)
    assert "320000" in result.skipped and result.included == {}


_OUR_KEYS = [generate_private_key(ES256).public_key() for _ in range(3)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["rotate", "partner", "later", "same"]), st.integers(0, 2)), max_size=10))
def test_merged_versions_never_fall_and_one_version_means_one_set_of_keys(steps: list[tuple[str, int]]) -> None:
    """merge_payload, chained through its own (version, digest) as `merge` does, over any run of changes."""
    partner = Partner("320000", "", ("CN-JS",), ("age_over", "residence"), _ROOT.public_key(), NOW)
    ring = KeyRing("CN-SH", "310000", ALL_PRIVILEGES, (new_entry(_OUR_KEYS[0], NOW - DAY),))
    partner_list: TrustList | None = None
    partner_version, now = 0, NOW
    previous: tuple[int, str] | None = None
    digest_of: dict[int, str] = {}
    for action, which in steps:
        if action == "rotate":
            ring = ring.with_new_active(_OUR_KEYS[which], now)
        elif action == "partner":
            partner_version += 1
            theirs = KeyRing("CN-JS", "320000", ALL_PRIVILEGES, (new_entry(_KEYS[which], NOW - DAY),))
            document = sign_document(payload_from_rings([theirs], version=partner_version, issued_at=now), _ROOT)
            partner_list = load_trust_list(document, _ROOT.public_key(), now)
        elif action == "later":
            now += 4 * DAY  # may make the partner list stale, so its keys leave the merge
        result = merge_payload(ring, [(partner, partner_list)], now=now, previous=previous)
        assert previous is None or result.version >= previous[0]
        assert result.version >= ring.generation
        assert digest_of.setdefault(result.version, result.digest) == result.digest
        previous = (result.version, result.digest)
