"""Whether a message on the subject-requests topic may be executed (pure).

Every message there is untrusted input: anyone with write access to the topic could send one.
A request is executed only if it carries a valid Ed25519 signature over its exact bytes by a DPO
key the worker trusts, validates, names this deployment, asks for no longer a validity than the
worker allows, was not made later than the worker's clock (give or take the skew), and has not
expired. Refusals say why with a code, never with a value from the request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final, Literal, NamedTuple, get_args

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from schemas.control import REQUEST_ID_PATTERN, Deployment, RequestKind, SubjectRequest
from streams.config import Settings
from streams.subjects.signing import SIGNATURE_HEADER, verify, verify_keys

RefusalCode = Literal[
    "unsigned",
    "bad_signature",
    "malformed",
    "unscoped",
    "wrong_deployment",
    "validity_too_long",
    "requested_in_future",
    "expired",
    "replayed",
]
REFUSAL_CODES: Final[tuple[RefusalCode, ...]] = get_args(RefusalCode)
# Clocks differ a little between the DPO's machine and the workers.
CLOCK_SKEW: Final = timedelta(minutes=5)
_UUID: Final = re.compile(REQUEST_ID_PATTERN)


class Policy(NamedTuple):
    """What a worker accepts beyond a well-formed request."""

    keys: Sequence[Ed25519PublicKey]
    """The DPO keys it trusts (two while the DPO key rotates)."""
    deployment: Deployment
    """Its own deployment: a request must name it."""
    max_validity: timedelta
    """The longest expires_at - requested_at it executes."""

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        """The worker's policy (reads the verify keys: a bad file is a one-line ConfigError)."""
        return cls(
            verify_keys(settings),
            settings.deployment,
            timedelta(seconds=settings.subject_request_ttl_seconds),
        )


class Refusal(NamedTuple):
    code: RefusalCode
    detail: str
    """Why, for the DPO and the audit; never a value from the request."""
    request_id: str | None
    """The request's id if it is a readable UUID (so the sender can be answered)."""
    kind: RequestKind | None


def authorize(
    value: bytes,
    headers: Iterable[tuple[str, bytes | None]],
    policy: Policy,
    now: datetime,
) -> SubjectRequest | Refusal:
    request_id, kind = readable_ids(value)
    signatures = [v for name, v in headers if name == SIGNATURE_HEADER and v is not None]
    if not signatures:
        return Refusal("unsigned", "the request carries no signature", request_id, kind)
    if len(signatures) > 1 or not verify(policy.keys, value, signatures[0]):
        return Refusal("bad_signature", "the signature does not verify", request_id, kind)
    try:
        request = SubjectRequest.from_json(value)
    except ValidationError as exc:
        return _malformed(exc, request_id, kind)
    refused = out_of_scope(request, policy, now)
    return request if refused is None else Refusal(*refused, request_id, kind)


def out_of_scope(
    request: SubjectRequest, policy: Policy, now: datetime
) -> tuple[RefusalCode, str] | None:
    """Why a validly signed request may not run here and now, or None."""
    if request.deployment != policy.deployment:
        # The request's own names are not repeated: they are whatever the sender wrote.
        return "wrong_deployment", (
            f"signed for another deployment (this one: topic prefix "
            f"{policy.deployment.topic_prefix}, app id {policy.deployment.app_id})"
        )
    validity = request.expires_at - request.requested_at
    if validity > policy.max_validity:
        return "validity_too_long", (
            f"valid for {validity.total_seconds():.0f} s, longer than this worker allows "
            f"({policy.max_validity.total_seconds():.0f} s: "
            "CONTACTSTREAM_SUBJECT_REQUEST_TTL_SECONDS)"
        )
    if request.requested_at > now + CLOCK_SKEW:
        ahead = (request.requested_at - now).total_seconds()
        return "requested_in_future", (
            f"requested {ahead:.0f} s ahead of the worker's clock "
            f"(clocks may differ by {CLOCK_SKEW.total_seconds():.0f} s)"
        )
    if now >= request.expires_at:
        return "expired", f"expired at {request.expires_at:%Y-%m-%dT%H:%M:%SZ}"
    return None


def _malformed(exc: ValidationError, request_id: str | None, kind: RequestKind | None) -> Refusal:
    errors = exc.errors()
    if any(e["loc"] == ("deployment",) and e["type"] == "missing" for e in errors):
        return Refusal(
            "unscoped",
            "the request names no deployment: a DPO tool older than the deployment field "
            "signed it; send it again with the current one",
            request_id,
            kind,
        )
    fields = sorted({".".join(map(str, e["loc"])) or "request" for e in errors})
    return Refusal("malformed", f"invalid: {', '.join(fields)[:200]}", request_id, kind)


def readable_ids(value: bytes) -> tuple[str | None, RequestKind | None]:
    """request_id and kind of an untrusted message, where they have the expected form."""
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    request_id = document.get("request_id")
    kind = document.get("kind")
    return (
        request_id if isinstance(request_id, str) and _UUID.fullmatch(request_id) else None,
        kind if kind in get_args(RequestKind) else None,
    )
