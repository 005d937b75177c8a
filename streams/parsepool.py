"""Where the CPU-heavy preparation of a batch runs: a parse process, or inline on the event loop.

The worker's event loop is its bottleneck (one core: the GIL): fetching, parsing and storing
bookkeeping all run on it. With `parse_processes` >= 1 the parse runs in separate processes
(spawned, not forked: the worker has threads and an embedded ClickHouse engine by then), and
the loop only sends the records' bytes and receives encoded rows (about 3 µs per event instead
of 50). With 0, or on a machine with one core, it runs inline in slices, yielding between them.

A parse process is the worker's: it ignores Ctrl-C (the worker handles it and stops it), exits
when the worker is gone (even after a SIGKILL, within a second), and if it dies it is replaced
and the chunk parsed again: preparation is pure, so a retry gives the same rows.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from streams.prepare import PreparedRows, Task, prepare

log = logging.getLogger(__name__)
# Records prepared between two yields to the event loop when parsing inline (10-25 ms of work).
INLINE_SLICE = 500
# Below this many records a chunk is not shared out among parse processes (each part costs a
# round trip of about a millisecond).
MIN_PART = 2_000


class ParsePool:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the processes now (they import the schemas while the worker joins its group)."""
        if self.processes > 0 and self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_child_setup,
                initargs=(os.getpid(),),
            )
            for _ in range(self.processes):
                self._executor.submit(_warm)

    def stop(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    async def prepare(self, task: Task) -> PreparedRows:
        if self.processes == 0:
            return await _inline(task)
        # A chunk is shared out among the processes, in parts of at least MIN_PART records.
        size = max(MIN_PART, -(-len(task.items) // self.processes))
        parts = [
            task._replace(items=task.items[start : start + size], base=task.base + start)
            for start in range(0, len(task.items), size)
        ] or [task]
        try:
            done = await asyncio.gather(*(self._run(part) for part in parts))
        except BrokenProcessPool:
            # Killed (out of memory, by hand): new processes parse the chunk again.
            log.error("a parse process died; starting a new one")
            broken, self._executor = self._executor, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            done = await asyncio.gather(*(self._run(part) for part in parts))
        return _joined(done)

    async def _run(self, task: Task) -> PreparedRows:
        self.start()
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, prepare, task)


async def _inline(task: Task) -> PreparedRows:
    done = []
    for start in range(0, len(task.items), INLINE_SLICE):
        await asyncio.sleep(0)
        part = task._replace(items=task.items[start : start + INLINE_SLICE], base=task.base + start)
        done.append(prepare(part))
    return _joined(done)


def _joined(parts: Sequence[PreparedRows]) -> PreparedRows:
    if len(parts) == 1:
        return parts[0]
    lines, accepted, refused = [], [], []
    for part in parts:
        lines += part.lines
        accepted += part.accepted
        refused += part.refused
    return PreparedRows(lines, accepted, refused)


def _warm() -> None:
    """Imports done before the first batch arrives."""


def _child_setup(parent: int) -> None:
    # Ctrl-C at a terminal reaches the whole process group: the worker stops this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """A killed worker cannot stop its pool: the process notices it was orphaned and exits."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
