"""Signed subject requests are scoped (issue 20, finding 4), on the real broker and worker: an
over-long validity, a request time ahead of the worker's clock, another deployment's request and
one naming no deployment are refused, answered and audited; the DPO key rotates through a verify
file holding both keys, and once the old key is removed its requests are refused."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.config import Settings
from streams.subjects.signing import SIGNATURE_HEADER, generate_key_pair, sign, signing_key
from tests.support.cli import cli
from tests.support.harness import WorkerProcess, query, wait_for_topics, worker_env
from tests.support.subject_requests import read_results, send_requests

PHONE = "+358501112299"


def _document(env: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """A request as the current DPO tool writes it, for the worker of `env`."""
    now = datetime.now(UTC)
    return {
        "request_id": str(uuid.uuid4()),
        "kind": "access",
        "phone": PHONE,
        "verified_by": "dpo-1",
        "deployment": {
            "topic_prefix": env["CONTACTSTREAM_TOPIC_PREFIX"],
            "app_id": env["CONTACTSTREAM_APP_ID"],
        },
        "verified_at": now.isoformat(),
        "requested_at": now.isoformat(),
        "expires_at": (now + timedelta(hours=1)).isoformat(),
        **overrides,
    }


def _signed(key: Ed25519PrivateKey, document: dict[str, Any]) -> tuple[bytes, list[Any]]:
    payload = orjson.dumps(document)
    return payload, [(SIGNATURE_HEADER, sign(key, payload))]


async def test_requests_are_scoped_and_the_key_rotates(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    old_private, old_public = generate_key_pair(tmp_path / "old")
    new_private, new_public = generate_key_pair(tmp_path / "new")
    old = signing_key(Settings(dpo_signing_key_file=old_private))
    new = signing_key(Settings(dpo_signing_key_file=new_private))
    verify_file = tmp_path / "dpo-verify-keys.pem"
    verify_file.write_bytes(old_public.read_bytes() + new_public.read_bytes())
    env = worker_env(
        kafka_bootstrap,
        unique_name,
        tmp_path / "state",
        CONTACTSTREAM_DPO_VERIFY_KEY_FILE=str(verify_file),
        CONTACTSTREAM_DPO_SIGNING_KEY_FILE=str(new_private),
    )
    now = datetime.now(UTC)
    ahead = (now + timedelta(hours=1)).isoformat()
    unscoped = _document(env)
    del unscoped["deployment"]  # as a DPO tool older than the deployment field signs it
    requests = {
        "by_old_key": _document(env),
        "by_new_key": _document(env),
        "too_long": _document(env, expires_at=(now + timedelta(days=30)).isoformat()),
        "in_future": _document(
            env,
            verified_at=ahead,
            requested_at=ahead,
            expires_at=(now + timedelta(hours=2)).isoformat(),
        ),
        "staging": _document(
            env, deployment={"topic_prefix": "staging", "app_id": env["CONTACTSTREAM_APP_ID"]}
        ),
        "unscoped": unscoped,
    }
    topics = [f"{unique_name}.subject-requests", f"{unique_name}.subject-results"]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, topics, worker)
        await send_requests(
            kafka_bootstrap,
            unique_name,
            [
                _signed(old if name == "by_old_key" else new, document)
                for name, document in requests.items()
            ],
        )
        first = await read_results(kafka_bootstrap, unique_name, len(requests), worker)
        worker.stop()
    answers = {r.request_id: f"{r.status} {r.detail}" for r in first}
    answer = {name: answers[document["request_id"]] for name, document in requests.items()}
    assert answer["by_old_key"].startswith("done 0 contacts exported"), answer
    assert answer["by_new_key"].startswith("done 0 contacts exported"), answer
    assert answer["too_long"].startswith("rejected validity_too_long"), answer
    assert answer["in_future"].startswith("rejected requested_in_future"), answer
    assert answer["staging"].startswith("rejected wrong_deployment"), answer
    assert answer["unscoped"].startswith("rejected unscoped"), answer

    # Rotation done: the workers hold only the new key from their restart on.
    verify_file.write_bytes(new_public.read_bytes())
    retired, current = _document(env), _document(env)
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, topics, worker)
        await send_requests(
            kafka_bootstrap, unique_name, [_signed(old, retired), _signed(new, current)]
        )
        await read_results(kafka_bootstrap, unique_name, len(requests) + 2, worker)  # worker is up
        exported = await asyncio.to_thread(
            cli, "subject", "export", "--phone", PHONE, "--verified-by", "dpo-1", env=env
        )
        second = await read_results(kafka_bootstrap, unique_name, len(requests) + 3, worker)
        worker.stop()
    assert exported.stdout.startswith("0 contacts exported"), "the DPO tool names its deployment"
    answers = {r.request_id: f"{r.status} {r.detail}" for r in second}
    assert answers[retired["request_id"]].startswith("rejected bad_signature")
    assert answers[current["request_id"]].startswith("done 0 contacts exported")

    audit = query(env, "SELECT status, detail FROM subject_request_log")[0]
    assert sorted(status for status, _ in audit) == ["done"] * 4 + ["rejected"] * 5
    codes = sorted(detail.split(":")[0] for status, detail in audit if status == "rejected")
    assert codes == [
        "bad_signature",
        "requested_in_future",
        "unscoped",
        "validity_too_long",
        "wrong_deployment",
    ]
    dump = json.dumps(query(env, "SELECT * FROM subject_request_log")[0], default=str)
    results = " ".join(r.detail for r in second)
    for text in (dump, results, worker.log_text()):
        assert PHONE not in text, "a refusal is answered and audited without the identifier"
