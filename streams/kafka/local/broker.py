"""A single-node KRaft Kafka broker on 127.0.0.1, run as a child process the project owns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from streams.errors import BrokerError
from streams.files import PRIVATE_UMASK
from streams.kafka.acls import principals
from streams.kafka.local.jars import KAFKA_VERSION, ensure_jars, require_tool
from streams.kafka.local.process import (
    MAIN_CLASS,
    alive,
    broker_env,
    runs_broker,
    signal_broker,
)

_LOG4J2 = """rootLogger.level=WARN
rootLogger.appenderRef.file.ref=FILE
appender.file.type=File
appender.file.name=FILE
appender.file.fileName={log}
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
"""

# Single node: one process is broker and controller; internal topics need replication factor 1.
_SERVER_PROPERTIES = """process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
log.dirs={log_dirs}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.check.interval.ms={retention_check_ms}
"""
# Kafka's default: how often expired segments are deleted (part of how long a record can live;
# see streams/kafka/topics.py). Tests start the broker with a shorter interval.
RETENTION_CHECK_MS = 300_000


# --secure: SASL/SCRAM-SHA-512 for clients (and the broker's own inter-broker traffic, as
# admin), the controller listener with a static PLAIN login of admin (it must be a super user,
# and a PLAINTEXT controller listener would have to make ANONYMOUS one), and the KRaft
# StandardAuthorizer denying whatever no ACL allows (streams/kafka/acls.py declares them).
_SECURE_LISTENERS = """listeners=CLIENT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=CLIENT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
inter.broker.listener.name=CLIENT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=\
  org.apache.kafka.common.security.scram.ScramLoginModule required \
  username="admin" password="{admin_password}";
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=\
  org.apache.kafka.common.security.plain.PlainLoginModule required \
  username="admin" password="{admin_password}" user_admin="{admin_password}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
