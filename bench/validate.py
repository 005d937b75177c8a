"""Throughput of decode + validate + normalize (schemas.parse_events) against orjson.loads.

    .venv/bin/python bench/validate.py [--events N] [--batch B] [--repeat R]

Builds realistic raw events of all four channels, pins itself to one core where the OS allows,
and prints events/s of parse_events and of orjson.loads over the same bytes, and their ratio.

Realistic means: lifecycle mixes (step by step, or one complete record), a quarter of contacts
from people seen before, numbers in a Finnish test-looking range (+358 50 ...) written as E.164 by
telephony and the SMS gateway and typed in national forms into web forms, addresses at
example.fi, Finnish offsets on timestamps. The normalization caches are cleared before every
timed run, so each first sighting of a number or address pays the full parse.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from schemas import CHANNEL_MODELS, CHANNELS, ContactEvent, clear_caches, parse_events

HELSINKI = ZoneInfo("Europe/Helsinki")
REPEAT_SHARE = 0.25
WORDS = ["hei", "lasku", "tilaus", "lehti", "jakelu", "osoite", "muutos", "kiitos", "kysymys",
         "tunnus", "sovellus", "maksu", "tauko", "peruutus", "digi", "paperi", "hinta", "virhe",
         "puuttuu", "aamu", "viikonloppu", "eräpäivä", "näköislehti", "jakaja"]  # fmt: skip
PHONE_LIFECYCLES = (("queued", "answered", "ended"), ("queued", "ended"), ("complete",))
MESSAGE_LIFECYCLES = (
    ("received", "handling_started", "handled"),
    ("received", "updated"),
    ("complete",),
)
IDENTIFIED = {"queued", "received", "complete"}


def fake_phone(person: int, typed: bool) -> str:
    """Telephony and SMS send E.164 as the network delivers it; people type national forms."""
    digits = f"{person % 10_000_000:07d}"
    if not typed:
        return f"+35850{digits}"
    return (f"050 {digits[:3]} {digits[3:]}", f"050-{digits}", f"+358 50 {digits}")[person % 3]


def fake_email(person: int) -> str:
    return f"asiakas.{person}@{'Example.FI' if person % 5 == 0 else 'example.fi'}"


def text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize()


def identity(channel: str, rng: random.Random, person: int) -> dict[str, Any]:
    """Who made the contact, and what they said."""
    if channel == "phone":
        return {
            "caller_phone": fake_phone(person, typed=False),
            "recording_ref": f"rec://acd/{person}.opus",
        }
    if channel == "sms":
        return {"sender_phone": fake_phone(person, typed=False), "content": text(rng, 5, 40)}
    if channel == "email":
        return {
            "sender_email": fake_email(person),
            "subject": text(rng, 2, 8),
            "content": text(rng, 20, 200),
        }
    sender: dict[str, Any] = {"sender_email": fake_email(person)}
    if person % 4 == 0:  # some leave a number too
        sender["sender_phone"] = fake_phone(person, typed=True)
    fields = {f"kentta_{i}": text(rng, 1, 6) for i in range(rng.randint(2, 5))}
    return {**sender, "form_id": "yhteydenotto", "fields": fields, "content": text(rng, 10, 80)}


def contact_events(channel: str, rng: random.Random, number: int) -> list[dict[str, Any]]:
    """The lifecycle events of contact `number`, with a plausible spread of times."""
    steps = rng.choice(PHONE_LIFECYCLES if channel == "phone" else MESSAGE_LIFECYCLES)
    returning = number > 0 and rng.random() < REPEAT_SHARE
    person = rng.randrange(number) if returning else 10_000_000 + number
    start = datetime(2025, 3, 1, 6, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 86_400 * 30))
    times = [start, start + timedelta(seconds=rng.randint(5, 900))]
    times.append(times[1] + timedelta(seconds=rng.randint(30, 1800)))
    who = identity(channel, rng, person)
    events = []
    for index, step in enumerate(steps):
        when = times[2] if step in ("complete", "updated") else times[index]
        event: dict[str, Any] = {
            "event_id": f"{channel}-{number}-{step}",
            "contact_id": f"{channel}-{number}",
            "channel": channel,
            "event_type": step,
            "occurred_at": when.astimezone(HELSINKI).isoformat(),
            "schema_version": 1,
            "source": f"{channel}-gw-1",
            "queue": rng.choice(("laskutus", "jakelu", "digi")),
            "reason": rng.choice(("lasku", "jakelukatko", "tunnukset", "muu")),
        }
        if step not in IDENTIFIED:
            event["advisor_id"] = f"adv-{rng.randint(1, 40)}"
        if step in IDENTIFIED or rng.random() < 0.5:  # some systems repeat it on every event
            event.update(who)
        if step == "complete":
            fields = CHANNEL_MODELS[channel].lifecycle_fields
            event.update(
                {
                    name: t.astimezone(HELSINKI).isoformat()
                    for name, t in zip(fields, times, strict=True)
                }
            )
        events.append(event)
    return events


def payloads(channel: str, count: int, seed: int) -> list[bytes]:
    rng = random.Random(f"{seed}-{channel}")
    out: list[bytes] = []
    number = 0
    while len(out) < count:
        out.extend(orjson.dumps(event) for event in contact_events(channel, rng, number))
        number += 1
    return out[:count]


def pin_to_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this OS)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to core {core}"


def best_rate(run: Callable[[], object], count: int, repeat: int) -> float:
    """Events/s of the fastest of `repeat` runs, each starting with empty caches."""
    best = float("inf")
    for _ in range(repeat):
        clear_caches()
        gc.collect()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return count / best


def measure(channel: str, data: list[bytes], batch: int, repeat: int) -> tuple[float, float]:
    batches: list[Sequence[bytes]] = [data[i : i + batch] for i in range(0, len(data), batch)]
    rejected = [
        r
        for chunk in batches
        for r in parse_events(channel, chunk)
        if not isinstance(r, ContactEvent)
    ]
    if rejected:
        print(
            f"  note: {len(rejected)} {channel} events rejected, e.g. {rejected[0]}",
            file=sys.stderr,
        )

    def validate() -> None:
        for chunk in batches:
            parse_events(channel, chunk)

    def decode() -> None:
        for chunk in batches:
            [orjson.loads(payload) for payload in chunk]

    return best_rate(validate, len(data), repeat), best_rate(decode, len(data), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description="parse_events throughput against orjson.loads")
    parser.add_argument("--events", type=int, default=100_000, help="events per channel")
    parser.add_argument("--batch", type=int, default=10_000, help="events per parse_events call")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure; best counts")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{pin_to_one_core()}; {args.events:,} events per channel, batches of {args.batch:,}")
    print(f"{'channel':<8}{'bytes/ev':>10}{'parse_events/s':>16}{'orjson.loads/s':>16}{'ratio':>8}")
    seconds = [0.0, 0.0]
    for channel in CHANNELS:
        data = payloads(channel, args.events, args.seed)
        size = sum(map(len, data)) / len(data)
        ours, baseline = measure(channel, data, args.batch, args.repeat)
        seconds[0] += len(data) / ours
        seconds[1] += len(data) / baseline
        print(f"{channel:<8}{size:>10.0f}{ours:>16,.0f}{baseline:>16,.0f}{baseline / ours:>8.1f}")
    total = args.events * len(CHANNELS)
    ours, baseline = total / seconds[0], total / seconds[1]
    print(f"{'all':<8}{'':>10}{ours:>16,.0f}{baseline:>16,.0f}{baseline / ours:>8.1f}")


if __name__ == "__main__":
    main()
