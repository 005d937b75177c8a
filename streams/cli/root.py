"""The `contactstream` command line. Wrong arguments: one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from streams.cli.config import SETTINGS_EPILOG, config
from streams.cli.dlq import dlq
from streams.cli.kafka_failure import CommandLine
from streams.cli.progress import Stopwatch, progress_of
from streams.cli.retention import retention
from streams.cli.settings import command_settings
from streams.cli.subject import subject
from streams.cli.validate import validate
from streams.config import CHANNELS, Channel, Settings
from streams.dev.simulator.produce import Sent
from streams.errors import ContactstreamError
from streams.files import require_private_data, use_private_umask
from streams.kafka.local import LocalBroker
from streams.kafka.local.broker import RETENTION_CHECK_MS
from streams.observability.logs import install_scrubbing

_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State directory (default: CONTACTSTREAM_DATA_DIR or ./.contactstream).",
)


@click.group(
    cls=CommandLine,  # a Kafka failure: one line with the address the command used
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=SETTINGS_EPILOG,
)
@click.version_option(None, "-V", "--version", package_name="contactstream")
def app() -> None:
    """Customer-service contacts from Kafka into ClickHouse, with retention built in."""


def settings() -> Settings:
    return command_settings()


def local_broker(data_dir: Path | None = None) -> LocalBroker:
    config = Settings()
    root = data_dir.absolute() if data_dir else config.data_dir
    return LocalBroker(home=root / "kafka", jar_cache=config.jars_path)


@app.group("broker")
def broker() -> None:
    """The local single-node Kafka broker (KRaft, jars from Maven Central)."""


@broker.command("start")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9092,
    show_default=True,
    help="Listener port on 127.0.0.1; 0 picks a free one.",
)
@_DATA_DIR
@click.option("--fresh", is_flag=True, help="Wipe the broker's data before starting.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=90.0,
    show_default=True,
    help="Seconds to wait until a metadata request succeeds.",
)
@click.option(
    "--secure",
    is_flag=True,
    help="SASL/SCRAM-SHA-512 and ACLs (deny by default): one principal per role, credentials "
    "in DATA_DIR/kafka/principals.json (mode 0600); 'topics ensure' as admin applies the ACLs.",
)
@click.option(
    "--retention-check-seconds",
    type=click.FloatRange(min=1),
    default=RETENTION_CHECK_MS / 1000,
    show_default=True,
    help="How often the broker deletes expired log segments (log.retention.check.interval.ms; "
    "part of how long a record can outlive retention.ms, README 'Topics').",
)
def broker_start(
    port: int,
    data_dir: Path | None,
    fresh: bool,
    timeout: float,
    secure: bool,
    retention_check_seconds: float,
) -> None:
    """Assemble (first time only), format and start the broker; print bootstrap=HOST:PORT."""
    local = local_broker(data_dir)
    # The broker's log segments hold every raw record (personal data) under DATA_DIR/kafka.
    require_private_data(Settings(), local.home.parent)
    running = local.status()
    if running is not None:
        click.echo(f"broker already running (pid {running.pid})")
    else:
        # The first start downloads the jars; every start waits for a metadata request.
        with progress_of(Stopwatch(timeout), "starting the broker (s)"):
            running = local.start(
                port=port,
                fresh=fresh,
                timeout=timeout,
                secure=secure,
                retention_check_ms=int(retention_check_seconds * 1000),
            )
        click.echo(
            "jars: downloaded from Maven Central"
            if local.downloaded
            else f"jars: cached in {local.jar_cache}"
        )
        click.echo(
            f"broker started (Kafka {local.version}, pid {running.pid}, log {local.log_file})"
        )
    if running.secure:
        click.echo(
            f"security: SASL_PLAINTEXT, SCRAM-SHA-512; credentials in {local.principals_file} "
            "(set CONTACTSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT and "
            "CONTACTSTREAM_KAFKA_USERNAME/_PASSWORD of a principal)"
        )
    click.echo(f"bootstrap={running.bootstrap}")


@broker.command("stop")
@_DATA_DIR
def broker_stop(data_dir: Path | None) -> None:
    """Stop the broker cleanly (only this data directory's broker)."""
    local = local_broker(data_dir)
    click.echo("broker stopped" if local.stop() else "broker was not running" + _stranger(local))


@broker.command("status")
@_DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="One JSON object (running, pid, bootstrap).")
def broker_status(data_dir: Path | None, as_json: bool) -> None:
    """Say whether the broker runs (exit 0) or not (exit 3)."""
    local = local_broker(data_dir)
    state = local.status()
    if as_json:
        document: dict[str, Any] = {"running": state is not None, "data_dir": str(local.home)}
        if state is not None:
            document |= {"pid": state.pid, "bootstrap": state.bootstrap, "secure": state.secure}
        elif local.stranger() is not None:
            document["stranger_pid"] = local.stranger()
        click.echo(json.dumps(document))
        sys.exit(0 if state is not None else 3)
    if state is None:
        click.echo("broker is not running" + _stranger(local))
        sys.exit(3)
    click.echo(f"broker is running (pid {state.pid})")
    click.echo(f"bootstrap={state.bootstrap}")


