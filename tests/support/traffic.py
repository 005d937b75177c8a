"""Test traffic: realistic contacts cut into events, with duplicates, shuffling and bad events,
plus the exact state the pipeline must end in."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka import AIOKafkaProducer

from schemas.normalize import normalize_phone
from streams.dev.simulator.contacts import SimContact, generate, utc
from streams.dev.simulator.events import encode, lifecycle_events, spoil


@dataclass
class Traffic:
    contacts: dict[str, SimContact]
    messages: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)  # channel,key,val
    event_ids: set[str] = field(default_factory=set)
    invalid: dict[bytes, str] = field(default_factory=dict)  # payload -> expected error code
    duplicates: int = 0

    def personal_values(self) -> set[str]:
        values: set[str] = set()
        for c in self.contacts.values():
            values.update(v for v in (c.phone, c.email, c.content, c.subject, c.recording_ref) if v)
            values.update((c.form_fields or {}).values())
        return {v for v in values if len(v) >= 8}


def build_traffic(
    seed: int,
    target_events: int,
    invalid_fraction: float = 0.05,
    duplicate_fraction: float = 0.02,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Traffic:
    rng = random.Random(seed)
    n_contacts = int(target_events * (1 - invalid_fraction - duplicate_fraction) / 2.4)
    contacts = generate(seed, start or utc(2026, 9, 1), end or utc(2026, 11, 1), n_contacts)
    traffic = Traffic({c.contact_id: c for c in contacts})
    valid = [(c.channel, e) for c in contacts for e in lifecycle_events(c, rng)]
    for channel, event in valid:
        traffic.event_ids.add(event["event_id"])
        traffic.messages.append((channel, event["contact_id"].encode(), encode(event)))
    for channel, key, value in rng.sample(traffic.messages, int(len(valid) * duplicate_fraction)):
        traffic.messages.append((channel, key, value))
        traffic.duplicates += 1
    for channel, event in rng.sample(valid, int(len(valid) * invalid_fraction)):
        bad = {
            **event,
            "event_id": "bad-" + event["event_id"],
            "contact_id": "bad-" + event["contact_id"],
        }
        payload, code = spoil(bad, rng)
        traffic.invalid[payload] = code
        traffic.messages.append((channel, bad["contact_id"].encode(), payload))
    rng.shuffle(traffic.messages)
    return traffic


async def produce(
    bootstrap: str, prefix: str, messages: list[tuple[str, bytes | None, bytes]]
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=20, max_batch_size=262_144
    )
    await producer.start()
    try:
        futures = [
            await producer.send(f"{prefix}.raw.{channel}", value, key=key)
            for channel, key, value in messages
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


def millis(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return (
        int(moment.timestamp() * 1000)
        if moment.microsecond % 1000 == 0
        else int(moment.replace(microsecond=moment.microsecond // 1000 * 1000).timestamp() * 1000)
    )


def expected_row(contact: SimContact) -> tuple[object, ...]:
    """The contacts_merged row the pipeline must hold for this contact."""
    return (
        contact.contact_id,
        contact.channel,
        millis(contact.arrived_at),
        millis(contact.handling_started_at),
        millis(contact.handled_at),
        contact.advisor_id,
        contact.reason,
        contact.queue,
        normalize_phone(contact.phone) if contact.phone else None,
        contact.email,
    )


MERGED_SQL = """
SELECT contact_id, channel, toUnixTimestamp64Milli(arrived_at),
       toUnixTimestamp64Milli(handling_started_at), toUnixTimestamp64Milli(handled_at),
       advisor_id, reason, queue, phone, email
FROM contacts_merged ORDER BY contact_id
"""
