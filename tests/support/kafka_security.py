"""The project's own broker with authentication and authorization (--secure), for the tests of
Kafka security and ACL drift: a broker per test module, its principals' logins, and a client's
or a command's settings as one of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import REPO, cli

Login = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Login, Path]]:
    state = tmp_path_factory.mktemp("secure-broker")
    env = {
        "CONTACTSTREAM_DATA_DIR": str(state),
        "CONTACTSTREAM_JAR_CACHE": str(REPO / ".contactstream" / "jars"),
    }
    started = cli("broker", "start", "--port", "0", "--fresh", "--secure", env=env, timeout=600)
    bootstrap = started.stdout.strip().splitlines()[-1].removeprefix("bootstrap=")
    path = state / "kafka" / "principals.json"
    yield bootstrap, json.loads(path.read_text()), path
    cli("broker", "stop", env=env)


def sasl(login: Login, name: str) -> dict[str, Any]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": login[name]["username"],
        "sasl_plain_password": login[name]["password"],
    }


def env_of(bootstrap: str, login: Login, name: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "CONTACTSTREAM_TOPIC_PREFIX": prefix,
        "CONTACTSTREAM_APP_ID": f"{prefix}-worker",
        "CONTACTSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CONTACTSTREAM_KAFKA_USERNAME": login[name]["username"],
        "CONTACTSTREAM_KAFKA_PASSWORD": login[name]["password"],
        **extra,
    }