"""
_PLAIN_LISTENERS = """listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
"""
PRINCIPALS_FILE = "principals.json"
# The storage tool's --add-scram arguments hold passwords: it reads them from this 0600 file
# (argparse4j's "@file": one argument a line), never from its command line, which
# /proc/PID/cmdline shows every user. Removed as soon as the format is done.
_SCRAM_ARGS_FILE = "format-scram.args"


@dataclass(frozen=True)
class BrokerState:
    pid: int
    port: int
    controller_port: int
    secure: bool = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def new_cluster_id() -> str:
    """A KRaft cluster id (URL-safe base64 of a UUID). One that starts with '-' would be read
    by the storage tool's argument parser as an option (1 start in 64 failed so)."""
    while True:
        cluster_id = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalBroker:
    """Start, stop and inspect the project's own broker. State lives under `home`."""

    def __init__(self, home: Path, jar_cache: Path, version: str = KAFKA_VERSION) -> None:
        # Absolute: the config path on its command line identifies the broker (runs_broker).
        self.home = home.absolute()
        self.jar_cache = jar_cache
        self.version = version
        self.state_file = self.home / "broker.json"
        self.downloaded = False  # whether the last start had to fetch the jars
        # The broker this object started, reaped by stop(): a long-lived starter such as the
        # demo would otherwise hold a zombie (and warn that the process was never waited for).
        self.process: subprocess.Popen[bytes] | None = None
        self.log_file = self.home / "server.log"  # Kafka's own log (log4j2, _LOG4J2)
        # What the JVM itself prints: empty unless it fails before Kafka's logging starts.
        self.jvm_output = self.home / "jvm.log"
        self.config_file = self.home / "server.properties"

    def _recorded(self) -> BrokerState | None:
        try:
            data = json.loads(self.state_file.read_text())
            return BrokerState(
                int(data["pid"]),
                int(data["port"]),
                int(data["controller_port"]),
                bool(data.get("secure", False)),
            )
        except (OSError, ValueError, KeyError):
            return None

    def status(self) -> BrokerState | None:
        """The running broker's state, or None. Only a process whose command line runs this
        home's config is the broker: a pid file can outlive its process and the pid be reused
        (see `stranger`). A state file whose process is gone is removed."""
        state = self._recorded()
        if state is None:
            return None
        if runs_broker(state.pid, self.config_file):
            return state
        if not alive(state.pid):
            self.state_file.unlink(missing_ok=True)
        return None

    def stranger(self) -> int | None:
        """The pid the state file names when that process lives but is not this home's broker
        (it is left alone: status and stop never act on it)."""
        state = self._recorded()
        if state is None or not alive(state.pid) or runs_broker(state.pid, self.config_file):
            return None
        return state.pid

    @property
    def principals_file(self) -> Path:
        return self.home / PRINCIPALS_FILE

    def principals(self) -> dict[str, dict[str, str]]:
        """principal -> {"username", "password"} of a secure broker (empty if none)."""
        try:
            data = json.loads(self.principals_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def start(
        self,
        port: int = 9092,
        fresh: bool = False,
        timeout: float = 90.0,
        secure: bool = False,
        retention_check_ms: int = RETENTION_CHECK_MS,
    ) -> BrokerState:
        running = self.status()
        if running is not None:
            return running
        java = require_tool(
            "java", "install a JDK 17+ (e.g. apt-get install openjdk-17-jre-headless)"
        )
        jars, self.downloaded = ensure_jars(self.jar_cache, self.version)
        port = port or free_port()
        _check_port_free(port)
        controller_port = free_port()
        data = self.home / "data"
        if fresh:
            shutil.rmtree(data, ignore_errors=True)
        formatted = (data / "meta.properties").exists()
        if formatted and secure != bool(self.principals()):
            raise BrokerError(
                "the broker's data was formatted "
                + ("without" if secure else "with")
                + " --secure; start it as before, or add --fresh to start over"
            )
        principals = self.principals() if formatted else self._new_principals(secure)
        admin = principals.get("admin", {}).get("password", "")
        config = self._write_config(
            port, controller_port, data, admin if secure else None, retention_check_ms
        )
        classpath = f"{jars}/*"
        if not formatted:
            self._format(java, classpath, config, principals)
        proc = self.process = self._spawn(java, classpath, config)
        state = BrokerState(proc.pid, port, controller_port, secure)
        self.state_file.write_text(json.dumps(state.__dict__))
        try:
            wait_until_ready(state.bootstrap, timeout, proc, admin_login(principals))
        except BrokerError as exc:
            self.stop()
            raise BrokerError(f"{exc}; see {' and '.join(map(str, self.logs()))}") from None
        return state

    def logs(self) -> list[Path]:
        """The logs to read after a failed start: those with content, Kafka's own first."""
        found = [p for p in (self.log_file, self.jvm_output) if p.is_file() and p.stat().st_size]
        return found or [self.log_file]

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after `timeout`). False if none ran."""
        state = self.status()
        if state is None:
            return False
        signal_broker(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        # Checked by command line each time: once the broker is gone its pid may be reused.
        while runs_broker(state.pid, self.config_file) and time.monotonic() < deadline:
            time.sleep(0.1)
        if runs_broker(state.pid, self.config_file):
            signal_broker(state.pid, signal.SIGKILL)
        if self.process is not None and self.process.pid == state.pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            self.process = None
        self.state_file.unlink(missing_ok=True)
        return True

    def _new_principals(self, secure: bool) -> dict[str, dict[str, str]]:
        """Fresh SCRAM credentials, one per role, in principals.json (mode 0600)."""
        self.principals_file.unlink(missing_ok=True)
        if not secure:
            return {}
        # token_urlsafe: no ',', '"' or ';', which the SCRAM and JAAS syntaxes cannot escape.
        found = {
            name: {"username": name, "password": secrets.token_urlsafe(24)} for name in principals()
        }
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.principals_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(found, handle, indent=2)
        return found

    def _write_config(
        self,
        port: int,
        controller_port: int,
        data: Path,
        admin_password: str | None,
        retention_check_ms: int = RETENTION_CHECK_MS,
    ) -> Path:
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        data.mkdir(mode=0o700, parents=True, exist_ok=True)
        config = self.config_file
        listeners = (
            _SECURE_LISTENERS.format(
                port=port, controller_port=controller_port, admin_password=admin_password
            )
            if admin_password is not None
            else _PLAIN_LISTENERS.format(port=port, controller_port=controller_port)
        )
        properties = _SERVER_PROPERTIES.format(
            controller_port=controller_port, log_dirs=data, retention_check_ms=retention_check_ms
        )
        _write_private(config, properties + listeners)  # holds the admin password
        (self.home / "log4j2.properties").write_text(_LOG4J2.format(log=self.log_file))
        return config

    def _format(
        self, java: str, classpath: str, config: Path, principals: dict[str, dict[str, str]]
    ) -> None:
        command = [java, "-cp", classpath, "kafka.tools.StorageTool", "format"]
        command += ["-t", new_cluster_id(), "-c", str(config), "--ignore-formatted"]
        args_file = self.home / _SCRAM_ARGS_FILE
        if principals:
            _write_private(args_file, "".join(f"{arg}\n" for arg in scram_args(principals)))
            command.append(f"@{args_file}")
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=False,
                umask=PRIVATE_UMASK,
                env=broker_env(os.environ),
            )
        finally:
            args_file.unlink(missing_ok=True)
        if result.returncode != 0:
            said = masked(result.stderr.strip(), principals)[:300]
            raise BrokerError(f"formatting the broker data dir failed: {said}")

    def _spawn(self, java: str, classpath: str, config: Path) -> subprocess.Popen[bytes]:
        log4j = self.home / "log4j2.properties"
        with self.jvm_output.open("ab") as log:
            return subprocess.Popen(
                [
                    java,
                    "-Xms128m",
                    "-Xmx512m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    f"-Dlog4j2.configurationFile={log4j}",
                    "-Dkafka.logs.dir=" + str(self.home),
                    "-cp",
                    classpath,
                    MAIN_CLASS,
                    str(config),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=broker_env(os.environ),
                # Segments hold raw records (personal data): the JVM creates them 0600 in 0700
                # directories, whatever the umask of the process that started it.
                umask=PRIVATE_UMASK,
                start_new_session=True,  # survives the CLI that started it; stopped by pgid
            )


def scram_args(principals: dict[str, dict[str, str]]) -> list[str]:
    """The storage tool's arguments that create each principal's SCRAM-SHA-512 credential."""
    return [
        arg
        for login in principals.values()
        for arg in (
            "--add-scram",
            f"SCRAM-SHA-512=[name={login['username']},password={login['password']}]",
        )
    ]


def masked(text: str, principals: dict[str, dict[str, str]]) -> str:
    """`text` with every principal's password replaced by ***, for an error message."""
    for login in principals.values():
        text = text.replace(login["password"], "***")
    return text


