"""Which Kafka ACL bindings reach a deployment (issue 20, finding 1), and which topics of
another deployment an app id would reach (finding 6). Pure."""

from __future__ import annotations

import pytest

from streams.config import Settings
from streams.kafka.acls import (
    Acl,
    acl_drift,
    acl_line,
    covered_foreign_topics,
    declared_acls,
    reaches,
)

SETTINGS = Settings(topic_prefix="contacts", app_id="contactstream")


@pytest.mark.parametrize(
    "acl",
    [
        Acl("*", "TOPIC", "contacts.raw.phone", "LITERAL", "READ"),  # any user
        Acl("producer-sms", "TOPIC", "contacts", "PREFIXED", "READ"),  # covers every topic
        Acl("producer-sms", "TOPIC", "c", "PREFIXED", "READ"),
        Acl("producer-sms", "TOPIC", "contacts.raw.ph", "PREFIXED", "READ"),
        Acl("producer-sms", "TOPIC", "contacts.new", "PREFIXED", "CREATE"),  # future topics
        Acl("producer-sms", "TOPIC", "contacts.nobody-made-it", "LITERAL", "CREATE"),
        Acl("producer-sms", "TOPIC", "*", "LITERAL", "DESCRIBE"),  # the wildcard
        Acl("producer-email", "TOPIC", "contacts.dlq", "LITERAL", "ALL", "ALLOW", "127.0.0.1"),
        Acl("worker", "TOPIC", "contacts.tombstones", "LITERAL", "READ", "DENY"),
        Acl("bob", "TOPIC", "contacts.dlq", "LITERAL", "READ", principal_type="Group"),
        Acl("alice", "TOPIC", "contactstream-__assignor-__leader", "LITERAL", "READ"),
        Acl("alice", "TOPIC", "contactstream-", "PREFIXED", "WRITE"),
        Acl("alice", "GROUP", "contactstream", "LITERAL", "READ"),
        Acl("alice", "GROUP", "contactstream-raw", "LITERAL", "READ"),
        Acl("alice", "GROUP", "contact", "PREFIXED", "DESCRIBE"),
        Acl("alice", "GROUP", "*", "LITERAL", "READ"),
        Acl("alice", "TRANSACTIONAL_ID", "contactstream-0", "LITERAL", "WRITE"),
        Acl("alice", "BROKER", "kafka-cluster", "LITERAL", "ALTER"),  # reaches everything
    ],
)
def test_a_binding_that_can_match_a_resource_of_the_deployment_reaches_it(acl: Acl) -> None:
    assert reaches(acl, SETTINGS)


@pytest.mark.parametrize(
    "acl",
    [
        Acl("*", "TOPIC", "other.raw.phone", "LITERAL", "READ"),  # another deployment
        Acl("*", "TOPIC", "other", "PREFIXED", "READ"),
        Acl("*", "TOPIC", "contacts-eu", "PREFIXED", "READ"),  # 'contacts-eu.*', not 'contacts.*'
        Acl("*", "TOPIC", "contacts", "LITERAL", "READ"),  # a topic named 'contacts' only
        Acl("*", "TOPIC", "*", "PREFIXED", "READ"),  # no topic name starts with '*'
        Acl("*", "GROUP", "contacts.raw.phone", "LITERAL", "READ"),  # a group, not a topic
        Acl("*", "GROUP", "other-worker", "PREFIXED", "READ"),
        Acl("*", "TRANSACTIONAL_ID", "other", "PREFIXED", "WRITE"),
    ],
)
def test_a_binding_that_cannot_match_any_of_its_resources_does_not(acl: Acl) -> None:
    assert not reaches(acl, SETTINGS)


def test_drift_is_the_full_binding_not_only_who_and_what() -> None:
    declared = declared_acls(SETTINGS)
    write = Acl("producer-sms", "TOPIC", "contacts.raw.sms", "LITERAL", "WRITE")
    assert write in declared
    variants = {
        write._replace(host="127.0.0.1"),
        write._replace(permission="DENY"),
        write._replace(principal="*"),
        write._replace(pattern="PREFIXED"),
        write._replace(principal_type="Group"),
    }
    elsewhere = Acl("*", "TOPIC", "other.raw.sms", "LITERAL", "READ")
    assert acl_drift(declared, declared | variants | {elsewhere}, SETTINGS) == (set(), variants)


def test_every_declared_acl_reaches_the_deployment() -> None:
    """Otherwise a declared binding could never be judged, and never be missing."""
    assert all(reaches(acl, SETTINGS) for acl in declared_acls(SETTINGS))


def test_a_line_shows_the_whole_binding() -> None:
    plain = Acl("producer-sms", "TOPIC", "contacts.raw.sms", "LITERAL", "WRITE")
    assert acl_line(plain) == "User:producer-sms WRITE TOPIC contacts.raw.sms"
    odd = Acl("*", "GROUP", "contactstream", "PREFIXED", "ALL", "DENY", "10.0.0.1")
    assert acl_line(odd) == "User:* DENY ALL GROUP contactstream* from 10.0.0.1"


def test_topics_the_app_ids_prefix_would_reach_in_another_deployment() -> None:
    topics = [
        "contactstream-__assignor-__leader",  # faust's own: no dot in an app id's topics
        "contacts.raw.phone",
        "contactstream-eu.raw.phone",
        "contactstreams.dlq",
        "other.raw.phone",
        "__consumer_offsets",
    ]
    covered = covered_foreign_topics(SETTINGS, topics)
    assert covered == ["contactstream-eu.raw.phone", "contactstreams.dlq"]
