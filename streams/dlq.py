"""Dead letters: an invalid event's bytes, its origin and why (a reason without personal data)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from schemas.control import DeadLetter


def dead_letter(message: Any, code: str, reason: str, contact_id: str | None) -> DeadLetter:
    """Build a DeadLetter from a faust/aiokafka message (topic, partition, offset, key, value)."""
    key = message.key
    return DeadLetter(
        original=message.value or b"",
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
        contact_id=contact_id,
        error_code=code,
        reason=reason,
        failed_at=datetime.now(UTC),
    )


class DeadLetterWriter:
    """Produces dead letters and waits until Kafka acknowledged every one of them."""

    def __init__(self, topic: Any) -> None:
        self.topic = topic

    async def send(self, letters: list[DeadLetter]) -> None:
        futures = []
        for letter in letters:
            key = (letter.contact_id or letter.key or "").encode() or None
            futures.append(await self.topic.send(key=key, value=letter.to_json()))
        if futures:
            await asyncio.gather(*futures)
