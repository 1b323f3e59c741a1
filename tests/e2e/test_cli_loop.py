"""The first end-to-end loop, driven through the installed `suishen` command as a person would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

SUISHEN = str(Path(sys.executable).parent / "suishen")
GATE = str(Path(sys.executable).parent / "suishen-gate")


def run(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*args], capture_output=True, text=True, env=env, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed: {result.stderr}")
    return result


def verify_json(trust: Path, keys: Path, code: str, env: dict[str, str]) -> dict[str, object]:
    """`suishen verify --json` on code text; its exit code is 1 for a rejection, so not checked."""
    result = run(
        SUISHEN,
        "verify",
        "--trust-list",
        str(trust),
        "--root",
        str(keys / "root.pub.pem"),
        code,
        "--json",
        env=env,
        check=False,
    )
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_keys_issue_png_and_verify_image(tmp_path: Path, env: dict[str, str]) -> None:
    keys = tmp_path / "keys"
    run(SUISHEN, "keys", "init", "--dir", str(keys), env=env)
    assert b"ENCRYPTED PRIVATE KEY" in (keys / "root.pem").read_bytes()
    trust = tmp_path / "trust.json"
    run(SUISHEN, "keys", "trust-list", "export", "--dir", str(keys), "--out", str(trust), env=env)
    listed = run(SUISHEN, "keys", "trust-list", "verify", str(trust), "--root", str(keys / "root.pub.pem"), env=env)
    assert "active" in listed.stdout

    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"subject": "00112233445566ff", "age_over": 65, "residence": 310000}))
    png = tmp_path / "code.png"
    text = run(
        SUISHEN, "issue", "--keys", str(keys), "--profile", str(profile), "--png", str(png), env=env
    ).stdout.strip()
    assert text.startswith("SP1:")

    out = run(
        SUISHEN,
        "verify",
        "--trust-list",
        str(trust),
        "--root",
        str(keys / "root.pub.pem"),
        "--image",
        str(png),
        "--json",
        env=env,
    ).stdout
    result = json.loads(out)
    assert result["result"] == "VALID"
    assert result["kind"] == "online"
    assert result["issuer"] == "CN-SH"
    assert result["profile"]["age_over"] == 65
    assert isinstance(result["latency_us"], int)

    gate = run(GATE, "decode", "--images", str(tmp_path), "--json", env=env).stdout.splitlines()
    assert json.loads(gate[0])["codes"] == [text]


def test_holder_bound_issue_and_verify_text(tmp_path: Path, env: dict[str, str]) -> None:
    keys = tmp_path / "keys"
    run(SUISHEN, "keys", "init", "--dir", str(keys), "--alg", "EdDSA", env=env)
    trust = tmp_path / "trust.json"
    run(SUISHEN, "keys", "trust-list", "export", "--dir", str(keys), "--out", str(trust), env=env)
    device = ec.generate_private_key(ec.SECP256R1())
    holder_key = tmp_path / "device.pem"
    holder_key.write_bytes(
        device.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"correct horse battery staple"),
        )
    )
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"subject": "aabbccddeeff0011", "martyr_family": True}))
    text = run(
        SUISHEN, "issue", "--keys", str(keys), "--profile", str(profile), "--holder-key", str(holder_key), env=env
    ).stdout.strip()
    first = json.loads(
        run(
            SUISHEN, "verify", "--trust-list", str(trust), "--root", str(keys / "root.pub.pem"), text, "--json", env=env
        ).stdout
    )
    assert first["result"] == "VALID" and first["kind"] == "holder_bound"
    assert first["profile"]["martyr_family"] is True


def test_rotation_and_revocation_reach_the_verifier(tmp_path: Path, env: dict[str, str]) -> None:
    keys = tmp_path / "keys"
    run(SUISHEN, "keys", "init", "--dir", str(keys), env=env)
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"subject": "0102030405060708", "age_over": 60}))
    old_code = run(SUISHEN, "issue", "--keys", str(keys), "--profile", str(profile), env=env).stdout.strip()
    old_kid = json.loads((keys / "ring.json").read_text())["keys"][0]["kid"]
    run(SUISHEN, "keys", "rotate", env=dict(env, SUISHEN_KEYS_DIR=str(keys)))  # the folder from the environment
    trust = tmp_path / "trust.json"
    run(SUISHEN, "keys", "trust-list", "export", "--dir", str(keys), "--out", str(trust), env=env)
    still = verify_json(trust, keys, old_code, env)
    assert still["result"] == "VALID"

    new_code = run(SUISHEN, "issue", "--keys", str(keys), "--profile", str(profile), env=env).stdout.strip()
    run(SUISHEN, "keys", "revoke", old_kid, "--dir", str(keys), env=env)
    run(SUISHEN, "keys", "trust-list", "export", "--dir", str(keys), "--out", str(trust), env=env)
    after = verify_json(trust, keys, old_code, env)
    assert after["reason"] == "KEY_REVOKED"
    new = verify_json(trust, keys, new_code, env)
    assert new["result"] == "VALID"


def test_bad_inputs_get_one_line_errors(tmp_path: Path, env: dict[str, str]) -> None:
    keys = tmp_path / "keys"
    no_secret = {k: v for k, v in env.items() if not k.startswith("SUISHEN_")}
    refused = run(SUISHEN, "keys", "init", "--dir", str(keys), env=no_secret, check=False)
    assert refused.returncode == 2
    assert "refusing to write an unencrypted private key" in refused.stderr
    assert "Traceback" not in refused.stderr

    run(SUISHEN, "keys", "init", "--dir", str(keys), env=env)
    again = run(SUISHEN, "keys", "init", "--dir", str(keys), env=env, check=False)
    assert again.returncode == 2 and "already exists" in again.stderr

    wrong = dict(env, SUISHEN_KEY_PASSPHRASE_FILE=str(tmp_path / "missing"))
    denied = run(SUISHEN, "keys", "rotate", "--dir", str(keys), env=wrong, check=False)
    assert denied.returncode == 2 and "cannot read passphrase file" in denied.stderr

    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"subject": "zz", "age_over": 66, "name": "someone"}))
    bad = run(SUISHEN, "issue", "--keys", str(keys), "--profile", str(profile), env=env, check=False)
    assert bad.returncode == 2
    assert "unknown field 'name'" in bad.stderr and "subject must be hex" in bad.stderr
    assert "Traceback" not in bad.stderr

    trust = tmp_path / "trust.json"
    run(SUISHEN, "keys", "trust-list", "export", "--dir", str(keys), "--out", str(trust), env=env)
    garbage = run(
        SUISHEN,
        "verify",
        "--trust-list",
        str(trust),
        "--root",
        str(keys / "root.pub.pem"),
        "SP1:not base45 at all",
        "--json",
        env=env,
        check=False,
    )
    assert garbage.returncode == 1
    assert json.loads(garbage.stdout)["reason"] == "MALFORMED_BASE45"

    tampered = trust.read_text().replace('"status": "active"', '"status": "retired"')
    trust.write_text(tampered)
    refused_list = run(
        SUISHEN, "keys", "trust-list", "verify", str(trust), "--root", str(keys / "root.pub.pem"), env=env, check=False
    )
    assert refused_list.returncode == 2 and "signature is not valid" in refused_list.stderr

    not_image = tmp_path / "note.png"
    not_image.write_text("hello")
    unreadable = run(
        SUISHEN,
        "verify",
        "--trust-list",
        str(trust),
        "--root",
        str(keys / "root.pub.pem"),
        "--image",
        str(not_image),
        env=env,
        check=False,
    )
    assert unreadable.returncode == 2 and "Traceback" not in unreadable.stderr


def test_demo_runs_the_whole_loop(tmp_path: Path, env: dict[str, str]) -> None:
    result = run(SUISHEN, "demo", "--out", str(tmp_path / "demo"), env=env)
    assert "REPLAYED" in result.stdout and "VALID" in result.stdout
    assert len(list((tmp_path / "demo").glob("*.png"))) == 8
