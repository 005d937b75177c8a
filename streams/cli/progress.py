"""Progress of a long command on stderr: a rich bar at a terminal, a line every 10 s otherwise
(so a script's log shows it is alive), never on stdout (which scripts parse)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Counted(Protocol):
    @property
    def count(self) -> int: ...

    @property
    def total(self) -> int: ...


class Stopwatch:
    """Seconds elapsed, as a Counted, for waits with no count of their own."""

    def __init__(self, total: float) -> None:
        self.total = int(total)
        self.started = time.monotonic()

    @property
    def count(self) -> int:
        return int(time.monotonic() - self.started)


@contextmanager
def progress_of(work: Counted, label: str, plain_every: float = 10.0) -> Iterator[None]:
    """Show `work.count` of `work.total` while the block runs (from a thread: the block may be
    an asyncio.run)."""
    stop = threading.Event()
    console = Console(stderr=True)
    if console.is_terminal:
        thread = threading.Thread(target=_bar, args=(work, label, console, stop), daemon=True)
    else:
        thread = threading.Thread(target=_lines, args=(work, label, plain_every, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)


def _bar(work: Counted, label: str, console: Console, stop: threading.Event) -> None:
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(label, total=work.total or None)
        while not stop.wait(0.25):
            progress.update(task, completed=work.count, total=work.total or None)


def _lines(work: Counted, label: str, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        sys.stderr.write(f"{label}: {work.count:,} of {work.total:,}\n")
        sys.stderr.flush()
