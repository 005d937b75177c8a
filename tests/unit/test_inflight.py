"""streams.storage.store.InFlight: a redaction waits for the sink batches open when it asks,
never for batches opened later (which see its audit row and strip)."""

from __future__ import annotations

import asyncio

from streams.storage.store import InFlight


async def test_drained_waits_for_the_batches_open_now_only() -> None:
    gate = InFlight()
    release_first, release_later = asyncio.Event(), asyncio.Event()

    async def batch(release: asyncio.Event) -> None:
        async with gate.batch():
            await release.wait()

    first = asyncio.ensure_future(batch(release_first))
    await asyncio.sleep(0)
    drained = asyncio.ensure_future(gate.drained())
    later = asyncio.ensure_future(batch(release_later))
    await asyncio.sleep(0.01)
    assert not drained.done(), "returned while a batch open before it was under way"
    release_first.set()
    await asyncio.wait_for(drained, 1)  # the later batch is still open: not waited for
    assert not later.done()
    release_later.set()
    await asyncio.gather(first, later)


async def test_drained_returns_at_once_when_nothing_is_open() -> None:
    await asyncio.wait_for(InFlight().drained(), 1)