def admin_login(principals: dict[str, dict[str, str]]) -> dict[str, str]:
    """aiokafka settings of the admin principal of a secure broker ({} for a plain one)."""
    if "admin" not in principals:
        return {}
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": principals["admin"]["username"],
        "sasl_plain_password": principals["admin"]["password"],
    }


def wait_until_ready(
    bootstrap: str,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    login: dict[str, str] | None = None,
) -> None:
    """Block until a real metadata request to `bootstrap` succeeds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"the broker exited with code {proc.returncode}")
        if asyncio.run(_metadata_ok(bootstrap, login or {})):
            return
        time.sleep(0.3)
    raise BrokerError(f"the broker at {bootstrap} did not answer a metadata request in {timeout}s")


async def _metadata_ok(bootstrap: str, login: dict[str, str]) -> bool:
    # aiokafka logs every refused connection; while waiting for readiness that is expected.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **login)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
        logging.getLogger("aiokafka").setLevel(logging.NOTSET)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to a new file of mode 0600 (never into an older file of a wider mode)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _check_port_free(port: int) -> None:
    with socket.socket() as sock:
        # As the broker will: a port whose old connections linger in TIME_WAIT is free to use.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise BrokerError(
                f"port {port} on 127.0.0.1 is in use; "
                "choose another with --port (0 picks a free one)"
            ) from None
