"""Complete ACL drift on the project's own secure broker (issue 20, finding 1): every hand-made
binding that can reach this deployment's topics, groups or the cluster is reported by `topics
ensure` and removed by `--fix`, whatever principal (wildcard too), host, pattern or permission
it names. An app id that would reach another deployment's topics is refused (finding 6)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from tests.support.cli import cli
from tests.support.kafka_security import Login, env_of, sasl, secure

__all__ = ["secure"]  # the module's own secure broker: its cluster-wide bindings stay here

ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


def _binding(
    principal: str,
    kind: ResourceType,
    name: str,
    pattern: ResourcePatternType,
    operation: AclOperation,
    permission: AclPermissionType = ALLOW,
    host: str = "*",
) -> AclBinding:
    return AclBinding(kind, name, pattern, principal, host, operation, permission)


def _hand_made(prefix: str) -> dict[str, AclBinding]:
    """What an admin could add by hand, keyed by the line `topics ensure` shows for it."""
    topic, group, cluster = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.BROKER
    return {
        f"User:* READ TOPIC {prefix}.raw.phone": _binding(
            "User:*", topic, f"{prefix}.raw.phone", LITERAL, AclOperation.READ
        ),
        f"User:producer-sms READ TOPIC {prefix}*": _binding(
            "User:producer-sms", topic, prefix, PREFIXED, AclOperation.READ
        ),
        f"User:producer-email ALL TOPIC {prefix}.dlq from 127.0.0.1": _binding(
            "User:producer-email", topic, f"{prefix}.dlq", LITERAL, AclOperation.ALL,
            host="127.0.0.1",
        ),
        f"User:worker DENY READ TOPIC {prefix}.tombstones": _binding(
            "User:worker", topic, f"{prefix}.tombstones", LITERAL, AclOperation.READ, DENY
        ),
        "User:producer-sms ALTER BROKER kafka-cluster": _binding(
            "User:producer-sms", cluster, "kafka-cluster", LITERAL, AclOperation.ALTER
        ),
        f"User:producer-sms READ GROUP {prefix}-worker*": _binding(
            "User:producer-sms", group, f"{prefix}-worker", PREFIXED, AclOperation.READ
        ),
        "User:producer-sms DESCRIBE TOPIC *": _binding(
            "User:producer-sms", topic, "*", LITERAL, AclOperation.DESCRIBE
        ),
    }


def _admin(bootstrap: str, login: Login) -> AdminClient:
    return AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": login["admin"]["username"],
            "sasl.password": login["admin"]["password"],
        }
    )


def _broker_acls(admin: AdminClient) -> set[AclBinding]:
    any_binding = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None,  # type: ignore[arg-type]
        AclOperation.ANY, AclPermissionType.ANY,
    )
    return set(admin.describe_acls(any_binding, request_timeout=15).result())


def _exactly(binding: AclBinding) -> AclBindingFilter:
    return AclBindingFilter(
        binding.restype, binding.name, binding.resource_pattern_type, binding.principal,
        binding.host, binding.operation, binding.permission_type,
    )


async def _write_one(bootstrap: str, login: Login, name: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **sasl(login, name))
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{}", partition=0)
    finally:
        await producer.stop()


async def _read_one(
    bootstrap: str, login: Login, name: str, topic: str, seconds: float = 30
) -> bytes:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, **sasl(login, name))
    await reader.start()

    async def first() -> bytes:
        tp = TopicPartition(topic, 0)
        reader.assign([tp])
        await reader.seek_to_beginning(tp)  # waits for the topic's metadata while it is hidden
        record: Any = await reader.getone()
        return bytes(record.value)

    try:
        return await asyncio.wait_for(first(), seconds)
    finally:
        await reader.stop()


async def test_every_hand_made_binding_that_reaches_the_deployment_is_drift_and_fix_removes_it(
    secure: tuple[str, Login, Any], unique_name: str
) -> None:
    bootstrap, login, _ = secure
    admin_env = env_of(bootstrap, login, "admin", unique_name)
    cli("topics", "ensure", env=admin_env)
    await _write_one(bootstrap, login, "producer-email", f"{unique_name}.raw.email")
    admin = _admin(bootstrap, login)
    hand_made = _hand_made(unique_name)
    elsewhere = _binding(
        "User:*", ResourceType.TOPIC, f"x{unique_name}", PREFIXED, AclOperation.READ
    )
    for future in admin.create_acls([*hand_made.values(), elsewhere]).values():
        future.result()
    while not set(hand_made.values()) <= _broker_acls(admin):  # the broker applies them later
        await asyncio.sleep(0.2)
    # The hazard is real: with the PREFIXED grant, the SMS producer reads raw email events.
    assert await _read_one(bootstrap, login, "producer-sms", f"{unique_name}.raw.email") == b"{}"

    found = cli("topics", "ensure", env=admin_env, check=False)
    assert found.returncode == 1, found.stdout
    drift = [line for line in found.stdout.splitlines() if line.startswith("DRIFT")]
    for line in hand_made:
        assert f"DRIFT     undeclared ACL {line} (--fix removes it)" in drift, found.stdout
    assert len(drift) == len(hand_made), "another deployment's binding is not ours to judge"
    assert found.stderr.count("\n") == 1, found.stderr

    fixed = cli("topics", "ensure", "--fix", env=admin_env)
    assert sorted(line for line in fixed.stdout.splitlines() if line.startswith("acl removed")) == (
        sorted(f"acl removed {line}" for line in hand_made)
    )
    left = _broker_acls(admin)
    assert not left & set(hand_made.values())
    assert elsewhere in left
    # Refused, or (no DESCRIBE left either) the topic stays invisible: no record either way.
    with pytest.raises((TopicAuthorizationFailedError, TimeoutError)):
        await _read_one(bootstrap, login, "producer-sms", f"{unique_name}.raw.email", 10)
    again = cli("topics", "ensure", env=admin_env)
    assert "DRIFT" not in again.stdout
    for future in admin.delete_acls([_exactly(elsewhere)]).values():
        future.result()


def test_an_app_id_that_is_a_prefix_of_another_deployments_topics_is_refused(
    secure: tuple[str, Login, Any], unique_name: str
) -> None:
    bootstrap, login, _ = secure
    other = unique_name
    cli("topics", "ensure", env=env_of(bootstrap, login, "admin", other))
    # This deployment's app id is a prefix of the other one's topics ('<other>.raw.phone'...):
    # the worker's PREFIXED READ and CREATE on its app id would reach them.
    ours = env_of(bootstrap, login, "admin", f"o{unique_name}", CONTACTSTREAM_APP_ID=other)
    refused = cli("topics", "ensure", env=ours, check=False)
    assert refused.returncode == 1, refused.stdout
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "CONTACTSTREAM_APP_ID" in refused.stderr
    assert f"{other}." in refused.stderr
    assert "acl added" not in refused.stdout
