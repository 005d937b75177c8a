"""What a signed subject request may ask of a worker (issue 20, finding 4): a validity no longer
than the worker's limit, a request time not ahead of its clock, this deployment by name, and a
signature by any of the DPO keys it trusts (so the DPO key rotates without a failing window).
Pure rules over real Ed25519 keys; the worker's clock is passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.control import Deployment, SubjectRequest
from streams.config import Settings
from streams.errors import ConfigError
from streams.subjects.authorize import Policy, Refusal, authorize
from streams.subjects.signing import SIGNATURE_HEADER, generate_key_pair, sign, verify_keys
from tests.support.cli import run

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
PHONE = "+358501234567"
HERE = Deployment(topic_prefix="contacts", app_id="contactstream")
OLD, NEW = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
POLICY = Policy((OLD.public_key(), NEW.public_key()), HERE, timedelta(hours=24))


def document(**overrides: Any) -> dict[str, Any]:
    return {
        "request_id": "0f6b3a52-8d0e-4c57-9a61-3c2f7a9e1b44",
        "kind": "erasure",
        "phone": PHONE,
        "verified_by": "dpo-1",
        "deployment": {"topic_prefix": "contacts", "app_id": "contactstream"},
        "verified_at": (NOW - timedelta(minutes=5)).isoformat(),
        "requested_at": (NOW - timedelta(minutes=1)).isoformat(),
        "expires_at": (NOW + timedelta(hours=23)).isoformat(),
        **overrides,
    }


def verdict(
    doc: dict[str, Any], key: Ed25519PrivateKey = NEW, policy: Policy = POLICY, now: datetime = NOW
) -> SubjectRequest | Refusal:
    payload = orjson.dumps(doc)
    return authorize(payload, [(SIGNATURE_HEADER, sign(key, payload))], policy, now)


def refusal(doc: dict[str, Any], **kwargs: Any) -> Refusal:
    found = verdict(doc, **kwargs)
    assert isinstance(found, Refusal), found
    assert PHONE not in found.detail, "a refusal never carries a personal value"
    assert found.request_id == doc["request_id"], "the sender is answered"
    return found


def test_a_current_request_for_this_deployment_is_accepted() -> None:
    accepted = verdict(document())
    assert isinstance(accepted, SubjectRequest)
    assert accepted.deployment == HERE


def test_a_validity_longer_than_the_limit_is_refused() -> None:
    # The finding's example: signed in 2020, expiring in 2099.
    ancient = document(
        verified_at="2020-01-01T00:00:00Z",
        requested_at="2020-01-01T00:00:00Z",
        expires_at="2099-01-01T00:00:00Z",
    )
    found = refusal(ancient)
    assert found.code == "validity_too_long"
    assert "86400 s" in found.detail
    week = document(expires_at=(NOW + timedelta(days=7)).isoformat())
    assert refusal(week).code == "validity_too_long"
    exactly = document(
        requested_at=NOW.isoformat(), expires_at=(NOW + timedelta(hours=24)).isoformat()
    )
    assert isinstance(verdict(exactly), SubjectRequest), "the limit itself is allowed"


def test_a_request_time_ahead_of_the_clock_beyond_the_skew_is_refused() -> None:
    ahead = document(
        verified_at=(NOW + timedelta(hours=1)).isoformat(),
        requested_at=(NOW + timedelta(hours=1)).isoformat(),
        expires_at=(NOW + timedelta(hours=2)).isoformat(),
    )
    assert refusal(ahead).code == "requested_in_future"
    within = document(
        verified_at=NOW.isoformat(),
        requested_at=(NOW + timedelta(minutes=4)).isoformat(),
        expires_at=(NOW + timedelta(hours=2)).isoformat(),
    )
    assert isinstance(verdict(within), SubjectRequest), "clocks may differ by the skew"
    assert refusal(document(), now=NOW + timedelta(hours=23)).code == "expired"


def test_another_deployments_request_is_refused() -> None:
    staging = document(deployment={"topic_prefix": "staging", "app_id": "contactstream"})
    found = refusal(staging)
    assert found.code == "wrong_deployment"
    assert "staging" not in found.detail, "the request's own values are not echoed"
    other_app = document(deployment={"topic_prefix": "contacts", "app_id": "contactstream-2"})
    assert refusal(other_app).code == "wrong_deployment"


def test_a_request_from_an_older_tool_without_a_deployment_is_refused() -> None:
    older = document()
    del older["deployment"]
    found = refusal(older)
    assert found.code == "unscoped"
    assert "older" in found.detail


def test_any_trusted_key_verifies_and_an_untrusted_one_does_not() -> None:
    assert isinstance(verdict(document(), key=OLD), SubjectRequest)
    assert isinstance(verdict(document(), key=NEW), SubjectRequest)
    rotated = POLICY._replace(keys=(NEW.public_key(),))
    assert refusal(document(), key=OLD, policy=rotated).code == "bad_signature"
    assert isinstance(verdict(document(), key=NEW, policy=rotated), SubjectRequest)


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _raw(settings: Settings) -> list[bytes]:
    return [
        k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        for k in verify_keys(settings)
    ]


def test_the_verify_key_file_holds_several_keys_or_is_a_directory(tmp_path: Path) -> None:
    raw = [
        k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        for k in (OLD, NEW)
    ]
    both = tmp_path / "verify.pem"
    both.write_bytes(b"# old, retire after the switch\n" + _pem(OLD) + b"\n# new\n" + _pem(NEW))
    assert _raw(Settings(dpo_verify_key_file=both)) == raw
    directory = tmp_path / "keys"
    directory.mkdir()
    (directory / "1-old.pem").write_bytes(_pem(OLD))
    (directory / "2-new.pem").write_bytes(_pem(NEW))
    (directory / "README").write_text("not a key")
    assert _raw(Settings(dpo_verify_key_file=directory)) == raw
    private, _ = generate_key_pair(tmp_path / "pair")
    with pytest.raises(ConfigError, match="private key"):
        verify_keys(Settings(dpo_verify_key_file=private))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no PEM public key"):
        verify_keys(Settings(dpo_verify_key_file=empty))
    broken = tmp_path / "broken.pem"
    broken.write_bytes(_pem(OLD).replace(b"MCow", b"XXXX"))
    with pytest.raises(ConfigError, match="not an Ed25519 public key"):
        verify_keys(Settings(dpo_verify_key_file=broken))


def test_the_settings_name_the_deployment_and_the_longest_validity(tmp_path: Path) -> None:
    _, public = generate_key_pair(tmp_path)
    settings = Settings(
        topic_prefix="staging",
        app_id="cs-staging",
        dpo_verify_key_file=public,
        subject_request_ttl_seconds=3600,
    )
    policy = Policy.of(settings)
    assert policy.deployment == Deployment(topic_prefix="staging", app_id="cs-staging")
    assert settings.deployment == policy.deployment, "the DPO tool signs what the worker expects"
    assert policy.max_validity == timedelta(hours=1)
    assert len(policy.keys) == 1


def test_the_worker_refuses_the_dpo_secret_as_its_verify_key_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    private, _ = generate_key_pair(tmp_path)
    monkeypatch.setenv("CONTACTSTREAM_MODE", "dev")
    monkeypatch.setenv("CONTACTSTREAM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CONTACTSTREAM_DPO_VERIFY_KEY_FILE", str(private))
    code, _, err = run(capsys, "worker", "--no-setup")
    assert code == 1
    assert err.strip() == (
        f"contactstream: error: CONTACTSTREAM_DPO_VERIFY_KEY_FILE: {private} holds a private "
        "key; give the workers only the public one (dpo-verify-key.pem of 'contactstream keys "
        "generate')"
    )


def test_keys_help_says_how_to_rotate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "--help")
    assert code == 0
    for step in ("keys generate NEWDIR", "next to the old one", "SIGNING_KEY_FILE", "remove"):
        assert step in out
