"""`contactstream demo`: the whole system on the embedded defaults, start to finish.

Broker (started if none answers) -> worker (child process, owns chDB) -> 24 months of backfilled
history and live traffic -> retention redacts what is past due -> the worker stops, the demo
reads ClickHouse and prints the KPIs, the retention status and where the report is.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.live import Live
from rich.table import Table

from streams import report
from streams.config import CHANNELS, Settings
from streams.errors import BrokerError
from streams.localkafka import LocalBroker
from streams.localkafka.broker import _metadata_ok, free_port
from streams.simulator.produce import simulate
from streams.storage import open_client


@dataclass(frozen=True)
class DemoOptions:
    duration: float = 60.0
    rate: float = 200.0
    history_contacts: int = 20_000
    history_months: int = 24
    invalid_fraction: float = 0.02
    seed: int = 7
    report_dir: Path = Path("reports")


class Demo:
    def __init__(self, settings: Settings, options: DemoOptions, console: Console) -> None:
        self.options = options
        self.console = console
        self.run_id = datetime.now(UTC).strftime("demo_%Y%m%d_%H%M%S")
        self.base = settings
        self.broker: LocalBroker | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.settings = settings

    def run(self) -> int:
        try:
            self._start_broker()
            self._start_worker()
            asyncio.run(self._traffic())
            self._stop_worker()
            self._report()
            return 0
        except KeyboardInterrupt:
            self.console.print("[yellow]interrupted: stopping what the demo started[/]")
            return 130
        finally:
            self._stop_worker()
            if self.broker is not None:
                self.broker.stop()
                self.console.print("broker stopped")

    def _start_broker(self) -> None:
        if asyncio.run(_metadata_ok(self.base.kafka_bootstrap, {})):
            self.console.print(f"using the running broker at {self.base.kafka_bootstrap}")
            bootstrap = self.base.kafka_bootstrap
        else:
            self.broker = LocalBroker(self.base.data_dir / "kafka", self.base.jars_path)
            port = int(self.base.kafka_bootstrap.rsplit(":", 1)[1])
            try:
                state = self.broker.start(port=port)
            except BrokerError:
                state = self.broker.start(port=0)
            bootstrap = state.bootstrap
            self.console.print(f"broker started: bootstrap={bootstrap}")
        self.settings = self.base.model_copy(
            update={
                "kafka_bootstrap": bootstrap,
                "topic_prefix": self.run_id,
                # Not the topic prefix itself: the settings refuse an app id whose ACLs would
                # reach every topic of the deployment.
                "app_id": f"{self.run_id}-worker",
                "clickhouse_database": self.run_id,
                "metrics_port": free_port(),
            }
        )

    def _start_worker(self) -> None:
        s = self.settings
        env = {
            **os.environ,
            "CONTACTSTREAM_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "CONTACTSTREAM_TOPIC_PREFIX": s.topic_prefix,
            "CONTACTSTREAM_APP_ID": s.app_id,
            "CONTACTSTREAM_CLICKHOUSE_DATABASE": s.clickhouse_database,
            "CONTACTSTREAM_METRICS_PORT": str(s.metrics_port),
            "CONTACTSTREAM_DATA_DIR": str(s.data_dir),
            "CONTACTSTREAM_RETENTION_INTERVAL_SECONDS": "5",
            # The demo ends once nothing is overdue: no hour-long wait for a redaction batch.
            "CONTACTSTREAM_REDACTION_BATCH_SECONDS": "1",
            "CONTACTSTREAM_SINK_BATCH_MAX_SECONDS": "0.5",
            # The demo is a test run: placeholder salt and a generated DPO key pair are fine.
            "CONTACTSTREAM_MODE": "dev",
        }
        s.data_dir.mkdir(parents=True, exist_ok=True)
        log = (s.data_dir / f"{self.run_id}-worker.log").open("ab")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.console.print(f"worker started (pid {self.worker.pid}, log {log.name})")
        deadline = time.monotonic() + 120
        while scrape(s.metrics_port) is None:
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise BrokerError(f"the worker did not start; see {log.name}")
            time.sleep(0.5)

    async def _traffic(self) -> None:
        o = self.options
        self.console.print(
            f"backfilling {o.history_contacts} contacts over {o.history_months} months ..."
        )
        history = await simulate(
            self.settings,
            o.history_contacts,
            o.seed,
            o.history_months,
            o.invalid_fraction,
            None,
            now=datetime.now(UTC) - timedelta(hours=2),
        )
        for line in history.lines():
            self.console.print("  " + line)
        live_contacts = max(1, int(o.rate * o.duration / 2.4))
        self.console.print(f"live traffic: about {o.rate:.0f} events/s for {o.duration:.0f} s")
        producing = asyncio.create_task(
            simulate(self.settings, live_contacts, o.seed + 1, 0, o.invalid_fraction, o.rate)
        )
        await self._watch(producing)

    async def _watch(self, producing: asyncio.Task[object]) -> None:
        """Live view until the traffic is sent, consumed, and retention has nothing overdue."""
        view = LiveView(CHANNELS)
        caught_up_at: float | None = None
        with Live(
            view.table({}), console=self.console, refresh_per_second=2, transient=False
        ) as live:
            while True:
                await asyncio.sleep(1.0)
                sample = scrape(self.settings.metrics_port) or {}
                live.update(view.table(sample))
                if caught_up_at is None and producing.done() and _caught_up(sample):
                    caught_up_at = time.time()  # a retention run after this saw everything
                if caught_up_at is not None and _retention_done(sample, caught_up_at):
                    break
        producing.result()

    def _stop_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
            self.console.print("worker stopped")

    def _report(self) -> None:
        now = datetime.now(UTC)
        client = open_client(self.settings)
        try:
            result = report.collect(
                client, now, now - timedelta(days=30), self.settings.retention_months
            )
        finally:
            client.close()
        directory = self.options.report_dir / self.run_id
        files = report.write(result, directory.absolute())
        self.console.print(kpi_table(result))
        self.console.print(f"contacts in ClickHouse: {result.contacts}")
        self.console.print(
            f"retention: contacts past due with personal data: {result.overdue}; "
            f"redacted this run: {sum(result.redacted.values())} "
            f"({', '.join(f'{k} {v}' for k, v in result.redacted.items())})"
        )
        self.console.print(
            f"database {self.settings.clickhouse_database}, topics {self.settings.topic_prefix}.*"
        )
        self.console.print(f"report: {directory.absolute()} ({', '.join(p.name for p in files)})")


def scrape(port: int) -> dict[str, float] | None:
    """Sum of each sample name (with its labels) from the worker's /metrics, or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(f"|{k}={v}" for k, v in sorted(sample.labels.items()))
            values[key] = sample.value
    return values


