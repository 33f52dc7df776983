"""The floor of the import benchmark: a bare Temporal workflow of the same shape as a journey
(update-with-start carrying the journey's commands, one local activity that returns at once,
the same waits), with none of lnere's domain, event store or projections.

    python scripts/bare_journey.py ADDRESS TASK_QUEUE     runs a bare worker until killed
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn(name="bare_record")
def bare_record(commands: list[dict[str, Any]]) -> dict[str, Any]:
    return {"accepted": len(commands)}


@workflow.defn(sandboxed=False)  # as JourneyWorkflow
class BareJourneyWorkflow:
    @workflow.init
    def __init__(self, _: dict[str, Any]) -> None:
        self._done = False
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, _: dict[str, Any]) -> None:
        try:
            await workflow.wait_condition(lambda: self._done, timeout=timedelta(minutes=10))
        except TimeoutError:
            return
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def record_commands(self, batch: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            result = await workflow.execute_local_activity(
                "bare_record", batch["commands"], start_to_close_timeout=timedelta(seconds=60)
            )
            self._done = True
            return result


async def run_worker(address: str, task_queue: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(16) as executor:
        async with Worker(client, task_queue=task_queue, workflows=[BareJourneyWorkflow],
                          activities=[bare_record], activity_executor=executor):
            print("bare worker ready", flush=True)
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(run_worker(sys.argv[1], sys.argv[2]))
    import os

    os._exit(0)  # sdk-python #300
