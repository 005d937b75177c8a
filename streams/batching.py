"""Batches of a faust stream bounded in events *and bytes*, never acked here.

faust's `noack_take(max_, within)` bounds a batch by its number of events only, so a stream of
large events (up to the raw topics' 1 MB) would hold `max_` of them at once. This is the same
mechanism (a processor fills a buffer while the stream is consumed passively; a full buffer
blocks the processor, and so faust's own backpressure, until the batch has been handled), with a
byte bound added. Read against faust-streaming 0.15's `Stream.noack_take`, whose private
`_enable_passive` it uses the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from mode.utils.aiter import aiter
from mode.utils.futures import notify


async def bounded_take(
    stream: Any,
    max_events: int,
    max_bytes: int,
    within: float,
    size_of: Callable[[Any], int],
) -> AsyncIterator[list[Any]]:
    """Yield lists of events: at most `max_events`, at most `max_bytes` (a single event larger
    than that is a batch of its own), or what arrived within `within` seconds."""
    events: list[Any] = []
    held = 0
    full = asyncio.Event()
    consumed = asyncio.Event()
    consuming: asyncio.Future[None] | None = None

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming, held
        if consuming is not None:
            try:
                await consuming
            finally:
                consuming = None
        event = stream.current_event
        if event is None:
            raise RuntimeError("bounded_take found no current event")
        events.append(event)
        held += size_of(event)
        if len(events) >= max_events or held >= max_bytes:
            full.set()
            consumed.clear()
            await stream.wait(consumed)
        return value

    saved_acks = stream.enable_acks
    stream.enable_acks = False  # the caller acks, after the batch is stored
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(full, timeout=within)
            if events:
                consuming = stream.loop.create_future()
                try:
                    yield list(events)
                finally:
                    events.clear()
                    held = 0
                    notify(consuming)
                    full.clear()
                    consumed.set()
    finally:
        stream.enable_acks = saved_acks
        stream._processors.remove(add_to_buffer)
