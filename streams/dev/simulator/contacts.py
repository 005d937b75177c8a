"""Realistic contacts of a Finnish media company's customer service (pure, seeded).

Everything is synthetic and made here: emails use the reserved example.com / example.org
domains; numbers are random in the +358 40 / +358 50 mobile ranges (Finland has no range reserved
for fiction that we know of), so one may coincide with a real subscriber's number, but nothing
ties it to that person and the traffic only ever goes to the pipeline's own topics.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from streams.config import Channel

HELSINKI: Final = ZoneInfo("Europe/Helsinki")
CHANNEL_WEIGHTS: Final[dict[Channel, float]] = {
    "phone": 0.45,
    "email": 0.25,
    "form": 0.18,
    "sms": 0.12,
}
REASONS: Final = {
    "subscription": ("subscriptions", 0.24),
    "delivery_problem": ("delivery", 0.22),
    "billing": ("billing", 0.16),
    "digital_access": ("digital", 0.14),
    "address_change": ("subscriptions", 0.08),
    "pause_delivery": ("delivery", 0.07),
    "cancellation": ("subscriptions", 0.06),
    "feedback": ("general", 0.03),
}
ADVISORS: Final = tuple(f"adv-{n:03d}" for n in range(1, 26))
# Relative load per hour of a weekday (Helsinki time): a morning peak after papers are delivered.
_HOUR_LOAD: Final = (
    0.1,
    0.05,
    0.05,
    0.05,
    0.1,
    0.2,
    0.5,
    1.6,
    2.2,
    2.0,
    1.7,
    1.5,
    1.4,
    1.4,
    1.3,
    1.1,
    0.9,
    0.6,
    0.4,
    0.3,
    0.3,
    0.25,
    0.2,
    0.15,
)
_DAY_LOAD: Final = (1.25, 1.1, 1.0, 1.0, 0.95, 0.45, 0.25)  # Monday first
_TEXTS: Final = (
    "Lehti ei tullut tänään.",
    "Haluan muuttaa tilaukseni osoitetta.",
    "Digitunnukset eivät toimi.",
    "Laskussa on virhe.",
    "Haluan keskeyttää tilauksen lomaksi.",
    "Kiitos hyvästä palvelusta!",
    "Miten voin irtisanoa tilauksen?",
)


@dataclass(frozen=True)
class SimContact:
    """The truth about one contact, from which its lifecycle events are cut."""

    contact_id: str
    channel: Channel
    reason: str
    queue: str
    advisor_id: str | None
    phone: str | None
    email: str | None
    arrived_at: datetime
    handling_started_at: datetime | None
    handled_at: datetime | None
    content: str | None = None
    subject: str | None = None
    form_fields: dict[str, str] | None = None
    recording_ref: str | None = None

    @property
    def abandoned(self) -> bool:
        return self.handling_started_at is None


class People:
    """A population of fake identities; some contact again (repeat contacts)."""

    def __init__(self, rng: random.Random, size: int = 5000) -> None:
        self.rng = rng
        self.phones = [
            f"+3585{rng.choice('04')}{rng.randrange(1_000_000, 9_999_999)}" for _ in range(size)
        ]
        self.emails = [
            f"asiakas{n}.{rng.randrange(10**5)}@example.{rng.choice(['com', 'org'])}"
            for n in range(size)
        ]

    def phone(self) -> str:
        return self.rng.choice(
            self.phones[: max(1, len(self.phones) // 4)] if self.rng.random() < 0.3 else self.phones
        )

    def email(self) -> str:
        return self.rng.choice(
            self.emails[: max(1, len(self.emails) // 4)] if self.rng.random() < 0.3 else self.emails
        )


def arrival_times(rng: random.Random, start: datetime, end: datetime, count: int) -> list[datetime]:
    """`count` arrival times between start and end following daily and weekly seasonality."""
    times: list[datetime] = []
    span = (end - start).total_seconds()
    peak = max(_HOUR_LOAD) * max(_DAY_LOAD)
    while len(times) < count:
        moment = start + timedelta(seconds=rng.random() * span)
        local = moment.astimezone(HELSINKI)
        if rng.random() * peak <= _HOUR_LOAD[local.hour] * _DAY_LOAD[local.weekday()]:
            times.append(moment)
    return sorted(times)


def make_contact(
    rng: random.Random,
    people: People,
    arrived_at: datetime,
    seq: int,
    now: datetime,
    weights: dict[Channel, float] = CHANNEL_WEIGHTS,
) -> SimContact:
    channel = rng.choices(list(weights), weights=list(weights.values()))[0]
    reason = rng.choices(list(REASONS), weights=[w for _, w in REASONS.values()])[0]
    contact_id = f"{channel[:2]}-{arrived_at:%Y%m%d}-{seq:07d}-{rng.randrange(16**4):04x}"
    started, handled = _handling(rng, channel, arrived_at, now)
    text = rng.choice(_TEXTS)
    uses_phone = channel in ("phone", "sms") or (channel == "form" and rng.random() < 0.3)
    return SimContact(
        contact_id=contact_id,
        channel=channel,
        reason=reason,
        queue=REASONS[reason][0],
        advisor_id=rng.choice(ADVISORS) if started else None,
        phone=people.phone() if uses_phone else None,
        email=None if uses_phone else people.email(),
        arrived_at=arrived_at,
        handling_started_at=started,
        handled_at=handled,
        content=text if channel != "phone" else None,
        subject=f"Asia: {reason.replace('_', ' ')}" if channel == "email" else None,
        form_fields={"aihe": reason, "viesti": text} if channel == "form" else None,
        recording_ref=(f"rec://acd/{contact_id}.opus" if channel == "phone" and started else None),
    )


def _handling(
    rng: random.Random, channel: Channel, arrived: datetime, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """(handling start, end); a call may be abandoned, a recent message may be unhandled yet."""
    if channel == "phone":
        wait = timedelta(seconds=rng.expovariate(1 / 90))
        if rng.random() < 0.08 + min(0.25, wait.total_seconds() / 1200):
            return None, arrived + wait  # abandoned: the caller hung up in the queue
        talk = timedelta(seconds=30 + rng.expovariate(1 / 240))
        return _past(arrived + wait, now), _past(arrived + wait + talk, now)
    start = arrived + timedelta(minutes=rng.expovariate(1 / 180))
    end = start + timedelta(minutes=2 + rng.expovariate(1 / 8))
    return _past(start, now), _past(end, now) if _past(start, now) else None


def _past(moment: datetime, now: datetime) -> datetime | None:
    return moment if moment <= now else None


def generate(
    seed: int,
    start: datetime,
    end: datetime,
    count: int,
    now: datetime | None = None,
    channel: Channel | None = None,
) -> list[SimContact]:
    """`count` contacts that arrived between start and end, as of `now` (default: end), of
    every channel in proportion or of `channel` only."""
    rng = random.Random(seed)
    people = People(rng)
    moment = now or end
    weights = CHANNEL_WEIGHTS if channel is None else {channel: 1.0}
    return [
        make_contact(rng, people, t, i, moment, weights)
        for i, t in enumerate(arrival_times(rng, start, end, count))
    ]


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)
