"""`contactstream demo`: the whole system on the embedded defaults, start to finish.

Broker (started if none answers) -> worker (child process, owns chDB) -> 24 months of backfilled
history and live traffic -> retention redacts what is past due -> the worker stops, the demo
reads ClickHouse, writes the analyst snapshots, prints the KPIs, the retention status, where the
report is and the commands that explore what it left.

It runs on the configured database and topic prefix (the defaults unless set), not on names of
its own: so `analyst query`, `retention status` and every other command, with no setting, see
its data afterwards. A rule such as "use the demo's database when it is the only one" would make
`retention status` (the DPO's evidence, tied to the configured database by design) answer for a
database nobody configured. Runs still never mix: a previous demo's database (named in
DATA_DIR/demo.json) is dropped first, and a database holding contacts no demo wrote is refused.

SIGINT, SIGTERM and SIGHUP (a closed terminal) all stop it the same way: the traffic task is
cancelled and awaited inside the event loop (so the Kafka producer closes while its own tasks
still run), then the worker and the broker the demo started are stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from streams.analyst.snapshots import write_snapshots
from streams.config import CHANNELS, Settings
from streams.dev import report, report_files
from streams.dev.demo_live import LiveView, caught_up, retention_done, scrape
from streams.dev.simulator.produce import simulate
from streams.errors import BrokerError, ContactstreamError, NotMigrated
from streams.kafka.local import LocalBroker
from streams.kafka.local.broker import _metadata_ok, free_port
from streams.storage import open_client, open_existing_client

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived (a KeyboardInterrupt, so library code treats it as Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


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
        self.signals: tuple[signal.Signals, ...] = ()
        self.devnull: TextIO | None = None

    def run(self) -> int:
        # An ignored signal stays ignored (`nohup contactstream demo` survives a closed terminal).
        self.signals = tuple(s for s in STOP_SIGNALS if signal.getsignal(s) != signal.SIG_IGN)
        previous = {s: signal.signal(s, self._on_signal) for s in self.signals}
        try:
            steps = self._run()
        except KeyboardInterrupt as stop:
            name = stop.args[0] if isinstance(stop, Stopped) else "SIGINT"
            self._say(f"[yellow]{name}: stopping what the demo started[/]")
            return 130
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            # The terminal closed before its SIGHUP arrived (the live view wrote first): the
            # same hang-up, so the same stop.
            self._heard(signal.SIGHUP)
            return 130
        finally:
            # A second signal must not cut the clean-up short and leave the broker running.
            for s in self.signals:
                signal.signal(s, signal.SIG_IGN)
            self._stop_worker()
            if self.broker is not None:
                self.broker.stop()
                self._say("broker stopped")
            for s, handler in previous.items():
                signal.signal(s, handler)
            if self.devnull is not None:
                self.devnull.close()
        for line in steps:  # last, once everything the demo started has stopped
            self.console.print(line, highlight=False, soft_wrap=True)
        return 0

    def _run(self) -> list[str]:
        """Everything up to the report; the commands that explore what it left."""
        self._start_broker()
        self._clear_previous_demo()
        self._start_worker()
        received = asyncio.run(self._traffic_until_stopped())
        if received is not None:
            raise Stopped(received)
        self._stop_worker()
        return self._report()

    def _say(self, text: str) -> None:
        """Print, unless the terminal is gone: stopping matters more than saying so."""
        with contextlib.suppress(OSError):
            self.console.print(text)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._heard(signum)
        raise Stopped(signum)

    def _heard(self, signum: int) -> None:
        """After SIGHUP the terminal is gone: every write to it would fail (EIO) and cut the
        clean-up short, so the rest goes nowhere."""
        if signum == signal.SIGHUP and self.devnull is None:
            self.devnull = open(os.devnull, "w")  # noqa: SIM115 (closed at the end of run)
            self.console.file = self.devnull

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
            update={"kafka_bootstrap": bootstrap, "metrics_port": free_port()}
        )

    def _clear_previous_demo(self) -> None:
        """Drop the previous demo's database (the marker names it), so runs never mix; refuse a
        database holding contacts no demo wrote. The marker then names this run's."""
        s = self.settings
        marker = s.data_dir / "demo.json"
        held = _contacts_held(s)
        if held:
            if demo_marker(marker) != _identity(s):
                raise ContactstreamError(
                    f"database {s.clickhouse_database} in {s.dsn_for_display} holds {held:,} "
                    "contacts no demo wrote: the demo would mix with them; run it with another "
                    "CONTACTSTREAM_DATA_DIR (or CONTACTSTREAM_CLICKHOUSE_DATABASE and "
                    "CONTACTSTREAM_TOPIC_PREFIX)"
                )
            _drop_database(s)
            self.console.print(
                f"removed the previous demo's data ({held:,} contacts in database "
                f"{s.clickhouse_database}, its snapshots and retention status)"
            )
        s.data_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps(_identity(s)))

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
        with (s.data_dir / "demo-worker.log").open("wb") as log:  # the child keeps its own fd
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

    async def _traffic_until_stopped(self) -> int | None:
        """The traffic, until done or a stop signal (returned): the signal cancels this task,
        whose clean-up runs while the event loop and aiokafka's own tasks are still alive."""
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        assert main is not None
        received: list[int] = []

        def stop(signum: int) -> None:
            self._heard(signum)
            if not received:  # one cancellation: a second would cut the producer's close short
                received.append(signum)
                main.cancel()

        for s in self.signals:
            loop.add_signal_handler(s, stop, s)
        try:
            await self._traffic()
        except asyncio.CancelledError:
            if not received:
                raise
        finally:
            for s in self.signals:  # the loop would reset them to SIG_DFL when it closes
                loop.remove_signal_handler(s)
                signal.signal(s, self._on_signal)
        return received[0] if received else None

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
        try:
            await self._watch(producing)
        finally:
            if not producing.done():
                producing.cancel()
                await asyncio.gather(producing, return_exceptions=True)

    async def _watch(self, producing: asyncio.Task[object]) -> None:
        """Live view until the traffic is sent, consumed, and retention has nothing overdue."""
        view = LiveView(CHANNELS)
        caught_up_at: float | None = None
        try:
            with Live(
                view.table({}), console=self.console, refresh_per_second=2, transient=False
            ) as live:
                while True:
                    await asyncio.sleep(1.0)
                    sample = scrape(self.settings.metrics_port) or {}
                    live.update(view.table(sample))
                    if caught_up_at is None and producing.done() and caught_up(sample):
                        caught_up_at = time.time()  # a retention run after this saw everything
                    if caught_up_at is not None and retention_done(sample, caught_up_at):
                        break
        finally:
            if not self.console.is_terminal:  # Live's last frame ends without a line break
                self._say("")
        producing.result()

    def _stop_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
            self._say("worker stopped")

    def _report(self) -> list[str]:
        now = datetime.now(UTC)
        directory = (self.options.report_dir / self.run_id).absolute()
        client = open_client(self.settings)
        try:
            result = report.collect(
                client, now, now - timedelta(days=30), self.settings.retention_months
            )
            # What `analyst query` reads next: the worker's leader writes them every minute,
            # and the demo's worker may not have lived that long. chDB works outside the GIL,
            # so the chart is drawn meanwhile.
            with ThreadPoolExecutor(1) as pool:
                snapshots = pool.submit(write_snapshots, client, self.settings.analyst_path)
                files = report_files.write(result, directory)
                snapshots.result()
        finally:
            client.close()
        self.console.print(kpi_table(result))
        self.console.print(
            f"contacts in ClickHouse: {result.contacts:,}; past due with personal data: "
            f"{result.overdue}; redacted: {sum(result.redacted.values()):,} "
            f"({', '.join(f'{k} {v:,}' for k, v in result.redacted.items())})"
        )
        self.console.print(
            f"report: {_shown(directory)}/ ({', '.join(p.name for p in files)})", soft_wrap=True
        )
        return next_steps(self.settings, invoked_as(), files[0])


