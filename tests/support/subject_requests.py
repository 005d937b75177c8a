"""Data-subject requests as the worker receives them: sending requests (signed or not) to the
requests topic, and reading the worker's answers from the results topic."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from schemas.control import SubjectResult
from tests.support.harness import WorkerProcess, read_all


async def send_requests(
    bootstrap: str, prefix: str, messages: list[tuple[bytes, list[tuple[str, bytes]]]]
) -> None:
    """Each (value, headers) to the requests topic, as a DPO tool or anyone who may write it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value, headers in messages:
            await producer.send_and_wait(f"{prefix}.subject-requests", value, headers=headers)
    finally:
        await producer.stop()


async def read_results(
    bootstrap: str, prefix: str, at_least: int, worker: WorkerProcess
) -> list[SubjectResult]:
    """The worker's answers on the results topic: all of them, once there are `at_least`."""
    for _ in range(120):
        assert worker.returncode is None, worker.log_text()[-3000:]
        records = await read_all(bootstrap, f"{prefix}.subject-results")
        if len(records) >= at_least:
            await asyncio.sleep(1)  # the last answers
            records = await read_all(bootstrap, f"{prefix}.subject-results")
            return [SubjectResult.from_json(r.value) for r in records]
        await asyncio.sleep(0.5)
    raise AssertionError("the worker did not answer")
