"""Second baseline for bench/pipeline.py: faust agents that only ack (noack_take + ack, as the
normalizers do, with no validation and no storage): the ceiling faust's per-event stream path
puts on any faust worker on this machine."""

from __future__ import annotations

from typing import Any

import faust

from streams.config import CHANNELS, Settings, broker_urls


def main() -> None:
    settings = Settings()
    datadir = settings.data_dir / "faust-ceiling"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=broker_urls(settings.kafka_bootstrap),
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        datadir=str(settings.data_dir / "faust-ceiling"),
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        stream_buffer_maxsize=2 * settings.sink_batch_max_rows,
        broker_max_poll_records=min(5000, settings.sink_batch_max_rows),
        broker_commit_interval=1.0,
    )
    for channel in CHANNELS:
        topic = app.topic(
            settings.topic(f"raw.{channel}"), key_serializer="raw", value_serializer="raw"
        )

        async def only_ack(stream: Any) -> None:
            async for events in stream.noack_take(
                settings.sink_batch_max_rows, within=settings.sink_batch_max_seconds
            ):
                for event in events:
                    await stream.ack(event)

        app.agent(topic, name=f"ceiling.{channel}")(only_ack)
    faust.Worker(
        app, loglevel="warn", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


if __name__ == "__main__":
    main()
