"""Contender for bench/pipeline.py: `contactstream worker` with validation switched off.

Everything else is the worker's own code: the batch consumer, rows, the redacted-contact lookup,
the ClickHouse sink with its deduplication tokens, the DLQ writer and the commits. Only
`parse_events` is replaced by a trusting decoder: `orjson.loads`, ISO times read with
`datetime.fromisoformat`, the channel model's instance filled directly (no pydantic validation,
no normalization, no checks), then the model's own `to_contact_event`. So the difference between
this contender and the worker is the price of validation: the bound of this design on this
machine. What the decoder cannot read (the simulator's truncated JSON, a time without offset,
a missing field) goes to the real parser and the DLQ; invalid values it can read (a bad phone
number) are stored as if valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from pydantic_core import PydanticUndefined

from schemas.contact import ContactEvent
from schemas.limits import Limits
from schemas.validate import CHANNEL_MODELS, Rejection, parse_event
from streams.config import Settings
from streams.worker.startup import Setup


@cache
def _defaults(model: Any) -> dict[str, Any]:
    return {name: field.default for name, field in model.model_fields.items()}


def _trusted(payload: bytes, model: Any) -> ContactEvent:
    document = orjson.loads(payload)
    for name, value in document.items():
        if name.endswith("_at") and isinstance(value, str):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("a time without its offset")  # the real parser's to refuse
            document[name] = moment
    values = {**_defaults(model), **document}
    if any(value is PydanticUndefined for value in values.values()):
        raise ValueError("a required field is missing")  # the real parser's to refuse
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(document))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    event: ContactEvent = instance.to_contact_event()
    return event


def parse_without_validation(
    channel: str, payloads: Sequence[bytes], limits: Limits
) -> list[ContactEvent | Rejection]:
    model = CHANNEL_MODELS[channel]
    results: list[ContactEvent | Rejection] = []
    for payload in payloads:
        try:
            results.append(_trusted(payload, model))
        except Exception:
            results.append(parse_event(channel, payload, limits))
    return results


if __name__ == "__main__":
    # As `contactstream worker` does: set-up begun before the worker's modules are imported.
    settings = Settings()
    begun = Setup(settings, setup=True)
    from streams.ingest import service as normalizer
    from streams.worker.main import run_worker

    normalizer.parse_events = parse_without_validation  # type: ignore[assignment]
    run_worker(settings, begun=begun)