def _stranger(local: LocalBroker) -> str:
    """What to add when the state file names a live process that is not this broker."""
    pid = local.stranger()
    if pid is None:
        return ""
    return (
        f" ({local.state_file} names pid {pid}, which is not this data directory's broker: "
        "left alone)"
    )


@app.group("topics")
def topics() -> None:
    """Kafka topics as code (design section 5)."""


@topics.command("ensure")
@click.option("--fix", is_flag=True, help="Correct drifting topic settings instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
def topics_ensure(fix: bool, as_json: bool) -> None:
    """Create missing topics; report settings that drift from the declared ones (exit 1)."""
    import asyncio

    from streams.kafka.topics import ensure_topics

    config = settings()
    report = asyncio.run(ensure_topics(config, fix=fix))
    lines = [
        *(f"created   {name}" for name in report.created),
        *(f"fixed     {name}" for name in report.fixed),
        *(f"ok        {name}" for name in report.unchanged),
        *(f"DRIFT     {line}" for line in report.drift),
    ]
    document: dict[str, Any] = {
        "created": report.created,
        "fixed": report.fixed,
        "ok": report.unchanged,
        "drift": list(report.drift),
    }
    if config.kafka_security_protocol != "PLAINTEXT":
        from streams.kafka.acls import acl_line, apply_acls

        acls = apply_acls(config, fix=fix)
        added = [acl_line(acl) for acl in acls.created]
        removed = [acl_line(acl) for acl in acls.removed]
        extra = [acl_line(acl) for acl in acls.extra]
        lines += [f"acl added {line}" for line in added]
        lines += [f"acl removed {line}" for line in removed]
        lines += [f"DRIFT     undeclared ACL {line} (--fix removes it)" for line in extra]
        lines.append(
            f"acls: {len(added)} added, {len(removed)} removed, "
            f"{len(extra)} undeclared reaching this deployment"
        )
        document["acls"] = {"added": added, "removed": removed, "undeclared": extra}
        report.drift.extend(extra)
    click.echo(json.dumps(document) if as_json else "\n".join(lines))
    if report.drift:
        raise click.ClickException(
            f"{len(report.drift)} topic setting(s) or ACL(s) drift from the "
            "declaration; rerun with --fix to correct them"
        )


@app.group("schemas")
def schemas_group() -> None:
    """The producers' contract: JSON Schemas of every topic."""


@schemas_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schemas_export(directory: Path) -> None:
    """Write one JSON Schema per topic into DIRECTORY (committed copies: schemas/json/)."""
    from schemas.jsonschema import export_json_schemas

    for path in export_json_schemas(directory):
        click.echo(f"wrote {path}")


@app.command("migrate")
def migrate_command() -> None:
    """Apply pending ClickHouse migrations (streams/storage/sql/, idempotent)."""
    from streams.storage import migrate, open_client

    config = settings()
    if config.is_embedded:  # chDB's parts and the insert spool live under the data directory
        require_private_data(config)
    client = open_client(config)
    try:
        applied = migrate(client, config)
    finally:
        client.close()
    for name in applied:
        click.echo(f"applied   {name}")
    click.echo(
        f"database {config.clickhouse_database} is up to date "
        f"({len(applied)} migration(s) applied now)"
    )


@app.command("simulate")
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="Contacts to produce (default 1000, or rate x duration).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Events per second (default: as fast as possible).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds of traffic at --rate (instead of --count).",
)
@click.option(
    "--history-months",
    type=click.IntRange(0, 120),
    default=0,
    show_default=True,
    help="Backfill contacts spread over this many past months (0: the last hour).",
)
@click.option(
    "--invalid-fraction",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of events spoiled on purpose (they go to the DLQ).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Reproducible output.")
@click.option(
    "--channel",
    type=click.Choice(CHANNELS),
    default=None,
    help="Only this channel's contacts, written to its raw topic only (all a producer "
    "principal may write). Default: every channel in realistic proportions.",
)
def simulate_command(
    count: int | None,
    rate: float | None,
    duration: float | None,
    history_months: int,
    invalid_fraction: float,
    seed: int,
    channel: Channel | None,
) -> None:
    """Produce realistic synthetic contacts (fake people only) to the raw topics."""
    import asyncio

    from streams.dev.simulator.produce import simulate

    if duration is not None and rate is None:
        raise click.UsageError("--duration needs --rate")
    if duration is not None and count is not None:
        raise click.UsageError("give --count or --duration, not both")
    if duration is not None and rate is not None:
        count = max(1, int(rate * duration / 2.4))  # about 2.4 events per contact
    sent = Sent(0)
    work = simulate(
        settings(),
        count or 1000,
        seed,
        history_months,
        invalid_fraction,
        rate,
        sent=sent,
        channel=channel,
    )
    try:
        with progress_of(sent, "sending"):
            report = asyncio.run(work)
    except KeyboardInterrupt:
        click.echo(f"interrupted: sent {sent.count:,} of {sent.total:,} messages", err=True)
        sys.exit(130)
    for line in report.lines():
        click.echo(line)


@app.command("demo")
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds of live traffic after the backfill.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=1),
    default=200.0,
    show_default=True,
    help="Live events per second.",
)
@click.option(
    "--history-contacts",
    type=click.IntRange(min=0),
    default=20_000,
    show_default=True,
    help="Contacts backfilled over the history.",
)
@click.option(
    "--history-months",
    type=click.IntRange(0, 120),
    default=24,
    show_default=True,
    help="Months of backfilled history (older than 18 months gets redacted).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Reproducible traffic.")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where run reports are written.",
)
def demo(
    duration: float,
    rate: float,
    history_contacts: int,
    history_months: int,
    seed: int,
    report_dir: Path,
) -> None:
    """Run the whole system on the embedded defaults and report what ClickHouse holds."""
    from rich.console import Console

    from streams.dev.demo import Demo, DemoOptions
    from streams.extras import require, require_embedded_engine

    config = settings()
    require_embedded_engine(config)
    require("demo", "contactstream demo")
    # It runs a broker and a worker (Kafka segments, chDB) in the data directory.
    require_private_data(config)

    options = DemoOptions(
        duration=duration,
        rate=rate,
        history_contacts=history_contacts,
        history_months=history_months,
        seed=seed,
        report_dir=report_dir,
    )
    console = Console() if sys.stdout.isatty() else Console(width=100)
    sys.exit(Demo(config, options, console).run())


