"""No SCRAM password of a secure broker is ever on a command line, in a child's environment or in
a log: `/proc/*/cmdline` and `/proc/*/environ` are sampled while `broker start --secure` formats
and starts the real broker, then searched for every password of principals.json."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
from pathlib import Path

from streams.kafka.acls import principals
from streams.kafka.local import KAFKA_VERSION
from tests.support.cli import REPO, cli


class ProcSampler(threading.Thread):
    """Reads every process's command line and environment, over and over, until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: set[bytes] = set()
        self.children: set[tuple[bytes, bytes]] = set()  # (command line, environment) of a JVM
        self.passes = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for entry in Path("/proc").glob("[0-9]*"):
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                    environ = (entry / "environ").read_bytes()
                except OSError:  # gone already, or another user's
                    continue
                self.seen.update((cmdline, environ))
                if b"java" in cmdline:
                    self.children.add((cmdline, environ))
            self.passes += 1


def test_no_password_on_a_command_line_in_an_environment_or_a_log(tmp_path: Path) -> None:
    # A client's secret in the caller's environment is not the broker's business either.
    client_secret = "client-secret-" + secrets.token_hex(8)
    env = {
        "CONTACTSTREAM_DATA_DIR": str(tmp_path),
        "CONTACTSTREAM_JAR_CACHE": str(REPO / ".contactstream" / "jars"),
        "CONTACTSTREAM_KAFKA_PASSWORD": client_secret,
    }
    sampler = ProcSampler()
    sampler.start()
    try:
        started = cli("broker", "start", "--port", "0", "--secure", env=env, timeout=600)
    finally:
        sampler.done.set()
        sampler.join()
    try:
        home = tmp_path / "kafka"
        logins = json.loads((home / "principals.json").read_text())
        passwords = [login["password"].encode() for login in logins.values()]
        assert len(passwords) == len(principals()) == 8
        # The sampler did see the storage tool and the broker run (or it proves nothing).
        assert any(b"kafka.tools.StorageTool" in seen for seen in sampler.seen)
        assert any(b"kafka.Kafka" in seen for seen in sampler.seen)
        leaked = [
            seen.replace(b"\0", b" ")[:120]
            for seen in sampler.seen
            for password in passwords
            if password in seen
        ]
        # Counted, not shown: the assertion message would print the passwords.
        assert len(leaked) == 0, f"samples holding a password, e.g. of {leaked[0][:60]!r}"
        mine = [
            environ for cmdline, environ in sampler.children if str(tmp_path).encode() in cmdline
        ]
        assert mine, "the sampler saw this broker's JVMs"
        assert sum(client_secret.encode() in environ for environ in mine) == 0
        outputs = [started.stdout.encode(), started.stderr.encode()]
        outputs += [path.read_bytes() for path in home.glob("*.log")]
        assert sum(p in text for p in passwords for text in outputs) == 0
        # Nothing the format step needed is left behind but the config and principals.json.
        assert not [p for p in home.iterdir() if "scram" in p.name]
    finally:
        cli("broker", "stop", env=env)


def test_the_compose_brokers_start_script_keeps_passwords_off_command_lines(
    tmp_path: Path,
) -> None:
    """docker/kafka/start.sh with the real storage tool behind a stand-in kafka-storage.sh (the
    image's runs `kafka-run-class.sh kafka.tools.StorageTool "$@"` alike): every principal is
    created, and no password is on a command line while it formats."""
    jars = REPO / ".contactstream" / "jars" / f"kafka-{KAFKA_VERSION}-jars"
    home, secrets_dir, data = tmp_path / "kafka", tmp_path / "secrets", tmp_path / "data"
    (home / "bin").mkdir(parents=True)
    secrets_dir.mkdir()
    passwords = {}
    for principal in principals():
        passwords[principal] = secrets.token_hex(16)
        (secrets_dir / f"kafka_{principal}_password").write_text(passwords[principal])
    tools = {
        "kafka-storage.sh": f'exec java -cp "{jars}/*" kafka.tools.StorageTool "$@"',
        "kafka-server-start.sh": "exit 0",  # the broker itself needs the compose network
    }
    for name, body in tools.items():
        (home / "bin" / name).write_text(f"#!/bin/sh\n{body}\n")
        (home / "bin" / name).chmod(0o755)
    sampler = ProcSampler()
    sampler.start()
    try:
        subprocess.run(
            ["bash", str(REPO / "docker" / "kafka" / "start.sh")],
            check=True,
            timeout=300,
            capture_output=True,
            env={
                "PATH": os.environ["PATH"],
                "KAFKA_HOME": str(home),
                "CLUSTER_ID": "wKesdX46TBudL15qGyw9Tg",
                "SECRETS_DIR": str(secrets_dir),
                "KAFKA_DATA_DIR": str(data),
            },
        )
    finally:
        sampler.done.set()
        sampler.join()
    assert any(b"kafka.tools.StorageTool" in seen for seen in sampler.seen)
    leaked = [p for p in passwords.values() for seen in sampler.seen if p.encode() in seen]
    assert len(leaked) == 0, "samples holding a password"
    # The credentials were created: the bootstrap metadata holds one SCRAM record per user.
    bootstrap = b"".join(path.read_bytes() for path in data.rglob("*.checkpoint"))
    for principal in passwords:
        assert principal.encode() in bootstrap, principal
