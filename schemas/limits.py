"""Runtime limits of validation, passed to pydantic as the validation context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import phonenumbers

DEFAULT_MAX_TEXT_BYTES = 65_536
DEFAULT_REGION = "FI"
MAX_FORM_FIELDS = 50  # part of the published JSON Schema (maxProperties), so not a runtime knob


@dataclass(frozen=True, slots=True)
class Limits:
    """Limits a deployment may tune (Settings.max_text_bytes, Settings.phone_default_region).

    `max_text_bytes` bounds content, subject and every form field value (UTF-8 bytes);
    `default_region` is the region assumed for phone numbers written without a country code.
    """

    max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES
    default_region: str = DEFAULT_REGION

    def __post_init__(self) -> None:
        if self.max_text_bytes < 1:
            raise ValueError("max_text_bytes must be at least 1")
        if self.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("default_region must be a two-letter region phonenumbers knows")


DEFAULT_LIMITS = Limits()


def limits_of(context: Any) -> Limits:
    """The limits given as validation context, or the defaults when none (or another) was given."""
    return context if isinstance(context, Limits) else DEFAULT_LIMITS