@app.command("worker")
@click.option(
    "--setup/--no-setup",
    default=True,
    show_default=True,
    help="Ensure topics and migrate ClickHouse before consuming.",
)
def worker(setup: bool) -> None:
    """Run the stream worker (faust agents) until SIGTERM or Ctrl-C."""
    from streams.worker.startup import Setup

    chosen = settings()
    # Set-up runs (mostly outside the GIL) while the worker's modules are imported.
    begun = Setup(chosen, setup)
    from streams.worker.main import run_worker

    run_worker(chosen, begun=begun)


@app.group("keys")
def keys() -> None:
    """Signing keys of data-subject requests.

    \b
    Rotating the DPO key without a moment where requests fail:
    1. 'contactstream keys generate NEWDIR' (a new directory: a pair is never overwritten).
    2. Give every worker the new public key next to the old one: append it to the file
       CONTACTSTREAM_DPO_VERIFY_KEY_FILE names, or put it in the directory it names as
       another *.pem file; restart the workers one by one (requests wait in Kafka meanwhile).
    3. Point the DPO tool's CONTACTSTREAM_DPO_SIGNING_KEY_FILE at the new private key.
    4. Once the old key's last requests have run or expired (at most
       CONTACTSTREAM_SUBJECT_REQUEST_TTL_SECONDS later), remove the old public key and
       restart the workers: requests it signed are refused (bad_signature) from then on.
       Destroy the old private key.
    """


