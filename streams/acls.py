"""Kafka ACLs as code, next to the topics they guard (deny by default; DESIGN section 8).

One principal per role: a producer per channel writes only its raw topic; the worker reads the
raw and control topics and writes the DLQ, tombstones, results and recording deletions, in its
own consumer groups; `dpo` writes subject requests and reads their results; `admin` is the
broker's super user (it creates topics and applies these ACLs). No one else reads a raw or DLQ
topic. `acl_drift` compares them with what the broker holds (pure, unit-tested).
"""

from __future__ import annotations

from typing import Any, Final, Literal, NamedTuple

from streams.config import CHANNELS, Settings
from streams.errors import ConfigError

ResourceType = Literal["TOPIC", "GROUP"]
PatternType = Literal["LITERAL", "PREFIXED"]
Operation = Literal["READ", "WRITE", "DESCRIBE", "CREATE"]

ADMIN: Final = "admin"
WORKER: Final = "worker"
DPO: Final = "dpo"


def producer(channel: str) -> str:
    return f"producer-{channel}"


def principals() -> tuple[str, ...]:
    """Every principal the secure broker gets a SCRAM credential for."""
    return (ADMIN, WORKER, DPO, *(producer(channel) for channel in CHANNELS))


class Acl(NamedTuple):
    """ALLOW `operation` on a resource to `User:principal` from any host."""

    principal: str
    resource_type: ResourceType
    resource: str
    pattern: PatternType
    operation: Operation


def _topic(principal: str, topic: str, *operations: Operation) -> list[Acl]:
    return [Acl(principal, "TOPIC", topic, "LITERAL", op) for op in operations]


def declared_acls(settings: Settings) -> set[Acl]:
    """The least each role needs (found against Kafka 4.4: WRITE and READ imply DESCRIBE, an
    idempotent producer needs only WRITE, faust sends CreateTopics for its leader-assignor topic
    `<app id>-__assignor-__leader` at every start, and reads it to elect the timers' leader)."""
    t = settings.topic
    acls: list[Acl] = []
    for channel in CHANNELS:
        acls += _topic(producer(channel), t(f"raw.{channel}"), "WRITE")
    reads = [t(f"raw.{ch}") for ch in CHANNELS] + [t("tombstones"), t("subject-requests")]
    for topic in [*reads, t("dlq")]:  # the dead-letter replay check reads the DLQ's tail
        acls += _topic(WORKER, topic, "READ")
    for topic in (t("dlq"), t("tombstones"), t("subject-results"), t("recording-deletions")):
        acls += _topic(WORKER, topic, "WRITE")
    acls.append(Acl(WORKER, "TOPIC", settings.app_id, "PREFIXED", "CREATE"))
    acls.append(Acl(WORKER, "TOPIC", settings.app_id, "PREFIXED", "READ"))
    acls.append(Acl(WORKER, "GROUP", settings.app_id, "PREFIXED", "READ"))
    acls += _topic(DPO, t("subject-requests"), "WRITE")
    acls += _topic(DPO, t("subject-results"), "READ")
    return set(acls)


def acl_drift(
    declared: set[Acl], actual: set[Acl], settings: Settings
) -> tuple[set[Acl], set[Acl]]:
    """(missing, extra): declared ACLs the broker lacks, and ACLs that grant one of our
    principals something on this deployment's topics or groups (its topic prefix or app id)
    that nobody declared (granted by hand: reported, removed with --fix). Another deployment
    sharing the broker under another prefix is not ours to judge."""
    ours = {
        acl
        for acl in actual
        if acl.principal in principals()
        and (
            acl.resource.startswith(f"{settings.topic_prefix}.")
            or acl.resource.startswith(settings.app_id)
            or acl.resource == "*"
        )
    }
    return declared - ours, ours - declared


class AclReport(NamedTuple):
    created: list[Acl]
    removed: list[Acl]
    extra: list[Acl]
    """ACLs of our principals nobody declared, left in place (remove them with --fix)."""


def apply_acls(settings: Settings, fix: bool = False) -> AclReport:
    """Create the declared ACLs the broker lacks; report (or with fix, remove) undeclared ones.

    Runs as the configured principal, which must be the broker's super user (admin). Uses
    confluent-kafka's AdminClient: aiokafka has no ACL calls, and Kafka's AclCommand costs a
    JVM start per call; confluent-kafka's is public, typed and also manages SCRAM users."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(_librdkafka_config(settings))
    try:
        actual = {
            acl
            for binding in admin.describe_acls(_filter(), request_timeout=15).result()
            if (acl := _from_binding(binding)) is not None
        }
        missing, extra = acl_drift(declared_acls(settings), actual, settings)
        if missing:
            for future in admin.create_acls([_binding(a) for a in sorted(missing)]).values():
                future.result()
        if fix and extra:
            for future in admin.delete_acls([_binding(a) for a in sorted(extra)]).values():
                future.result()
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        name = error.name() if error is not None and hasattr(error, "name") else "KafkaException"
        raise ConfigError(
            f"Kafka ACLs could not be applied ({name}); run 'topics ensure' as the broker's "
            "admin principal (CONTACTSTREAM_KAFKA_USERNAME=admin)"
        ) from None
    return AclReport(sorted(missing), sorted(extra) if fix else [], [] if fix else sorted(extra))


def _librdkafka_config(settings: Settings) -> dict[str, str | int | float | bool]:
    client = settings.kafka_client_config()
    config: dict[str, str | int | float | bool] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "security.protocol": settings.kafka_security_protocol,
        "sasl.mechanism": client["sasl_mechanism"],
        "sasl.username": client["sasl_plain_username"],
        "sasl.password": client["sasl_plain_password"],
    }
    if settings.kafka_ca_file is not None:
        config["ssl.ca.location"] = str(settings.kafka_ca_file)
    return config


def _binding(acl: Acl) -> Any:
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
    )
    from confluent_kafka.admin import ResourceType as Kind

    return AclBinding(
        Kind[acl.resource_type],
        acl.resource,
        ResourcePatternType[acl.pattern],
        f"User:{acl.principal}",
        "*",
        AclOperation[acl.operation],
        AclPermissionType.ALLOW,
    )


def _filter() -> Any:
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]  # None matches any name, principal and host
        ResourcePatternType.ANY,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _from_binding(binding: Any) -> Acl | None:
    """Our Acl of an ALLOW binding for `User:<name>` from any host on a topic or group."""
    kind, pattern, operation = (
        binding.restype.name,
        binding.resource_pattern_type.name,
        binding.operation.name,
    )
    principal = str(binding.principal)
    if (
        binding.permission_type.name != "ALLOW"
        or binding.host != "*"
        or not principal.startswith("User:")
        or kind not in ("TOPIC", "GROUP")
        or pattern not in ("LITERAL", "PREFIXED")
        or operation not in ("READ", "WRITE", "DESCRIBE", "CREATE")
    ):
        return None
    return Acl(principal.removeprefix("User:"), kind, binding.name, pattern, operation)
