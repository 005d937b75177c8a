"""One error root; the class says what kind of failure it is; messages never hold personal data.

The failure rule (docs/operating.md, "Failure rule"): a failure is about *this event* (it goes to
the DLQ and the batch goes on) or about *the system* (nothing is acked or rerouted; the batch
waits with backoff). Only `StorageRejected` and validation rejections are about an event.
"""

from __future__ import annotations


class ContactstreamError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(ContactstreamError):
    """A setting or argument is wrong; the message says which and how to fix it."""


class MissingExtraError(ConfigError):
    """A feature needs an optional part of the package (an extra, streams/extras.py) that is not
    installed; the message names the extra and the pip command that installs it."""


class MissingToolError(ContactstreamError):
    """A program the project needs (java, mvn) is not installed."""


class BrokerError(ContactstreamError):
    """The local Kafka broker could not be assembled, started or stopped."""


class StorageError(ContactstreamError):
    """ClickHouse failed an operation; `code` is ClickHouse's error code when it gave one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class StorageUnavailable(StorageError):  # noqa: N818 - reads as a state, like aiokafka's errors
    """ClickHouse cannot store anything right now (down, disk full, read-only, overloaded)."""


class StorageRejected(StorageError):  # noqa: N818
    """ClickHouse refused the values of the rows sent (a constraint, a value out of range):
    the same rows will be refused again, other rows are fine. The only storage failure about
    an event rather than the system."""


class StorageLocked(StorageError):  # noqa: N818
    """The embedded chDB directory is held by another process (usually a running worker)."""


class NotMigrated(StorageError):  # noqa: N818
    """The configured database, or a table a read-only command needs, does not exist yet (no
    worker or `contactstream migrate` has run against it); nothing was created."""
