"""Which process is a home's broker, and how it is signalled and started: a pid file can
outlive its process, and the pid be reused by an unrelated one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

from streams.config import Settings

# The broker's main class; with the config path after it, a command line is this home's broker.
MAIN_CLASS = "kafka.Kafka"
_SETTINGS = Settings.model_config.get("env_prefix", "CONTACTSTREAM_")


def broker_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The JVMs' environment: the caller's without the project's settings, which may hold a
    client's secret (a Kafka password, a DSN) that /proc/PID/environ would show the JVM."""
    return {name: value for name, value in environ.items() if not name.startswith(_SETTINGS)}


def runs_config(cmdline: list[str], config: Path) -> bool:
    """Whether a command line is a broker started with `config` (pure)."""
    if MAIN_CLASS not in cmdline:
        return False
    return cmdline[cmdline.index(MAIN_CLASS) + 1 :][:1] == [str(config)]


def runs_broker(pid: int, config: Path) -> bool:
    """Whether process `pid` is the broker of `config`'s home, by its command line (a zombie's
    is empty: it is not running)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return runs_config(raw.decode(errors="replace").split("\0"), config)


def signal_broker(pid: int, signum: int) -> None:
    """Signal the broker and, when it leads its group as started, the group (its children)."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (started by this very process) is dead for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True