def total(sample: dict[str, float], name: str, **labels: str) -> float:
    want = [f"{k}={v}" for k, v in labels.items()]
    return sum(
        v
        for k, v in sample.items()
        if k.split("|")[0] == name and all(w in k.split("|")[1:] for w in want)
    )


def _caught_up(sample: dict[str, float]) -> bool:
    return bool(sample) and total(sample, "contactstream_consumer_lag") == 0


def _retention_done(sample: dict[str, float], since: float) -> bool:
    last_run = total(sample, "contactstream_retention_last_success_timestamp_seconds")
    return last_run > since and total(sample, "contactstream_retention_overdue_contacts") == 0


class LiveView:
    def __init__(self, channels: tuple[str, ...]) -> None:
        self.channels = channels
        self.previous: dict[str, float] = {}
        self.at = time.monotonic()

    def table(self, sample: dict[str, float]) -> Table:
        now = time.monotonic()
        span = max(now - self.at, 1e-3)
        table = Table(title="contactstream worker (live)")
        for column in ("channel", "events/s", "accepted", "rejected", "DLQ"):
            table.add_column(column, justify="right")
        for channel in self.channels:
            consumed = total(sample, "contactstream_events_consumed_total", channel=channel)
            rate = (consumed - self.previous.get(channel, consumed)) / span
            self.previous[channel] = consumed
            table.add_row(
                channel,
                f"{rate:,.0f}",
                f"{total(sample, 'contactstream_events_accepted_total', channel=channel):,.0f}",
                f"{total(sample, 'contactstream_events_rejected_total', channel=channel):,.0f}",
                f"{total(sample, 'contactstream_dlq_writes_total', channel=channel):,.0f}",
            )
        self.at = now
        count = total(sample, "contactstream_event_freshness_seconds_count")
        fresh = total(sample, "contactstream_event_freshness_seconds_sum") / count if count else 0
        tombstones = total(sample, "contactstream_tombstones_emitted_total")
        table.caption = (
            f"lag {total(sample, 'contactstream_consumer_lag'):,.0f} · mean freshness "
            f"{fresh:,.0f} s · tombstones {tombstones:,.0f}"
            f" · redactions {total(sample, 'contactstream_redactions_applied_total'):,.0f}"
            f" · overdue {total(sample, 'contactstream_retention_overdue_contacts'):,.0f}"
        )
        return table


def kpi_table(result: report.Report) -> Table:
    table = Table(title="KPIs per channel, last 30 days (from ClickHouse analyst views)")
    for column in report.KPI_COLUMNS:
        table.add_column(column, justify="right")
    for row in result.kpis:
        table.add_row(*("-" if v is None else str(v) for v in row))
    return table
