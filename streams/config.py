"""The one settings object: every knob of contactstream, read from CONTACTSTREAM_* variables.

No other module reads os.environ; they take a `Settings` (or the values they need from it).
"""

from __future__ import annotations

import re
import ssl
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import CHANNELS, Channel
from schemas.control import Deployment
from schemas.limits import Limits
from streams.errors import ConfigError

__all__ = ["CHANNELS", "Channel", "Settings", "broker_urls", "redact_dsn"]

DEFAULT_DATA_DIR = Path(".contactstream")
# Compose `secrets:` appear here as files named like the variable (contactstream_kafka_password):
# a secret is read from a file, never from the environment (which `docker inspect` shows).
SECRETS_DIR = Path("/run/secrets")
PLACEHOLDER_SALT = "change-me-in-production"


class Settings(BaseSettings):
    """Frozen configuration. Defaults run everything embedded on one machine."""

    model_config = SettingsConfigDict(
        env_prefix="CONTACTSTREAM_",
        frozen=True,
        extra="ignore",
        secrets_dir=SECRETS_DIR if SECRETS_DIR.is_dir() else None,
    )

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Local state: jars, broker, chDB, exports")
    jar_cache: Path | None = Field(None, description="Kafka jars cache; default data_dir/jars")
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How every Kafka client of the project connects"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = Field(None, description="SASL user (the principal's name)")
    kafka_password: SecretStr | None = Field(None, description="SASL password (a secret)")
    kafka_ca_file: Path | None = Field(None, description="CA certificate (PEM) for SASL_SSL")
    clickhouse_dsn: SecretStr | None = Field(
        None,
        description="chdb:///path or http(s)://user:pass@host:8123/db; default chDB under data_dir",
    )
    clickhouse_database: str = Field("contactstream", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    topic_prefix: str = Field("contacts", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")
    # No dot: the project's topics are '<prefix>.<name>', so an app id can reach into them
    # only by being a prefix of a topic prefix (refused below for this deployment's).
    app_id: str = Field(
        "contactstream",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,100}$",
        description="Faust app id = Kafka consumer group",
    )
    log_level: Literal["debug", "info", "warn", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per line, for a log collector"
    )

    # Sink: ClickHouse prefers large, infrequent inserts (>= 1,000 rows, about one per second).
    sink_batch_max_rows: int = Field(20_000, ge=1, le=1_000_000)
    sink_batch_max_seconds: float = Field(1.0, gt=0, le=60)
    sink_batch_max_bytes: int = Field(
        16 * 1024**2, ge=1024**2, le=1024**3, description="Batch bound in bytes of raw records"
    )
    sink_retry_max_seconds: float = Field(30.0, gt=0, description="Backoff ceiling on outages")

    # Memory: what the worker holds besides the batch (docs/benchmarks.md, "Memory").
    stream_buffer_events: int = Field(
        1024,
        ge=64,
        le=131_072,
        description="Events faust buffers per control-topic stream (tombstones, subject "
        "requests) and polls at once; the raw topics are read in batches, not through faust",
    )
    consumer_fetch_bytes: int = Field(
        1024**2, ge=64 * 1024, le=64 * 1024**2, description="Fetch size per partition"
    )
    raw_max_message_bytes: int = Field(
        1_048_588, ge=64 * 1024, le=64 * 1024**2, description="max.message.bytes of raw topics"
    )
    max_future_skew_seconds: float = Field(
        86_400.0, ge=0, description="Events dated further ahead go to the DLQ"
    )

    # Validation limits (see docs/producers.md).
    max_text_bytes: int = Field(65_536, ge=256, description="Content and subject size limit")
    phone_default_region: str = Field("FI", min_length=2, max_length=2)

    # Retention (privacy notice section 12: personal data removed 18 months after handling).
    retention_months: int = Field(18, ge=1, le=120)
    retention_interval_seconds: float = Field(60.0, gt=0)
    retention_batch_size: int = Field(10_000, ge=1, le=100_000)
    redaction_batch_seconds: float = Field(
        3600.0,
        gt=0,
        le=4 * 3600,
        description="Due contacts go to redaction in batches, once the oldest has been due this "
        "long (or retention_batch_size are due): the bound past due (docs/operating.md)",
    )
    redaction_gather_seconds: float = Field(
        30.0,
        gt=0,
        le=300,
        description="Tombstones arriving within this window (erasures sent together) are "
        "redacted as one batch: one mutation per table",
    )
    old_parts_seconds: int = Field(
        60,
        ge=1,
        le=3600,
        description="How long ClickHouse keeps a part that a redaction or merge replaced, in the "
        "tables with personal columns (their old_parts_lifetime): erased bytes stay this long",
    )
    subject_key_salt: SecretStr = Field(
        SecretStr(PLACEHOLDER_SALT), description="Salt of the repeat-contact key (a secret)"
    )
    mode: Literal["production", "dev"] = Field(
        "production", description="dev allows the placeholder salt and a generated DPO key"
    )
    dpo_verify_key_file: Path | None = Field(
        None,
        description="Ed25519 public keys (PEM) the worker accepts subject requests signed by: "
        "a file of one or more keys, or a directory of *.pem files (two during a rotation)",
    )
    dpo_signing_key_file: Path | None = Field(
        None, description="Ed25519 private key (PEM) the subject command signs requests with"
    )
    subject_request_ttl_seconds: float = Field(
        86_400.0,
        gt=0,
        le=30 * 86_400,
        description="A subject request is valid this long: the DPO tool signs it so, and a "
        "worker refuses one signed for longer",
    )
    exports_dir: Path | None = Field(None, description="Subject exports; default data_dir/exports")
    analyst_snapshot_seconds: float | None = Field(
        None,
        ge=0,
        description="How often the leader writes analyst snapshots (0: never); default 60 with "
        "chDB, off with a ClickHouse server (analysts query the server)",
    )
    analyst_store_seconds: float = Field(
        60.0,
        ge=0,
        description="How often the leader checks whether the analyst views' stored snapshot "
        "needs a refresh (0: never; the views are then computed in full on every query)",
    )
    analyst_store_changed_contacts: int = Field(
        1000,
        ge=0,
        description="The snapshot is refreshed once this many contacts changed since it (the "
        "views compute them live, with those sharing their subject keys: the more, the slower "
        "the views), or when it is analyst_store_max_age_seconds old (0: at every check)",
    )
    analyst_store_max_age_seconds: float = Field(
        6 * 3600.0,
        gt=0,
        le=20 * 3600,  # the views stop using a snapshot a day old
        description="The oldest the analyst views' stored snapshot may get before a refresh",
    )

    # Kafka topic retention for topics that hold personal data (section 5 of the design).
    raw_retention_ms: int = Field(7 * 24 * 3600 * 1000, ge=60_000)
    dlq_watch_seconds: float = Field(
        300.0,
        gt=0,
        description="How often the leader measures the oldest unhandled dead letter's age",
    )
    raw_partitions: int = Field(4, ge=1, le=1024)
    kafka_replication_factor: int = Field(1, ge=1, le=16, description="3 in production")

    pipeline_latency_alert_seconds: float = Field(
        5.0, gt=0, description="p99 of stored time - Kafka timestamp that alerts (exported)"
    )
    metrics_port: int = Field(9464, ge=0, le=65535, description="0 disables the HTTP endpoint")
    metrics_host: str = Field(
        "127.0.0.1", description="Address /metrics listens on (0.0.0.0 inside a container)"
    )
    ready_batch_seconds: float = Field(
        60.0,
        gt=0,
        description="/readyz fails when the raw batch consumer has finished no batch (nor an idle "
        "poll) for this long, e.g. while its batch waits for ClickHouse",
    )

    @field_validator(
        "data_dir", "exports_dir", "jar_cache", "dpo_verify_key_file", "dpo_signing_key_file"
    )
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().absolute() if value is not None else None

    @field_validator("app_id")
    @classmethod
    def _apart_from_the_topics(cls, value: str, info: ValidationInfo) -> str:
        # The worker gets PREFIXED READ and CREATE on its app id (streams/kafka/acls.py).
        prefix = info.data.get("topic_prefix")
        if prefix is not None and prefix.startswith(value):
            raise ValueError(
                f"'{value}' is a prefix of the topic prefix '{prefix}': the worker's ACLs on "
                "its app id would reach every topic of the deployment; choose another app id"
            )
        return value

    @cached_property
    def dsn(self) -> str:
        """The ClickHouse DSN in clear text, for clickhouse-connect only. Never log it."""
        if self.clickhouse_dsn is not None:
            return self.clickhouse_dsn.get_secret_value()
        return f"chdb://{self.data_dir / 'clickhouse'}"

    @property
    def dsn_for_display(self) -> str:
        """The DSN with any password replaced, safe for logs and messages."""
        return redact_dsn(self.dsn)

    @property
    def retention_status_path(self) -> Path:
        """The leader's last retention figures, for the CLI while it holds the database: one
        file per database and topic prefix (`<database>.<prefix>.json`; a database name has no
        dot), so two deployments sharing a data directory never overwrite each other's."""
        name = f"{self.clickhouse_database}.{self.topic_prefix}.json"
        return self.data_dir / "retention" / name

    @property
    def analyst_path(self) -> Path:
        return self.data_dir / "analyst"

    @property
    def snapshot_interval(self) -> float:
        """Seconds between analyst snapshots; 0 when none are written."""
        if self.analyst_snapshot_seconds is not None:
            return self.analyst_snapshot_seconds
        return 60.0 if self.is_embedded else 0.0

    @property
    def deployment(self) -> Deployment:
        """This deployment's name in a subject request: the DPO tool signs it, workers check it."""
        return Deployment(topic_prefix=self.topic_prefix, app_id=self.app_id)

    @property
    def keys_path(self) -> Path:
        """Where dev mode keeps its generated DPO key pair."""
        return self.data_dir / "keys"

    @property
    def is_embedded(self) -> bool:
        return self.dsn.startswith("chdb:")

    @property
    def jars_path(self) -> Path:
        return self.jar_cache or self.data_dir / "jars"

    @property
    def exports_path(self) -> Path:
        return self.exports_dir or self.data_dir / "exports"

    @property
    def limits(self) -> Limits:
        """Validation's limits from these settings: the worker's and `schemas validate`'s."""
        return Limits(max_text_bytes=self.max_text_bytes, default_region=self.phone_default_region)

    def kafka_client_config(self) -> dict[str, Any]:
        """Connection settings every aiokafka client of the project takes (producers,
        consumers, admin): bootstrap, and with SASL the credentials and TLS context."""
        config: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap}
        if self.kafka_security_protocol == "PLAINTEXT":
            return config
        if not self.kafka_username or self.kafka_password is None:
            raise ConfigError(
                f"CONTACTSTREAM_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "CONTACTSTREAM_KAFKA_USERNAME and CONTACTSTREAM_KAFKA_PASSWORD"
            )
        config.update(
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_plain_username=self.kafka_username,
            sasl_plain_password=self.kafka_password.get_secret_value(),
        )
        if self.kafka_security_protocol == "SASL_SSL":
            config["ssl_context"] = self.kafka_ssl_context()
        return config

    def kafka_ssl_context(self) -> ssl.SSLContext:
        """TLS for SASL_SSL: the system's CAs, or only CONTACTSTREAM_KAFKA_CA_FILE's."""
        try:
            return ssl.create_default_context(
                cafile=str(self.kafka_ca_file) if self.kafka_ca_file else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"CONTACTSTREAM_KAFKA_CA_FILE: cannot use it ({exc})") from None

    def topic(self, name: str) -> str:
        """Full topic name, e.g. topic('raw.phone') -> 'contacts.raw.phone'."""
        return f"{self.topic_prefix}.{name}"


_SAFE_USER = re.compile(r"[A-Za-z0-9._-]{1,64}")


def redact_dsn(dsn: str) -> str:
    """The DSN without its secrets, for logs and messages; it can never leak a password.

    Anything between '://' and the *last* '@' is credentials (a password may hold '@', '/',
    '#' or '?'): only a plain user name is kept. The query string (which may carry a password)
    is dropped. What does not look like 'scheme://...' is masked whole."""
    scheme, separator, rest = dsn.partition("://")
    if not separator or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        return "***"
    if "@" in rest:
        userinfo, _, rest = rest.rpartition("@")
        user = userinfo.split(":", 1)[0] if ":" in userinfo else ""
        rest = f"{user}:***@{rest}" if _SAFE_USER.fullmatch(user) else f"***@{rest}"
    location, query, _ = rest.partition("?")
    return f"{scheme}://{location}{'?***' if query else ''}"


def broker_urls(bootstrap: str) -> list[str]:
    """faust's broker list from a Kafka bootstrap string 'host:port,host:port'."""
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]
