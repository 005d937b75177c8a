"""Kafka ACLs as code, next to the topics they guard (deny by default; DESIGN section 8).

One principal per role: a producer per channel writes only its raw topic; the worker reads the
raw and control topics and writes the DLQ, tombstones, results and recording deletions, in its
own consumer groups; `dpo` writes subject requests and reads their results; `operator` works
the dead letters (reads the DLQ, sends letters back to the raw topics, records what it did:
docs/dead-letters.md); `admin` is the broker's super user (it creates topics and applies these
ACLs). No one else reads a raw or DLQ topic: Kafka cannot split the DLQ by channel, so producers
do not read it. `acl_drift` compares them with every binding the broker holds that can reach this
deployment's topics, groups or the cluster, whoever it names (pure, unit-tested).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Final, Literal, NamedTuple, get_args

from streams.config import CHANNELS, Settings
from streams.errors import ConfigError

# Names as confluent-kafka spells them (BROKER is Kafka's cluster resource, 'kafka-cluster').
ResourceType = Literal["TOPIC", "GROUP", "BROKER", "TRANSACTIONAL_ID"]
PatternType = Literal["LITERAL", "PREFIXED"]
Operation = Literal[
    "ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTER_ACTION",
    "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE",
]  # fmt: skip
Permission = Literal["ALLOW", "DENY"]

ADMIN: Final = "admin"
WORKER: Final = "worker"
DPO: Final = "dpo"
OPERATOR: Final = "operator"


def producer(channel: str) -> str:
    return f"producer-{channel}"


def principals() -> tuple[str, ...]:
    """Every principal the secure broker gets a SCRAM credential for."""
    return (ADMIN, WORKER, DPO, OPERATOR, *(producer(channel) for channel in CHANNELS))


class Acl(NamedTuple):
    """One binding: `permission` `operation` on a resource pattern to `principal_type:principal`
    (`User:*` is every user) from `host` (`*` is any). What the project declares is ALLOW to
    one user from any host; what the broker holds may be anything."""

    principal: str
    resource_type: ResourceType
    resource: str
    pattern: PatternType
    operation: Operation
    permission: Permission = "ALLOW"
    host: str = "*"
    principal_type: str = "User"


def acl_line(acl: Acl) -> str:
    """How an operator reads a binding, e.g. 'User:worker READ TOPIC contacts.dlq' (pure)."""
    denied = "DENY " if acl.permission == "DENY" else ""
    pattern = "*" if acl.pattern == "PREFIXED" else ""
    host = "" if acl.host == "*" else f" from {acl.host}"
    return (
        f"{acl.principal_type}:{acl.principal} {denied}{acl.operation} {acl.resource_type} "
        f"{acl.resource}{pattern}{host}"
    )


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
    acls += _topic(WORKER, t("dlq-actions"), "READ")  # the watch on unhandled letters
    acls += _topic(DPO, t("subject-requests"), "WRITE")
    acls += _topic(DPO, t("subject-results"), "READ")
    acls += _topic(OPERATOR, t("dlq"), "READ")
    acls += _topic(OPERATOR, t("dlq-actions"), "READ", "WRITE")
    for channel in CHANNELS:  # a redrive sends a letter back to its raw topic
        acls += _topic(OPERATOR, t(f"raw.{channel}"), "WRITE")
    return set(acls)


def deployment_prefixes(settings: Settings) -> dict[ResourceType, tuple[str, ...]]:
    """Name prefixes of the deployment's resources, by type: its topics ('<prefix>.'), and the
    topics, consumer groups and transactional ids faust and the raw consumer name after the
    app id. (The cluster resource reaches every deployment.)"""
    return {
        "TOPIC": (f"{settings.topic_prefix}.", settings.app_id),
        "GROUP": (settings.app_id,),
        "TRANSACTIONAL_ID": (settings.app_id,),
    }


def pattern_reaches(pattern: PatternType, name: str, prefix: str) -> bool:
    """Whether a resource pattern can match some name that starts with `prefix` (pure).

    LITERAL `*` matches every name. PREFIXED `p` matches the names starting with `p`: some of
    those start with `prefix` when either of `p` and `prefix` starts with the other."""
    if pattern == "LITERAL":
        return name == "*" or name.startswith(prefix)
    return name.startswith(prefix) or prefix.startswith(name)


def reaches(acl: Acl, settings: Settings) -> bool:
    """Whether the binding can grant or deny something on one of the deployment's resources,
    whoever it names (pure)."""
    if acl.resource_type == "BROKER":
        return True
    prefixes = deployment_prefixes(settings).get(acl.resource_type, ())
    return any(pattern_reaches(acl.pattern, acl.resource, prefix) for prefix in prefixes)


def acl_drift(
    declared: set[Acl], actual: set[Acl], settings: Settings
) -> tuple[set[Acl], set[Acl]]:
    """(missing, extra): declared bindings the broker lacks, and bindings nobody declared that
    can reach this deployment's topics, groups or the cluster, compared whole (principal, host,
    operation, permission, pattern): a wildcard user, a PREFIXED grant that covers the topics,
    one from a single host or a DENY is as undeclared as any (reported; removed with --fix). A
    binding only on another deployment's resources is not ours to judge."""
    return declared - actual, {acl for acl in actual - declared if reaches(acl, settings)}


