"""The shipped alert rules, end to end: the real Prometheus (Debian's package, installed with
promtool by deploy/prometheus/install-promtool.sh) scrapes a live worker with the shipped
prometheus.yml and rules, and its API shows each expected alert firing:

- healthy traffic with 2 % invalid events: no alert fires;
- a burst of invalid events: ContactstreamDeadLettersAboveNormal;
- one partition stuck (the ClickHouse directory made unwritable, as tests/support/faults.py
  does for the failure rule): ContactstreamBatchesWaiting (by task) and ContactstreamNoProgress
  for that partition only; the worker's /readyz says not ready, its /healthz stays ok;
- a contact 20 minutes past its retention due time, waiting for its redaction batch (an hour
  after its due time): ContactstreamRetentionOverdue;
- the worker stopped: ContactstreamWorkerDown.

Time runs sixty times faster than in production, or this would take hours: the test derives the
rules from the shipped file programmatically, every `for:` and range window divided by 60
(15m -> 15s), and the one threshold written in seconds, ContactstreamNoProgress's 300 s without
progress, becomes 15 s (three of the worker's 5 s lag readings, as 300 s is sixty), and
ContactstreamRetentionOverdue's 6 h past due becomes 6 min. Expressions,
labels and annotations stay as shipped. The config is the shipped one with 1 s scrape and
evaluation intervals and the worker's address as the only target. The worker logs JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from schemas.examples import raw_event
from streams.aio import cancel_and_wait
from streams.config import CHANNELS
from streams.kafka.local.broker import free_port
from tests.support.faults import read_only, requires_mount
from tests.support.harness import (
    REPO,
    WorkerProcess,
    raw_group,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.support.traffic import build_traffic, produce

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
PROMETHEUS = shutil.which("prometheus")
WORKER_JOB = "contactstream-worker"
TIME_SCALE = 60
NO_PROGRESS = ("max by (topic, partition) (contactstream_consumer_progress_age_seconds) > 300",
               "max by (topic, partition) (contactstream_consumer_progress_age_seconds) > 15")
OVERDUE = ("max(contactstream_retention_oldest_overdue_seconds) > 6 * 3600",
           "max(contactstream_retention_oldest_overdue_seconds) > 6 * 60")
RETENTION_MONTHS = 12  # a year back is the same day of the month: addMonths is then exact
_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus is not installed: run deploy/prometheus/install-promtool.sh",
)


def faster(duration: str) -> str:
    """A Prometheus duration TIME_SCALE times shorter, in whole seconds ("15m" -> "15s")."""
    seconds = sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(duration))
    assert _DURATION.sub("", duration) == "", duration
    assert seconds % TIME_SCALE == 0, duration
    return f"{seconds // TIME_SCALE}s"


def faster_rules(shipped: dict[str, Any]) -> dict[str, Any]:
    """The shipped rule groups with time compressed (see the module docstring)."""
    groups = []
    for group in shipped["groups"]:
        rules = []
        for shipped_rule in group["rules"]:
            rule = dict(shipped_rule)
            expr = re.sub(r"\[([0-9smhd]+)\]", lambda m: f"[{faster(m[1])}]", rule["expr"])
            if rule["alert"] == "ContactstreamNoProgress":
                assert expr.strip() == NO_PROGRESS[0], "the shipped rule changed: update here"
                expr = NO_PROGRESS[1]
            if rule["alert"] == "ContactstreamRetentionOverdue":
                assert expr.strip() == OVERDUE[0], "the shipped rule changed: update here"
                expr = OVERDUE[1]
            rule["expr"] = expr
            if "for" in rule:
                rule["for"] = faster(rule["for"])
            rules.append(rule)
        groups.append({**group, "rules": rules})
    return {"groups": groups}


def prometheus_config(directory: Path, worker: str) -> Path:
    """The shipped prometheus.yml and rules, made fast, scraping the one worker `worker`."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    for rule_file in config["rule_files"]:
        shipped = yaml.safe_load((PROMETHEUS_DIR / rule_file).read_text())
        target = directory / rule_file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(faster_rules(shipped), sort_keys=False))
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == WORKER_JOB]
    job["static_configs"] = [{"targets": [worker]}]
    config["scrape_configs"] = [job]
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Prometheus:
    """The real Prometheus server on a free port, and its HTTP API."""

    def __init__(self, config: Path, data: Path, log: Path) -> None:
        assert PROMETHEUS is not None
        self.port = free_port()
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={data}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}{query}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())["data"]

    def alerts(self, state: str = "firing") -> list[dict[str, str]]:
        """The labels of every alert in `state`."""
        return [a["labels"] for a in self.api("alerts")["alerts"] if a["state"] == state]

    def annotations(self, alertname: str) -> dict[str, str]:
        return next(a["annotations"] for a in self.api("alerts")["alerts"]
                    if a["labels"]["alertname"] == alertname)

    def value(self, query: str) -> float:
        result = self.api("query", query=query)["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@contextmanager
def prometheus(directory: Path, worker: str) -> Iterator[Prometheus]:
    directory.mkdir()
    server = Prometheus(prometheus_config(directory, worker), directory / "data",
                        directory / "prometheus.log")
    try:
        yield server
    finally:
        server.stop()


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


async def until(what: str, check: Callable[[], Any], timeout: float) -> Any:
    """Poll `check` (run on a thread) until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = await asyncio.to_thread(check)
        except OSError:
            found = None
        if found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"not seen within {timeout:.0f}s: {what}")


def firing(server: Prometheus, alertname: str) -> list[dict[str, str]]:
    return [labels for labels in server.alerts() if labels["alertname"] == alertname]


class Feed:
    """Traffic a chunk a second in the background, as upstream systems send it."""

    def __init__(self, bootstrap: str, prefix: str, seed: int, invalid: float) -> None:
        self.messages = build_traffic(seed=seed, target_events=3000,
                                      invalid_fraction=invalid).messages
        self.bootstrap, self.prefix = bootstrap, prefix
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Feed:
        self.task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        for start in range(0, len(self.messages), 60):
            await produce(self.bootstrap, self.prefix, self.messages[start:start + 60])
            await asyncio.sleep(1.0)

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        if self.task.done():
            self.task.result()  # raises what the producer raised
        await cancel_and_wait(self.task)


async def send_stuck(bootstrap: str, prefix: str, count: int) -> int:
    """`count` valid SMS events with one key: one partition. Returns that partition."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        partitions = set()
        for i in range(count):
            event = raw_event("sms", event_id=f"stuck-e-{i}", contact_id="stuck-1")
            sent = await producer.send_and_wait(f"{prefix}.raw.sms", orjson.dumps(event),
                                                key=b"stuck-1")
            partitions.add(sent.partition)
        [partition] = partitions
        return partition
    finally:
        await producer.stop()


async def send_overdue(bootstrap: str, prefix: str, past_due: timedelta) -> None:
    """One SMS contact, never handled, whose retention ran out `past_due` ago."""
    due = datetime.now(UTC) - past_due
    try:
        clock = due.replace(year=due.year - RETENTION_MONTHS // 12)
    except ValueError:  # 29 February: four years back is a leap year
        clock = due.replace(year=due.year - 4)
    event = raw_event("sms", event_id="overdue-e-1", contact_id="overdue-1",
                      occurred_at=clock.isoformat())
    await produce(bootstrap, prefix, [("sms", b"overdue-1", orjson.dumps(event))])


@requires_mount
async def test_each_alert_fires_through_the_real_prometheus(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    port = free_port()
    storage = tmp_path / "storage"
    storage.mkdir(mode=0o700)
    env = worker_env(
        kafka_bootstrap, unique_name, tmp_path,
        CONTACTSTREAM_METRICS_PORT=str(port),
        CONTACTSTREAM_CLICKHOUSE_DSN=f"chdb://{storage / 'clickhouse'}",
        CONTACTSTREAM_SINK_RETRY_MAX_SECONDS="2",
        CONTACTSTREAM_RETENTION_INTERVAL_SECONDS="2",
        CONTACTSTREAM_RETENTION_MONTHS=str(RETENTION_MONTHS),
        CONTACTSTREAM_READY_BATCH_SECONDS="5",
        CONTACTSTREAM_LOG_FORMAT="json",
    )
    topics = [f"{unique_name}.raw.{channel}" for channel in CHANNELS]
    instance = f"127.0.0.1:{port}"
    with prometheus(tmp_path / "prometheus", instance) as server, \
            WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, topics, worker)
        await until("the worker ready", lambda: http_status(port, "/readyz") == 200, 120)
        rules = await until("the rules loaded", lambda: server.api("rules")["groups"], 60)
        assert all(rule["health"] != "err" for group in rules for rule in group["rules"])
        await until("the worker scraped", lambda: server.value(f'up{{job="{WORKER_JOB}"}}'), 60)
        await until("a retention run seen", lambda: server.value(
            "contactstream_retention_last_success_timestamp_seconds"), 60)

        # Healthy traffic, 2 % invalid, for longer than any (compressed) window and `for:`.
        async with Feed(kafka_bootstrap, unique_name, seed=21, invalid=0.02):
            seen: set[str] = set()
            for _ in range(30):
                seen |= {a["alertname"] for a in await asyncio.to_thread(server.alerts)}
                await asyncio.sleep(1.0)
            assert seen == set(), f"alerts fired on healthy traffic: {sorted(seen)}"
            # What kept DeadLettersAboveNormal quiet was its 5 % ratio, not too few rejections.
            assert server.value("sum(increase(contactstream_events_rejected_total[15s]))") > 10
            assert http_status(port, "/readyz") == 200

        # A burst of invalid events.
        async with Feed(kafka_bootstrap, unique_name, seed=22, invalid=0.4):
            await until("ContactstreamDeadLettersAboveNormal firing",
                        lambda: firing(server, "ContactstreamDeadLettersAboveNormal"), 60)

        # A contact 20 min past due: its batch goes an hour after its due time (the default
        # CONTACTSTREAM_REDACTION_BATCH_SECONDS), so it is still overdue, by more than 6 min.
        await send_overdue(kafka_bootstrap, unique_name, timedelta(minutes=20))
        [overdue] = await until("ContactstreamRetentionOverdue firing",
                                lambda: firing(server, "ContactstreamRetentionOverdue"), 90)
        assert overdue["privacy"] == "true"
        assert server.value("max(contactstream_retention_oldest_overdue_seconds)") > 1000
        runbook = server.annotations("ContactstreamRetentionOverdue")["runbook_url"]
        assert runbook == "docs/operating.md#contactstreamretentionoverdue"

        # One partition stuck: ClickHouse's directory is unwritable, after the burst is stored.
        await wait_caught_up(kafka_bootstrap, raw_group(env), topics, 120, worker)
        with read_only(storage):
            partition = await send_stuck(kafka_bootstrap, unique_name, 20)
            [waiting] = await until("ContactstreamBatchesWaiting firing",
                                    lambda: firing(server, "ContactstreamBatchesWaiting"), 60)
            assert waiting == {"alertname": "ContactstreamBatchesWaiting",
                               "severity": "critical", "task": "normalize"}
            assert await until("not ready", lambda: http_status(port, "/readyz") == 503, 30)
            assert http_status(port, "/healthz") == 200, "alive: the loop answers"
            stuck = await until("ContactstreamNoProgress firing",
                                lambda: firing(server, "ContactstreamNoProgress"), 90)
            assert [(a["topic"], a["partition"]) for a in stuck] == [
                (f"{unique_name}.raw.sms", str(partition))]
            runbook = server.annotations("ContactstreamNoProgress")["runbook_url"]
            assert runbook == "docs/operating.md#contactstreamnoprogress"
        await until("ready again", lambda: http_status(port, "/readyz") == 200, 60)

        worker.stop()
        [down] = await until("ContactstreamWorkerDown firing",
                             lambda: firing(server, "ContactstreamWorkerDown"), 60)
        assert (down["job"], down["instance"]) == (WORKER_JOB, instance)
    assert_json_lines(worker.log_text())


def assert_json_lines(log_text: str) -> None:
    """The worker's log: one JSON object per line, no faust or mode INFO at level info."""
    lines = [json.loads(line) for line in log_text.splitlines()]
    assert lines, "the worker logged nothing"
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    chatter = [line for line in lines if line["level"] == "INFO" and (
        line["logger"].split(".")[0] in {"faust", "mode"}
        or line["message"].endswith(("Starting...", "Stopping..."))
    )]
    assert chatter == []
    assert any(line["message"].startswith("worker starting") for line in lines)
    assert any("normalize waits: storage failure" in line["message"] for line in lines)
