"""Kafka topics as code: the declared set (design section 5), created and checked for drift."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import UnknownTopicOrPartitionError, for_code

from streams.config import CHANNELS, Settings
from streams.errors import ConfigError

_DAY_MS = 24 * 3600 * 1000
# A dead letter is its original record plus `contactstream.error.*` headers (well under 2 KB:
# the reason is at most 1024 characters); this much headroom makes every letter fit.
DLQ_HEADER_ALLOWANCE = 64 * 1024


def dlq_max_message_bytes(settings: Settings) -> int:
    return settings.raw_max_message_bytes + DLQ_HEADER_ALLOWANCE


# retention.ms alone is no upper bound: Kafka deletes whole segments, and only once the newest
# record of a segment is older than retention.ms; the active segment of a partition that keeps
# receiving writes rolls after segment.ms (default 7 days). So a record lives up to about
#   retention.ms + segment.ms + log.retention.check.interval.ms (broker, default 5 min)
#   (+ file.delete.delay.ms, default 1 min, before the deleted segment's file is removed).
# Topics holding personal data roll a segment every 1/24 of their retention: the bound exceeds
# the declared retention by about 4 % (7 h on 7 days), and a partition holds about 25
# segments, never thousands of tiny files.
SEGMENTS_PER_RETENTION = 24
# Settings whose larger actual value keeps personal data longer than declared.
_KEEPS_LONGER = ("retention.ms", "segment.ms")

_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC = 3


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    personal_data: bool
    configs: dict[str, str] = field(default_factory=dict)


@dataclass
class EnsureReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)  # one line per drifting setting
    missing: list[str] = field(default_factory=list)  # only filled by a dry run


def segment_ms(retention_ms: int) -> int:
    """segment.ms that makes retention.ms a real upper bound, up to 1/24 more (pure)."""
    return max(1, -(-retention_ms // SEGMENTS_PER_RETENTION))


def personal_retention(retention_ms: int) -> dict[str, str]:
    """Time retention of a topic holding personal data, with segments that roll in time."""
    return {
        "cleanup.policy": "delete",
        "retention.ms": str(retention_ms),
        "segment.ms": str(segment_ms(retention_ms)),
    }


def declared_topics(settings: Settings) -> list[TopicSpec]:
    """Every topic the pipeline uses. Personal data only ever sits under short time retention."""
    personal = personal_retention(settings.raw_retention_ms)
    raw = {**personal, "max.message.bytes": str(settings.raw_max_message_bytes)}
    # The DLQ takes every raw record plus its error headers: a letter can always be written.
    dlq = {**personal, "max.message.bytes": str(dlq_max_message_bytes(settings))}
    week = {"cleanup.policy": "delete", "retention.ms": str(7 * _DAY_MS)}
    personal_week = personal_retention(7 * _DAY_MS)
    parts = settings.raw_partitions
    specs = [TopicSpec(settings.topic(f"raw.{ch}"), parts, True, raw) for ch in CHANNELS]
    specs += [
        TopicSpec(settings.topic("dlq"), parts, True, dlq),
        # What was done with the letters (docs/dead-letters.md): positions, counts, no values;
        # kept longer than any letter.
        TopicSpec(
            settings.topic("dlq-actions"),
            1,
            False,
            {"cleanup.policy": "delete", "retention.ms": str(30 * _DAY_MS)},
        ),
        TopicSpec(
            settings.topic("tombstones"),
            parts,
            False,
            {"cleanup.policy": "delete", "retention.ms": str(30 * _DAY_MS)},
        ),
        TopicSpec(settings.topic("subject-requests"), 1, True, personal_week),
        TopicSpec(settings.topic("subject-results"), 1, False, week),
        TopicSpec(settings.topic("recording-deletions"), parts, True, personal_week),
    ]
    return specs


async def topic_partitions(settings: Settings, topic: str) -> list[int]:
    """The partition numbers of `topic`; ConfigError when it does not exist."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_config())
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    code = described.get("error_code", 0)
    partitions = sorted(p["partition"] for p in described.get("partitions", []))
    if code == UnknownTopicOrPartitionError.errno or (not code and not partitions):
        raise ConfigError(f"topic {topic} does not exist (run: contactstream topics ensure)")
    if code:  # e.g. TopicAuthorizationFailedError: this principal may not see it
        raise for_code(code)(f"topic {topic}")
    return partitions


async def ensure_topics(
    settings: Settings, fix: bool = False, dry_run: bool = False
) -> EnsureReport:
    """Create missing topics; report (or, with fix, correct) settings that drifted.

    With dry_run nothing is created or changed: missing topics are listed in the report.
    """
    report = EnsureReport()
    specs = declared_topics(settings)
    admin = AIOKafkaAdminClient(**settings.kafka_client_config())
    await admin.start()
    try:
        if dry_run:
            present = set(await admin.list_topics())
            report.missing = [s.name for s in specs if s.name not in present]
            return report
        response = await admin.create_topics(
            [
                NewTopic(
                    s.name, s.partitions, settings.kafka_replication_factor, topic_configs=s.configs
                )
                for s in specs
            ]
        )
        existing = []
        for error in response.to_object()["topic_errors"]:
            if error["error_code"] == 0:
                report.created.append(error["topic"])
            elif error["error_code"] == _TOPIC_ALREADY_EXISTS:
                existing.append(error["topic"])
            else:
                report.drift.append(
                    f"{error['topic']}: could not be created (Kafka error {error['error_code']})"
                )
        by_name = {s.name: s for s in specs}
        await _check_existing(admin, [by_name[n] for n in existing], fix, report)
    finally:
        await admin.close()
    return report


async def _check_existing(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], fix: bool, report: EnsureReport
) -> None:
    if not specs:
        return
    metadata = {t["topic"]: t for t in await admin.describe_topics([s.name for s in specs])}
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, s.name, None) for s in specs]
    )
    actual = _configs_by_topic(responses)
    to_fix: list[TopicSpec] = []
    for spec in specs:
        lines = config_drift(spec, actual.get(spec.name, {}))
        partitions = len(metadata.get(spec.name, {}).get("partitions", []))
        if partitions < spec.partitions:
            report.drift.append(
                f"{spec.name}: {partitions} partitions, declared {spec.partitions} "
                "(add partitions by hand: it moves keys between partitions)"
            )
        if lines and fix:
            to_fix.append(spec)
            report.fixed.append(spec.name)
        elif lines:
            report.drift.extend(lines)
        else:
            report.unchanged.append(spec.name)
    if to_fix:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, s.name, s.configs) for s in to_fix]
        )


def config_drift(spec: TopicSpec, actual: dict[str, str]) -> list[str]:
    """One line per declared setting whose actual value differs (pure; unit-tested)."""
    return [
        f"{spec.name}: {key}={actual.get(key)!s} but declared {want}"
        + (
            " (personal data kept longer than declared)"
            if _longer_retention(key, actual, want, spec)
            else ""
        )
        for key, want in sorted(spec.configs.items())
        if actual.get(key) != want
    ]


def _longer_retention(key: str, actual: dict[str, str], want: str, spec: TopicSpec) -> bool:
    if not spec.personal_data or key not in _KEEPS_LONGER:
        return False
    value = int(actual.get(key, "0") or 0)
    return value < 0 or value > int(want)


def _configs_by_topic(responses: list[Any]) -> dict[str, dict[str, str]]:
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.to_object()["resources"]:
            entries = resource["config_entries"]
            # aiokafka names the key 'config_names' in this response version.
            configs[resource["resource_name"]] = {
                e.get("config_names", e.get("config_name")): e["config_value"] for e in entries
            }
    return configs