def _shown(path: Path) -> str:
    """A path as short as it can be pasted from the current directory."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _identity(settings: Settings) -> dict[str, str]:
    return {
        "database": settings.clickhouse_database,
        "topic_prefix": settings.topic_prefix,
        "clickhouse": settings.dsn_for_display,
    }


def demo_marker(path: Path) -> dict[str, Any] | None:
    """Which database and topic prefix the last demo in this data directory used, if any."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _contacts_held(settings: Settings) -> int:
    """Contacts in the configured database; 0 when it does not exist yet."""
    try:
        client = open_existing_client(settings, ("contacts_merged",))
    except NotMigrated:
        return 0
    try:
        return int(client.query("SELECT count() FROM contacts_merged").result_rows[0][0])
    finally:
        client.close()  # chDB: released, so the worker (another process) can open it


def _drop_database(settings: Settings) -> None:
    client = open_client(settings)
    try:
        client.command(f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}` SYNC")
    finally:
        client.close()
    shutil.rmtree(settings.analyst_path, ignore_errors=True)
    settings.retention_status_path.unlink(missing_ok=True)


def invoked_as() -> str:
    """How to run contactstream again from the same shell: `make demo` runs .venv/bin's, which
    need not be on PATH."""
    program = Path(sys.argv[0])
    if program.name != "contactstream":
        return f"{shlex.quote(sys.executable)} -m streams"
    found = shutil.which("contactstream")
    if found and Path(found).resolve() == program.resolve():
        return "contactstream"
    return shlex.quote(os.path.relpath(program))


# The chart's figures, as an analyst sees them: nothing older than the retention period holds
# personal data (the snapshots never hold any; `redacted` says what was removed).
EXPLORE_SQL = (
    "SELECT toStartOfMonth(contact_at) AS month, count() AS contacts, sum(redacted) AS redacted "
    "FROM analyst_contacts GROUP BY month ORDER BY month"
)


def next_steps(settings: Settings, program: str, page: Path) -> list[str]:
    """The last lines: commands that work on what the demo left, as they can be pasted."""
    return [
        f"explore what the demo left (database {settings.clickhouse_database}, topic prefix "
        f"{settings.topic_prefix}, data in {settings.data_dir}):",
        f"  {program} analyst query {shlex.quote(EXPLORE_SQL)}",
        f"  {program} retention status",
        f"  {program} retention run --dry-run",
        f"  open the report: {page.as_uri()}",
    ]


def kpi_table(result: report.Report) -> Table:
    """The KPIs as a person reads them; it fits 100 columns (the CSV holds the raw figures)."""
    table = Table(title="KPIs per channel, last 30 days (ClickHouse analyst views)")
    for heading in report.KPI_HEADINGS:
        table.add_column(heading, justify="right")
    for row in report.kpi_display_rows(result.kpis):
        table.add_row(*row)
    return table
