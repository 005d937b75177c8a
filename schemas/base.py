"""The base of every model here: frozen, with JSON bytes in and out."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict

from schemas.limits import DEFAULT_LIMITS, Limits


class JsonModel(BaseModel):
    """A frozen model that reads and writes UTF-8 JSON bytes (what Kafka carries)."""

    # Field docstrings become the descriptions in the producers' JSON Schemas. Inputs are kept
    # out of ValidationError texts, and personal fields (repr=False) out of reprs, so neither
    # can carry personal data into a log line (DESIGN P6).
    model_config = ConfigDict(
        frozen=True, extra="ignore", use_attribute_docstrings=True, hide_input_in_errors=True
    )

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, timestamps as RFC 3339 in UTC."""
        return self.__pydantic_serializer__.to_json(self)

    @classmethod
    def from_json(cls, data: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Self:
        """Validate JSON; raises pydantic.ValidationError (see schemas.validate for a safe path)."""
        return cls.model_validate_json(data, context=limits)
