"""Turn pydantic validation errors into a rejection code and a reason free of personal data.

pydantic's own messages may quote the input, and error locations may hold keys taken from the
payload (form field names), so reasons are built here from the error type, whitelisted context
values that come from the schema, and field names the models declare.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any, Final, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from schemas.types import PRINTABLE_PATTERN

# Codes, most decisive first: a payload that is not JSON, not an object, of a version or of a
# channel this model does not describe is reported as that, whatever else is wrong with it.
REJECTION_CODES: Final = (
    "invalid_json",
    "not_an_object",
    "unknown_schema_version",
    "wrong_channel",
    "invalid_id",
    "missing_field",
    "naive_timestamp",
    "invalid_phone",
    "invalid_email",
    "too_large",
    "time_order",
    "invalid_field",
)
PROCESSING_CODES: Final = ("future_timestamp", "storage_rejected")
"""Codes of events that validated but that the pipeline still refused (docs/producers.md)."""
_RANK: Final = {code: rank for rank, code in enumerate(REJECTION_CODES)}
_MAX_LISTED = 5
MAX_REASON_CHARS: Final = 1024

# Error types our own validators raise carry the code as type and a value-free message.
_OWN_TYPES: Final = frozenset(REJECTION_CODES)
_TYPE_CODES: Final = {
    "json_invalid": "invalid_json",
    "json_type": "invalid_json",
    "missing": "missing_field",
    "timezone_aware": "naive_timestamp",
}
# Codes of an error type at one place (None: the payload as a whole).
_PLACE_CODES: Final[dict[tuple[int | str | None, str], str]] = {
    (None, "model_type"): "not_an_object",
    ("schema_version", "greater_than_equal"): "unknown_schema_version",
    ("schema_version", "less_than_equal"): "unknown_schema_version",
    ("channel", "literal_error"): "wrong_channel",
}
# A wrong type or length of these fields is reported under the field's own code.
_FIELD_CODES: Final = {
    "event_id": "invalid_id",
    "contact_id": "invalid_id",
    "request_id": "invalid_id",
    "caller_phone": "invalid_phone",
    "sender_phone": "invalid_phone",
    "phone": "invalid_phone",
    "sender_email": "invalid_email",
    "email": "invalid_email",
}
_TEXTS: Final = {
    "json_invalid": "payload is not valid UTF-8 JSON",
    "json_type": "payload is not valid UTF-8 JSON",
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "missing": "required",
    "string_type": "must be a string",
    "string_too_short": "must not be empty",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "does not have the required form",
    "int_type": "must be an integer",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "literal_error": "must be one of {expected}",
    "bool_type": "must be true or false",
    "bytes_type": "must be base64 text",
    "datetime_type": "must be an RFC 3339 timestamp string",
    "datetime_parsing": "is not an RFC 3339 timestamp",
    "datetime_from_date_parsing": "is not an RFC 3339 timestamp",
    "timezone_aware": "timestamp has no UTC offset",
    "extra_forbidden": "is not a known field",
}
# Context values that come from the schema, never from the input.
_SAFE_CONTEXT: Final = frozenset({"max_length", "min_length", "ge", "le", "expected"})


def describe(exc: ValidationError, model: type[BaseModel]) -> tuple[str, str]:
    """(code, reason) for a failed validation of `model`: the most decisive code, all errors."""
    errors = exc.errors(include_url=False, include_input=False)
    names = _field_names(model)
    codes = [_code(error) for error in errors]  # a ValidationError holds at least one
    reasons = [_reason(error, code, names) for error, code in zip(errors, codes, strict=True)]
    if len(reasons) > _MAX_LISTED:
        reasons[_MAX_LISTED:] = [f"and {len(reasons) - _MAX_LISTED} more"]
    return min(codes, key=_RANK.__getitem__), "; ".join(reasons)[:MAX_REASON_CHARS]


def _code(error: ErrorDetails) -> str:
    kind, loc = error["type"], error["loc"]
    if kind in _OWN_TYPES:
        return kind
    top = loc[0] if loc else None
    if (top, kind) in _PLACE_CODES:
        return _PLACE_CODES[top, kind]
    if kind.startswith("string_") and isinstance(top, str) and top in _FIELD_CODES:
        return _FIELD_CODES[top]
    return _TYPE_CODES.get(kind, "invalid_field")


def _reason(error: ErrorDetails, code: str, names: frozenset[str]) -> str:
    where = _location(error["loc"], names)
    if code == "unknown_schema_version":
        text = "unknown schema version; see docs/producers.md for the known ones"
    elif error["type"] in _OWN_TYPES:
        text = error["msg"]  # written by our validators from schema constants only
    elif (error.get("ctx") or {}).get("pattern") == PRINTABLE_PATTERN:
        text = "must hold printable characters only (no control or format characters)"
    else:
        text = _TEXTS.get(error["type"], "is not valid ({type})").format(
            type=error["type"], **_safe_context(error.get("ctx"))
        )
    return f"field '{where}': {text}" if where else text


def _safe_context(ctx: dict[str, Any] | None) -> dict[str, Any]:
    return {key: value for key, value in (ctx or {}).items() if key in _SAFE_CONTEXT}


def _location(loc: Iterable[int | str], names: frozenset[str]) -> str:
    """'fields[*]', 'correction.value': declared names and indexes only, never payload keys."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in names:
            parts.append(f".{item}" if parts else item)
        elif not parts or parts[-1] != "[*]":
            parts.append("[*]")
    return "".join(parts)


@cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    """Field names `model` and the models nested in it declare."""
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for nested in _models_in(field.annotation):
            names |= _field_names(nested)
    return frozenset(names)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models_in(arg)
