"""The traffic simulator: reproducible, realistic proportions, valid through the contract."""

from __future__ import annotations

import random
from collections import Counter

from schemas.validate import Rejection, parse_events
from streams.dev.simulator.contacts import CHANNEL_WEIGHTS, HELSINKI, generate, utc
from streams.dev.simulator.events import encode, lifecycle_events
from streams.dev.simulator.produce import plan

START, END = utc(2026, 9, 1), utc(2026, 11, 1)


def test_same_seed_same_traffic() -> None:
    assert plan(300, 5, START, END, 0.05) == plan(300, 5, START, END, 0.05)
    assert plan(300, 5, START, END, 0.05)[0] != plan(300, 6, START, END, 0.05)[0]


def test_proportions_seasonality_abandonment_and_repeats() -> None:
    contacts = generate(3, START, END, 4000)
    share = Counter(c.channel for c in contacts)
    for channel, weight in CHANNEL_WEIGHTS.items():
        assert abs(share[channel] / len(contacts) - weight) < 0.03
    hours = Counter(c.arrived_at.astimezone(HELSINKI).hour for c in contacts)
    assert hours[9] > 5 * hours[3], "busy mornings, quiet nights"
    days = Counter(c.arrived_at.astimezone(HELSINKI).weekday() for c in contacts)
    assert days[0] > 2 * days[6], "Mondays busier than Sundays"
    calls = [c for c in contacts if c.channel == "phone"]
    abandoned = sum(c.abandoned for c in calls) / len(calls)
    assert 0.05 < abandoned < 0.35
    people = Counter(c.phone or c.email for c in contacts)
    assert sum(n for n in people.values() if n > 1) > len(contacts) * 0.1, "repeat contacts"
    assert all(c.email.endswith(("@example.com", "@example.org")) for c in contacts if c.email)


def test_every_simulated_event_passes_the_published_contract() -> None:
    rng = random.Random(1)
    by_channel: dict[str, list[bytes]] = {}
    for contact in generate(8, START, END, 1500):
        for event in lifecycle_events(contact, rng):
            by_channel.setdefault(contact.channel, []).append(encode(event))
    for channel, payloads in by_channel.items():
        results = parse_events(channel, payloads)
        assert not [r for r in results if isinstance(r, Rejection)]


def test_invalid_fraction_is_reported() -> None:
    messages, report = plan(2000, 2, START, END, 0.1)
    invalid = sum(report.invalid.values())
    assert len(messages) == invalid + sum(report.events.values())
    assert 0.07 < invalid / len(messages) < 0.13


def test_one_channel_only() -> None:
    messages, report = plan(300, 5, START, END, 0.05, channel="sms")
    assert {channel for channel, _, _ in messages} == {"sms"}
    assert dict(report.contacts) == {"sms": 300}
    everyone, _ = plan(300, 5, START, END, 0.05)
    assert len({channel for channel, _, _ in everyone}) == 4
