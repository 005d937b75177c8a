"""Who may act on personal data, and secrets that never leak: signed subject requests, export
paths that stay inside their directory, DSNs that never show a password, and a production
worker that refuses placeholder secrets."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.control import SubjectRequest
from streams.config import CHANNELS, PLACEHOLDER_SALT, Settings, redact_dsn
from streams.errors import ConfigError
from streams.files import write_atomically
from streams.kafka.acls import ADMIN, Acl, acl_drift, declared_acls
from streams.subjects.authorize import Policy, Refusal, authorize, readable_ids
from streams.subjects.exports import export_file
from streams.subjects.signing import (
    SIGNATURE_HEADER,
    generate_key_pair,
    sign,
    signing_key,
    verify,
    verify_keys,
)
from streams.worker.startup import check_secrets, salt_problem
from tests.support.cli import run

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REQUEST_ID = "0f6b3a52-8d0e-4c57-9a61-3c2f7a9e1b44"


def request_bytes(**overrides: object) -> bytes:
    document = {
        "request_id": REQUEST_ID,
        "kind": "erasure",
        "phone": "+358501234567",
        "verified_by": "dpo-1",
        "deployment": Settings().deployment,
        "verified_at": NOW - timedelta(minutes=5),
        "requested_at": NOW - timedelta(minutes=1),
        "expires_at": NOW + timedelta(hours=23),
        **overrides,
    }
    return SubjectRequest.model_validate(document).to_json()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    directory = tmp_path_factory.mktemp("keys")
    private, public = generate_key_pair(directory)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    return Settings(dpo_signing_key_file=private, dpo_verify_key_file=public)


def test_only_a_signed_valid_current_request_is_executed(keys: Settings) -> None:
    private, policy = signing_key(keys), Policy.of(keys)
    payload = request_bytes()
    signed = [(SIGNATURE_HEADER, sign(private, payload))]
    assert isinstance(authorize(payload, signed, policy, NOW), SubjectRequest)

    def refusal(value: bytes, headers: list[tuple[str, bytes | None]], at: datetime) -> str:
        verdict = authorize(value, headers, policy, at)
        assert isinstance(verdict, Refusal)
        assert "+358501234567" not in verdict.detail
        return verdict.code

    assert refusal(payload, [], NOW) == "unsigned"
    forged = payload.replace(b"erasure", b"access  ")
    assert refusal(forged, signed, NOW) == "bad_signature"
    other = Ed25519Other.sign(payload)
    assert refusal(payload, [(SIGNATURE_HEADER, other)], NOW) == "bad_signature"
    assert refusal(payload, [(SIGNATURE_HEADER, b"not base64!")], NOW) == "bad_signature"
    assert refusal(payload, [*signed, *signed], NOW) == "bad_signature"
    assert refusal(payload, signed, NOW + timedelta(hours=25)) == "expired"
    assert refusal(payload, signed, NOW - timedelta(hours=1)) == "requested_in_future"
    broken = b'{"request_id": "%s", "kind": "erasure", "deployment": {}}' % REQUEST_ID.encode()
    assert refusal(broken, [(SIGNATURE_HEADER, sign(private, broken))], NOW) == "malformed"


class Ed25519Other:
    """A key the worker does not know (an attacker's own pair)."""

    @staticmethod
    def sign(payload: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return sign(Ed25519PrivateKey.generate(), payload)


def test_only_uuid_request_ids_are_read_back() -> None:
    assert readable_ids(request_bytes()) == (REQUEST_ID, "erasure")
    assert readable_ids(b'{"request_id": "../../x", "kind": "drop"}') == (None, None)
    assert readable_ids(b"\xff") == (None, None)


def test_export_files_stay_inside_their_directory(tmp_path: Path) -> None:
    assert export_file(tmp_path, REQUEST_ID) == tmp_path.resolve() / f"{REQUEST_ID}.json"
    for hostile in ("../../x", "/etc/passwd", f"{REQUEST_ID}/../../x", "a" * 36, ""):
        with pytest.raises(ConfigError):
            export_file(tmp_path, hostile)


def test_exports_are_private_and_never_follow_a_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me")
    path = export_file(tmp_path / "exports", REQUEST_ID)
    path.parent.mkdir()
    path.symlink_to(target)  # planted by someone who could write the directory
    write_atomically(path, b"{}")
    assert target.read_text() == "keep me"
    assert not path.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file left"


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("http://writer:s3cret@ch:8123/db", "http://writer:***@ch:8123/db"),
        ("http://writer:p#a/s?s@w@rd@ch:8123/db", "http://writer:***@ch:8123/db"),
        ("https://ch:8443/db?password=s3cret", "https://ch:8443/db?***"),
        ("http://tok3n@ch/db", "http://***@ch/db"),
        ("chdb:///var/lib/contactstream", "chdb:///var/lib/contactstream"),
        ("not a url s3cret", "***"),
    ],
)
def test_dsn_display_masks_every_password(dsn: str, shown: str) -> None:
    assert redact_dsn(dsn) == shown


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=6, max_size=40))
def test_no_password_survives_display(password: str) -> None:
    secret = "Zq" + password + "Zq"
    for dsn in (f"http://u:{secret}@h:8123/db", f"https://h/db?password={secret}"):
        assert secret not in redact_dsn(dsn)


SALT = "k3Jd9-xQ2_vLm8ZpR4tYw7NcB1hGfE6s"  # 32 characters, the fewest production accepts


