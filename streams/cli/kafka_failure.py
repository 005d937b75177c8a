"""What a command says when Kafka fails: the address and principal *the command* used, and
whether the broker refused the login.

The address comes from the settings the command ran with (`command_settings` may have found the
local broker's port in its state file), never from a fresh `Settings()`. aiokafka reports a
refused SASL login only as "Unable to bootstrap", like a broker that is down; so after a
connection failure with SASL, one more connection asks the broker why.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import click
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from streams.config import Settings
from streams.errors import ContactstreamError

IN_USE: Final = "contactstream.settings"
"""Key in the click context's `meta` (shared by every nested context) of the settings the
command runs with; `command_settings` puts them there."""

_PROBE_SECONDS: Final = 10.0


class CommandLine(click.Group):
    """The root group: a Kafka failure below it becomes one line that names the address and
    principal the command used (`contactstream: error: ...`, exit 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KafkaError as exc:
            used = ctx.meta.get(IN_USE)
            if not isinstance(used, Settings):  # a command that never asked for its settings
                from streams.cli.settings import command_settings

                used = command_settings()
            raise ContactstreamError(kafka_failure(exc, used)) from None


def remember(settings: Settings) -> None:
    """Record the settings the running command uses, for its Kafka error message."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[IN_USE] = settings


def kafka_failure(exc: KafkaError, settings: Settings) -> str:
    """The one line for a Kafka failure; asks the broker about the login when it may be why."""
    secure = settings.kafka_security_protocol != "PLAINTEXT"
    refusal = None
    if secure and isinstance(exc, KafkaConnectionError):
        refusal = asyncio.run(login_refusal(settings))
    return failure_line(
        type(exc).__name__,
        settings.kafka_bootstrap,
        settings.kafka_username if secure else None,
        settings.kafka_sasl_mechanism,
        refusal,
    )


def failure_line(
    error: str,
    bootstrap: str,
    principal: str | None,
    mechanism: str,
    refusal: type[KafkaError] | None = None,
) -> str:
    """The message (pure). `principal`: the SASL user, None without SASL; `refusal`: why the
    broker refused the login, if it did. Never a password."""
    if principal is not None and refusal is SaslAuthenticationFailed:
        return (
            f"authentication failed: Kafka at {bootstrap} refused principal User:{principal} "
            f"({mechanism}); check CONTACTSTREAM_KAFKA_USERNAME and CONTACTSTREAM_KAFKA_PASSWORD"
        )
    if principal is not None and refusal is UnsupportedSaslMechanismError:
        return (
            f"authentication failed: Kafka at {bootstrap} does not offer {mechanism} "
            f"(principal User:{principal}); check CONTACTSTREAM_KAFKA_SASL_MECHANISM"
        )
    if principal is None or error == KafkaConnectionError.__name__:
        hint = "is the broker running? 'contactstream broker start'"
    else:
        hint = (
            f"is principal User:{principal} allowed to do this? 'contactstream topics ensure' "
            "as the admin principal applies the declared ACLs"
        )
    return f"Kafka at {bootstrap} failed: {error} ({hint})"


async def login_refusal(settings: Settings) -> type[KafkaError] | None:
    """The error a bootstrap server answers this login with (authentication failed, mechanism
    not offered), or None: the login works, or no server answers at all."""
    client = settings.kafka_client_config()
    login = {name: value for name, value in client.items() if name != "bootstrap_servers"}
    for server in settings.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host.strip("[]"), int(port), request_timeout_ms=5000, **login),
                _PROBE_SECONDS,
            )
        except (SaslAuthenticationFailed, UnsupportedSaslMechanismError) as refused:
            return type(refused)
        except (OSError, ValueError, KafkaError, TimeoutError):
            continue  # this one does not answer (or is no host:port): ask the next
        with contextlib.suppress(Exception):
            conn.close()
        return None
    return None