@keys.command("generate")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def keys_generate(directory: Path) -> None:
    """Make an Ed25519 pair in DIRECTORY: the private key (mode 0600) is the DPO tool's
    CONTACTSTREAM_DPO_SIGNING_KEY_FILE, the public one every worker's
    CONTACTSTREAM_DPO_VERIFY_KEY_FILE."""
    from streams.subjects.signing import generate_key_pair

    private, public = generate_key_pair(directory)
    click.echo(f"signing key (secret, the DPO tool's): {private}")
    click.echo(f"verify key (for the workers): {public}")
    click.echo("to rotate from an older pair: 'contactstream keys --help'")


@app.group("analyst")
def analyst() -> None:
    """Analysts' read-only access to the snapshots the worker writes on the embedded default."""


@analyst.command("query")
@click.argument("sql")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv"]),
    default="table",
    show_default=True,
    help="A table on screen, or CSV with a header for scripts.",
)
def analyst_query(sql: str, output: str) -> None:
    """Run read-only SQL over the analyst snapshots (tables analyst_contacts, kpi_hourly,
    kpi_daily, kpi_backlog, kpi_service_level_60s; rewritten by the leader worker every
    CONTACTSTREAM_ANALYST_SNAPSHOT_SECONDS, 60 s by default), in a sandbox that reads no other
    file and leaves no file behind (Linux Landlock)."""
    from streams.analyst.snapshots import query_snapshots
    from streams.storage.client import classify

    directory = Settings().analyst_path  # no Kafka here: no local-broker notice
    try:
        if output == "csv":
            click.echo(query_snapshots(directory, sql, "CSVWithNames"), nl=False)
            return
        document = json.loads(query_snapshots(directory, sql, "JSONCompact"))
    except ContactstreamError:
        raise
    except Exception as exc:
        raise ContactstreamError(str(classify(exc))) from None
    table = Table(*(column["name"] for column in document["meta"]))
    for row in document["data"]:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)
    click.echo(f"{document['rows']} row(s) from {directory}")


app.add_command(retention)
app.add_command(dlq)
app.add_command(subject)
app.add_command(config)
schemas_group.add_command(validate)


def _name_the_settings(group: click.Group) -> None:
    """Every --help says where settings come from."""
    for command in group.commands.values():
        if not command.epilog:
            command.epilog = SETTINGS_EPILOG
        if isinstance(command, click.Group):
            _name_the_settings(command)


_name_the_settings(app)


def _settings_error_line(exc: ValidationError) -> str:
    # Never echo the input: an env var such as the DSN can hold a password.
    first = exc.errors()[0]
    name = "CONTACTSTREAM_" + "_".join(str(p) for p in first["loc"]).upper()
    return f"invalid setting {name}: {first['msg']}"


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps every expected failure to one line and an exit code."""
    # Private at rest: whatever any command (or a child such as the broker's JVM) creates is
    # 0700/0600. Which commands also refuse a data directory other users can use: those that
    # create or open personal data in it (worker, broker start, demo, and migrate and retention
    # on an embedded chDB), each calling streams.files.require_private_data. The others (topics,
    # simulate, subject, config, keys, schemas, analyst query, broker stop/status) keep no
    # personal data there.
    use_private_umask()
    install_scrubbing()
    # A command reports a Kafka failure in one line of its own; aiokafka's retry chatter is noise.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        result = app.main(args=argv, prog_name="contactstream", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(0)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "contactstream"
        click.echo(f"{command}: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except ValidationError as exc:
        click.echo(f"contactstream: error: {_settings_error_line(exc)}", err=True)
        sys.exit(2)
    except ContactstreamError as exc:
        click.echo(f"contactstream: error: {exc}", err=True)
        sys.exit(1)
    except (click.Abort, KeyboardInterrupt):
        click.echo("contactstream: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"contactstream: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(result if isinstance(result, int) else 0)
