"""Whether a message on the subject-requests topic may be executed (pure).

Every message there is untrusted input: anyone with write access to the topic could send one.
A request is executed only if it carries a valid Ed25519 signature of the DPO tool over its exact
bytes, validates, and is within its validity window. Refusals say why without the identifier.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final, Literal, NamedTuple, get_args

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from schemas.control import REQUEST_ID_PATTERN, RequestKind, SubjectRequest
from streams.signing import SIGNATURE_HEADER, verify

RefusalCode = Literal["unsigned", "bad_signature", "malformed", "expired", "replayed"]
REFUSAL_CODES: Final[tuple[RefusalCode, ...]] = get_args(RefusalCode)
# Clocks differ a little between the DPO's machine and the workers.
CLOCK_SKEW: Final = timedelta(minutes=5)
_UUID: Final = re.compile(REQUEST_ID_PATTERN)


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
    key: Ed25519PublicKey,
    now: datetime,
) -> SubjectRequest | Refusal:
    request_id, kind = readable_ids(value)
    signatures = [v for name, v in headers if name == SIGNATURE_HEADER and v is not None]
    if not signatures:
        return Refusal("unsigned", "the request carries no signature", request_id, kind)
    if len(signatures) > 1 or not verify(key, value, signatures[0]):
        return Refusal("bad_signature", "the signature does not verify", request_id, kind)
    try:
        request = SubjectRequest.from_json(value)
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) or "request" for e in exc.errors()})
        return Refusal("malformed", f"invalid: {', '.join(fields)[:200]}", request_id, kind)
    if now >= request.expires_at:
        return Refusal(
            "expired", f"expired at {request.expires_at:%Y-%m-%dT%H:%M:%SZ}", request_id, kind
        )
    if request.requested_at > now + CLOCK_SKEW:
        return Refusal("expired", "requested in the future", request_id, kind)
    return request


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
