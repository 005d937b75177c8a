"""The faust app: configuration for correctness first (design section 9), then the agents."""

from __future__ import annotations

import faust
import mode

from streams.analyst import snapshot_job, store_job
from streams.config import Settings, broker_urls
from streams.deadletters import watch
from streams.ingest import service
from streams.kafka.topics import dlq_max_message_bytes
from streams.privacy import redaction, retention
from streams.subjects import agent
from streams.worker.runtime import Runtime


def faust_credentials(settings: Settings) -> faust.SASLCredentials | None:
    """faust's side of the same Kafka security every other client takes from the settings."""
    config = settings.kafka_client_config()
    if "sasl_mechanism" not in config:
        return None
    return faust.SASLCredentials(
        username=config["sasl_plain_username"],
        password=config["sasl_plain_password"],
        mechanism=config["sasl_mechanism"],
        ssl_context=config.get("ssl_context"),
    )


class CloseClients(mode.Service):
    """Closes what the agents opened (Runtime.on_shutdown), when faust stops the app."""

    mundane_level = "debug"  # mode's "Starting..."/"Stopping..." lines: chatter at info

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime

    async def on_stop(self) -> None:
        for hook in self.runtime.on_shutdown:
            await hook()


def create_app(runtime: Runtime) -> faust.App:
    settings = runtime.settings
    datadir = settings.data_dir / "faust" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=broker_urls(settings.kafka_bootstrap),
        broker_credentials=faust_credentials(settings),
        value_serializer="raw",  # bytes in, no per-event decoding by faust
        key_serializer="raw",
        store="memory://",  # no tables: the worker keeps no state that could hold personal data
        web_enabled=False,
        datadir=str(datadir),
        topic_replication_factor=settings.kafka_replication_factor,
        topic_partitions=settings.raw_partitions,
        consumer_auto_offset_reset="earliest",
        # Storage is idempotent, so a stuck batch must not block a rebalance; it is re-read.
        stream_wait_empty=False,
        # faust reads only the small control topics (tombstones, subject requests); the raw
        # topics are read by streams.ingest.consumer, bounded in records and bytes
        # (docs/benchmarks.md, "Memory").
        stream_buffer_maxsize=settings.stream_buffer_events,
        broker_max_poll_records=min(settings.stream_buffer_events, settings.sink_batch_max_rows),
        consumer_max_fetch_size=settings.consumer_fetch_bytes,
        # A dead letter is as large as its original (up to the raw topics' limit) plus headers.
        producer_max_request_size=dlq_max_message_bytes(settings),
        # An outage retry waits inside the agent; give it time before the group evicts us.
        broker_max_poll_interval=600.0,
        broker_commit_interval=1.0,
        # A crashed worker's partitions move after 15 s instead of faust's default 60 s.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        producer_acks=-1,
    )
    service.register(app, runtime)
    retention.register(app, runtime)
    redaction.register(app, runtime)
    agent.register(app, runtime)
    store_job.register(app, runtime)
    snapshot_job.register(app, runtime)
    watch.register(app, runtime)

    # An instance, not a class: faust's App.on_init_extra_service prepares either (its
    # annotation names the class only) and stops it with the app, as before this moved.
    app.service(CloseClients(runtime))  # type: ignore[arg-type]
    return app