def test_production_refuses_placeholder_secrets(tmp_path: Path, keys: Settings) -> None:
    with pytest.raises(ConfigError, match="SUBJECT_KEY_SALT is the placeholder"):
        check_secrets(Settings(mode="production", data_dir=tmp_path))
    with pytest.raises(ConfigError, match="DPO_VERIFY_KEY_FILE is not set"):
        check_secrets(Settings(mode="production", subject_key_salt=SALT, data_dir=tmp_path))
    production = {**keys.model_dump(), "subject_key_salt": SALT, "mode": "production"}
    check_secrets(Settings(**production))
    check_secrets(Settings(mode="dev", data_dir=tmp_path))  # dev: a pair is made under data_dir
    assert (tmp_path / "keys" / "dpo-verify-key.pem").is_file()


def test_keys_generate_refuses_to_overwrite(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "keys", "generate", str(tmp_path / "k"))
    assert code == 0
    assert "dpo-signing-key.pem" in out
    code, _, err = run(capsys, "keys", "generate", str(tmp_path / "k"))
    assert code == 1
    assert err.count("\n") == 1
    assert "exists already" in err


def test_worker_refuses_the_placeholder_salt_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACTSTREAM_MODE", "production")
    code, _, err = run(capsys, "worker", "--no-setup")
    assert code == 1
    assert err.strip() == (
        "contactstream: error: CONTACTSTREAM_SUBJECT_KEY_SALT is the placeholder; set a random "
        "secret of at least 32 characters, e.g. from deploy/secrets/make-secrets.sh "
        "(or CONTACTSTREAM_MODE=dev on a test machine)"
    )
    assert os.environ["CONTACTSTREAM_MODE"] == "production"


@pytest.mark.parametrize(
    ("salt", "problem"),
    [
        ("", "is 0 characters long"),
        ("s", "is 1 characters long"),
        ("x" * 31, "is 31 characters long"),
        ("ab" * 20, "repeats a few characters (2 distinct)"),
    ],
)
def test_worker_refuses_a_short_or_repetitive_salt_without_showing_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, salt: str, problem: str
) -> None:
    monkeypatch.setenv("CONTACTSTREAM_MODE", "production")
    monkeypatch.setenv("CONTACTSTREAM_SUBJECT_KEY_SALT", salt)
    code, _, err = run(capsys, "worker", "--no-setup")
    assert code == 1
    assert err.startswith(f"contactstream: error: CONTACTSTREAM_SUBJECT_KEY_SALT {problem}; ")
    assert len(err.strip().splitlines()) == 1
    if len(salt) > 1:
        assert salt not in err, "the salt itself is never shown"


def test_a_random_salt_of_32_characters_passes() -> None:
    assert salt_problem(secrets.token_urlsafe(24)) is None
    assert salt_problem(PLACEHOLDER_SALT) == "is the placeholder"


def test_only_the_worker_reads_raw_topics_and_the_operator_too_the_dlq() -> None:
    settings = Settings(topic_prefix="contacts", app_id="contactstream")
    acls = declared_acls(settings)
    reads = {(acl.principal, acl.resource) for acl in acls if acl.operation == "READ"}
    assert {p for p, r in reads if ".raw." in r} == {"worker"}
    assert {p for p, r in reads if r == "contacts.dlq"} == {"worker", "operator"}
    operator = {(a.operation, a.resource) for a in acls if a.principal == "operator"}
    assert operator == {
        ("READ", "contacts.dlq"),
        ("READ", "contacts.dlq-actions"),
        ("WRITE", "contacts.dlq-actions"),
        *(("WRITE", f"contacts.raw.{channel}") for channel in CHANNELS),
    }
    writers = {(a.principal, a.resource) for a in acls if a.operation == "WRITE"}
    assert ("producer-sms", "contacts.raw.sms") in writers
    assert not {w for w in writers if w[0] == "producer-sms"} - {
        ("producer-sms", "contacts.raw.sms")
    }
    assert {p for p, r in writers if r == "contacts.subject-requests"} == {"dpo"}
    assert ADMIN not in {acl.principal for acl in acls}  # the super user needs none


def test_acl_drift_judges_only_this_deployment() -> None:
    settings = Settings(topic_prefix="contacts", app_id="contactstream")
    declared = declared_acls(settings)
    granted = Acl("producer-sms", "TOPIC", "contacts.raw.sms", "LITERAL", "READ")
    elsewhere = Acl("producer-sms", "TOPIC", "other.raw.sms", "LITERAL", "WRITE")
    stranger = Acl("alice", "TOPIC", "contacts.raw.sms", "LITERAL", "READ")  # reaches us too
    missing, extra = acl_drift(declared, declared | {granted, elsewhere, stranger}, settings)
    assert (missing, extra) == (set(), {granted, stranger})
    one = next(iter(declared))
    assert acl_drift(declared, declared - {one}, settings) == ({one}, set())


def test_the_compose_secrets_script_makes_working_keys(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "deploy" / "secrets" / "make-secrets.sh"
    out = tmp_path / "secrets"
    subprocess.run(["bash", str(script), str(out)], check=True, capture_output=True, timeout=120)
    made = Settings(
        dpo_signing_key_file=out / "dpo-signing-key.pem",
        dpo_verify_key_file=out / "dpo-verify-key.pem",
    )
    assert verify(verify_keys(made), b"x", sign(signing_key(made), b"x"))
    chain = subprocess.run(
        ["openssl", "verify", "-CAfile", str(out / "ca.pem"), str(out / "kafka.pem")],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert chain.returncode == 0, chain.stderr
    assert stat.S_IMODE((out / "dpo-signing-key.pem").stat().st_mode) == 0o600
    dsn = (out / "contactstream_clickhouse_dsn").read_text()
    assert (out / "clickhouse_worker_password").read_text() in dsn
    again = subprocess.run(
        ["bash", str(script), str(out)], check=True, capture_output=True, text=True, timeout=120
    )
    assert "made" not in again.stdout, "a rerun rotates nothing"
