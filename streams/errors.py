"""One error root. Each error says whether retrying can help; messages never hold personal data."""

from __future__ import annotations


class ContactstreamError(Exception):
    """Root of every error this project raises on purpose."""

    retriable: bool = False


class ConfigError(ContactstreamError):
    """A setting or argument is wrong; the message says which and how to fix it."""


class MissingToolError(ContactstreamError):
    """A program the project needs (java, mvn) is not installed."""


class BrokerError(ContactstreamError):
    """The local Kafka broker could not be assembled, started or stopped."""


class StorageError(ContactstreamError):
    """ClickHouse refused or failed an operation that retrying will not fix."""


class StorageUnavailable(StorageError):  # noqa: N818 - reads as a state, like aiokafka's errors
    """ClickHouse is unreachable or overloaded right now; pause and retry."""

    retriable = True


class StorageLocked(StorageError):  # noqa: N818
    """The embedded chDB directory is held by another process (usually a running worker)."""