def covered_foreign_topics(settings: Settings, topics: Iterable[str]) -> list[str]:
    """Topics of another deployment that the worker's PREFIXED ACLs on the app id would reach
    (pure). The app id's own topics (faust's) have no dot; '<prefix>.<name>' ones do, and the
    settings refuse an app id that is a prefix of this deployment's topic prefix."""
    return sorted(t for t in topics if t.startswith(settings.app_id) and "." in t)


class AclReport(NamedTuple):
    created: list[Acl]
    removed: list[Acl]
    extra: list[Acl]
    """Bindings reaching the deployment that nobody declared, left in place (--fix removes)."""


def apply_acls(settings: Settings, fix: bool = False) -> AclReport:
    """Create the declared ACLs the broker lacks; report (or with fix, remove) undeclared ones.

    Runs as the configured principal, which must be the broker's super user (admin). Uses
    confluent-kafka's AdminClient: aiokafka has no ACL calls, and Kafka's AclCommand costs a
    JVM start per call; confluent-kafka's is public, typed and also manages SCRAM users."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(_librdkafka_config(settings))
    try:
        actual = _described(admin)
        _refuse_covered_topics(settings, admin.list_topics(timeout=15).topics)
        missing, extra = acl_drift(declared_acls(settings), actual, settings)
        if missing:
            for future in admin.create_acls([_binding(a) for a in sorted(missing)]).values():
                future.result()
        if fix and extra:
            # A filter with every field set deletes exactly that binding (no wildcard matching).
            for future in admin.delete_acls([_exactly(a) for a in sorted(extra)]).values():
                future.result()
        if missing or (fix and extra):
            _until_enforced(admin, missing, extra if fix else set())
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        name = error.name() if error is not None and hasattr(error, "name") else "KafkaException"
        raise ConfigError(
            f"Kafka at {settings.kafka_bootstrap} did not apply the ACLs for principal "
            f"User:{settings.kafka_username} ({name}); run 'topics ensure' as the broker's "
            "admin principal (CONTACTSTREAM_KAFKA_USERNAME=admin)"
        ) from None
    return AclReport(sorted(missing), sorted(extra) if fix else [], [] if fix else sorted(extra))


def _described(admin: Any) -> set[Acl]:
    return {
        acl
        for binding in admin.describe_acls(_filter(), request_timeout=15).result()
        if (acl := _from_binding(binding)) is not None
    }


def _until_enforced(admin: Any, created: set[Acl], deleted: set[Acl], seconds: float = 15) -> None:
    """Wait until the broker holds what the controller took: it applies ACL changes a moment
    after the request returns, and a client starting in between was refused (or let in). The
    broker answers DescribeAcls from the set it enforces. After `seconds` it is left to settle."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        actual = _described(admin)
        if created <= actual and not deleted & actual:
            return
        time.sleep(0.2)


def _refuse_covered_topics(settings: Settings, topics: Iterable[str]) -> None:
    covered = covered_foreign_topics(settings, topics)
    if covered:
        raise ConfigError(
            f"CONTACTSTREAM_APP_ID={settings.app_id} is a prefix of another deployment's topic "
            f"{covered[0]} (and {len(covered) - 1} more): the worker's ACLs on its app id would "
            "reach them; choose another app id"
        )


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
    from confluent_kafka.admin import AclBinding

    return AclBinding(*_binding_fields(acl))


def _exactly(acl: Acl) -> Any:
    from confluent_kafka.admin import AclBindingFilter

    return AclBindingFilter(*_binding_fields(acl))


def _binding_fields(acl: Acl) -> tuple[Any, ...]:
    from confluent_kafka.admin import (
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
    )
    from confluent_kafka.admin import ResourceType as Kind

    return (
        Kind[acl.resource_type],
        acl.resource,
        ResourcePatternType[acl.pattern],
        f"{acl.principal_type}:{acl.principal}",
        acl.host,
        AclOperation[acl.operation],
        AclPermissionType[acl.permission],
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
    """Our Acl of any binding the broker holds, whoever it names, from whatever host, ALLOW or
    DENY. None only for what has no meaning here: a resource type this Kafka client does not
    know (it can reach none of our topics, groups or the cluster)."""
    kind, pattern = binding.restype.name, binding.resource_pattern_type.name
    operation, permission = binding.operation.name, binding.permission_type.name
    principal_type, _, principal = str(binding.principal).partition(":")
    if (
        kind not in get_args(ResourceType)
        or pattern not in get_args(PatternType)
        or operation not in get_args(Operation)
        or permission not in get_args(Permission)
    ):
        return None
    return Acl(
        principal, kind, binding.name, pattern, operation, permission, binding.host, principal_type
    )
