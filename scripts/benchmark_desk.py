"""Benchmark: the review desk's pages with a large inbox, and reviewers deciding at once.

    .venv/bin/python scripts/benchmark_desk.py [--journeys 100000] [--decisions 1000] [--reviewers 20]

Part 1, the pages: ``--journeys`` requests awaiting a decision written straight into the read
model (the seed's countries, the process's states, both channels and rounds), the API started
as ``lnere up`` does (its own process), one reviewer signed in; times the inbox's first page and
a filtered page (a state and a channel), one request at a time over loopback HTTP.

Part 2, the work: ``--decisions`` requests filed in a real event store, the real stack (Temporal's
dev server, a worker, the projection runner, the API) in this process, and ``--reviewers``
reviewers each taking the next expediente, opening it and deciding it, all at once, until the
inbox is empty. Prints decisions/s and p50/p99 per page, and checks that every request got
exactly one decision (none lost, none doubled). Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import re
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' makers of citizens and their stack
sys.path.insert(0, str(REPO / "scripts"))

from benchmark_api import load_view, percentiles, start_api  # noqa: E402

from lnere import logs  # noqa: E402
from lnere.application.staff import StaffDirectory  # noqa: E402
from lnere.domain.process import ProcessCatalog  # noqa: E402
from lnere.domain.roles import Role  # noqa: E402
from lnere.projections.runner import open_view  # noqa: E402
from lnere.settings import Settings  # noqa: E402

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def sign_in(base_url: str, token: str) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(base_url=base_url, timeout=120)
    form = await client.get("/desk/entrar")
    entered = await client.post("/desk/entrar", data={"token": token, "csrf": CSRF.search(form.text).group(1)})
    assert entered.status_code == 303, entered.text
    home = await client.get("/desk/", follow_redirects=True)
    return client, CSRF.search(home.text).group(1)


def new_settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, journey_key=secrets.token_hex(32),
                    cipher_key=base64.b64encode(secrets.token_bytes(32)).decode())


# -- part 1 -------------------------------------------------------------------------------------

async def pages(journeys: int, requests: int) -> list[tuple]:
    process = ProcessCatalog.load().get("pel-2020-2021")
    with tempfile.TemporaryDirectory(prefix="lnere-bench-desk-") as tmp:
        settings = new_settings(Path(tmp) / "data")
        view = open_view(settings)
        started = time.monotonic()
        load_view(view, process, journeys, stages={"in_review": 1}, re_reviews=0.2)
        print(f"read model: {journeys:,} requests awaiting a decision, loaded in {time.monotonic() - started:.1f} s",
              flush=True)
        token = StaffDirectory(settings.staff_path).add("bench.reviewer", Role.REVIEWER)
        server, base = start_api(settings)
        try:
            client, _ = await sign_in(base, token)
            results = []
            inbox = f"/desk/procesos/{process.id}/bandeja"
            for name, url in (("inbox, first page", inbox),
                              ("inbox, a state and a channel", f"{inbox}?entidad=14&canal=SRVE"),
                              ("inbox, re-reviews after subsane", f"{inbox}?ronda=re_review")):
                samples = []
                for _ in range(requests):
                    t0 = time.perf_counter()
                    answer = await client.get(url)
                    samples.append(time.perf_counter() - t0)
                    assert answer.status_code == 200 and "<tbody>" in answer.text, answer.text[:500]
                results.append((name, requests, *percentiles(samples), len(answer.content)))
            await client.aclose()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return results


# -- part 2 -------------------------------------------------------------------------------------

async def work(decisions: int, reviewers: int) -> dict:
    from pydantic import TypeAdapter
    from temporalio.testing import WorkflowEnvironment

    from lnere.domain.commands import JourneyCommand
    from lnere.domain.identity import journey_workflow_id
    from lnere.store.registry import JourneyRegistry
    from tests.citizens import credential, request
    from tests.conftest import DATA_CONVERTER, PAYLOAD_KEYS, running_api
    from tests.desk import process_around_today

    catalog = ProcessCatalog.load()
    process = process_around_today("bench-desk")
    catalog.add(process)
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="lnere-bench-desk-work-") as tmp:
        settings = new_settings(Path(tmp) / "data").model_copy(update={"payload_keys": PAYLOAD_KEYS,
                                                                        "task_queue": "bench-desk"})
        # What already happened: the requests, recorded in the event store in bulk (no run needed).
        registry = JourneyRegistry(env=settings.event_store_env())
        command = TypeAdapter(JourneyCommand)
        filed_at = datetime.now(UTC) - timedelta(days=20)
        journeys = []
        for i in range(decisions):
            citizen = credential(rng)
            workflow_id = journey_workflow_id(settings.journey_key_bytes, process.id, citizen["clave"])
            registry.execute(process, workflow_id, command.validate_python(
                {**request(citizen, when=filed_at + timedelta(seconds=i)), "credential": citizen}))
            journeys.append(workflow_id)
        registry.close()
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(Path(sys.executable).parent / "temporal"), data_converter=DATA_CONVERTER,
            dev_server_startup_timeout=timedelta(seconds=60))
        async with env, running_api(env.client, settings, catalog, process.id) as api:
            api.stack.wait_for_projection(120)
            directory = StaffDirectory(settings.staff_path)
            sessions = [await sign_in(api.base_url, directory.add(f"derfe.{i}", Role.REVIEWER))
                        for i in range(reviewers)]
            samples: dict[str, list[float]] = defaultdict(list)
            decided_at = datetime.now(UTC).astimezone(process.tz).strftime("%Y-%m-%dT%H:%M")

            async def timed(name: str, call) -> httpx.Response:
                t0 = time.perf_counter()
                answer = await call
                samples[name].append(time.perf_counter() - t0)
                return answer

            async def reviewer(client: httpx.AsyncClient, csrf: str) -> int:
                done = 0
                while True:
                    taken = await timed("take the next (POST)", client.post(
                        f"/desk/procesos/{process.id}/tomar", data={"csrf": csrf}))
                    target = taken.headers["location"]
                    if "/expedientes/" not in target:
                        return done
                    opened = await timed("open the expediente", client.get(target))
                    assert opened.status_code == 200, opened.text[:300]
                    outcome = rng.choice(("meets_requirements", "inconsistencies", "rejected"))
                    reasons = {"inconsistencies": ["SIGNATURE_MISSING"],
                               "rejected": ["NOT_IN_REGISTER"]}.get(outcome, [])
                    answer = await timed("decide (POST)", client.post(f"{target}/decision", data={
                        "csrf": csrf, "outcome": outcome, "reasons": reasons, "at": decided_at}))
                    assert answer.status_code == 303, answer.text[:500]
                    done += 1

            started = time.monotonic()
            done = await asyncio.gather(*(reviewer(client, csrf) for client, csrf in sessions))
            elapsed = time.monotonic() - started
            for client, _ in sessions:
                await client.aclose()
            per_journey = [sum(type(e).__name__ == "ReviewDecided" for e in api.stack.registry.history(j))
                           for j in journeys]
    lost, doubled = per_journey.count(0), sum(n > 1 for n in per_journey)
    assert sum(done) == decisions and lost == 0 and doubled == 0, (sum(done), lost, doubled)
    return {"elapsed": elapsed, "decided": sum(done), "samples": samples, "lost": lost, "doubled": doubled}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=100_000, help="requests awaiting a decision (part 1)")
    parser.add_argument("--requests", type=int, default=300, help="requests per page timed (part 1)")
    parser.add_argument("--decisions", type=int, default=1_000, help="real requests decided (part 2)")
    parser.add_argument("--reviewers", type=int, default=20)
    args = parser.parse_args()
    logs.configure("WARNING")

    results = await pages(args.journeys, args.requests)
    print(f"\n{args.journeys:,} requests in the inbox; sequential requests over loopback HTTP, 2 cores\n")
    print("| page | requests | p50 ms | p99 ms | max ms | response bytes |")
    print("|---|---|---|---|---|---|")
    for name, n, p50, p99, worst, size in results:
        print(f"| {name} | {n:,} | {p50:.2f} | {p99:.2f} | {worst:.2f} | {size:,} |")

    measured = await work(args.decisions, args.reviewers)
    print(f"\n{args.reviewers} reviewers at once: {measured['decided']:,} decisions in {measured['elapsed']:.1f} s = "
          f"{measured['decided'] / measured['elapsed']:.1f} decisions/s; lost {measured['lost']}, "
          f"doubled {measured['doubled']}\n")
    print("| step | requests | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, samples in measured["samples"].items():
        p50, p99, worst = percentiles(samples)
        print(f"| {name} | {len(samples):,} | {p50:.1f} | {p99:.1f} | {worst:.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
