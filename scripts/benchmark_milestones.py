"""How fast the calendar applies its milestones in bulk, at 10,000 and 100,000 open journeys.

    .venv/bin/python scripts/benchmark_milestones.py [--journeys 10000,100000] [--backend sqlite]

For each size: a fresh data dir whose event log is filled straight through the domain with a
PEF-sized federal population (``simulation/federal.py``: PEF 2023-2024, all 32 states, three
modalities; ``--population seed`` for replicas of the seed scenario's journeys), the
projection caught up,
then every milestone of the calendar applied by the calendar's own activity
(``apply_milestone_in_bulk``, run in Temporal's activity environment: the same code, without a
server, which this path no longer needs) with the projection runner following, then the
deliveries after the definitive list. Prints one Markdown table: journeys/s per milestone, live
lag (projection behind the log head, sampled every 100 ms) p50/p99 during the milestones,
the definitive list's cut (every part exported and hashed: the export rate), deliveries/s,
and an extrapolation to a million journeys from the measured growth (stated as
such). With ``--backend postgres`` it starts its own PostgreSQL 15 cluster (fsync on).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from lnere.activities.deliveries import DeliveryActivities, InProcessInternetVoting, InProcessPostalCarrier
from lnere.activities.milestones import MilestoneActivities
from lnere.application.command_file import OUTREACH_KINDS, parse_line
from lnere.application.gateway import load_processes
from lnere.domain.process import MILESTONE_ORDER, Milestone
from lnere.projections.runner import open_view, start_runner, wait_for_position
from lnere.settings import Settings
from lnere.simulation.event_log import replica
from lnere.simulation.federal import population as population_lines
from lnere.simulation.population import generate, load_scenario
from lnere.store.registry import JourneyRegistry
from lnere.workflows.messages import BulkMilestoneInput, CutListInput, DeliveryInput


def fill(settings: Settings, journeys: int, population: str) -> tuple[str, int, float]:
    """Records ``journeys`` open journeys straight through the domain: a PEF-sized federal
    population (``pef``: 32 states, three modalities) or replicas of the seed scenario
    (``seed``, PEL 2020-2021). Returns the process, the log head and the seconds it took."""
    processes = load_processes(settings)
    registry = JourneyRegistry(env=settings.event_store_env())
    started = time.perf_counter()
    recorded = 0
    refused: Counter = Counter()
    try:
        if population == "pef":
            process = processes.get("pef-2023-2024")
            batches = [population_lines(process, journeys)]
        else:
            base = load_scenario("seed-2020-11-30")
            process = processes.get(base.process)
            batches = (generate(replica(base, n), process) for n in range(1, 10_000))
        for lines in batches:
            commands_of: dict[str, list] = {}
            for n, line in enumerate(lines, start=1):
                if json.loads(line)["command"]["kind"] in OUTREACH_KINDS:
                    continue
                entry = parse_line(line, n, processes, settings.journey_key_bytes)
                if entry.workflow_id is not None:
                    commands_of.setdefault(entry.workflow_id, []).append(entry.command)
            for workflow_id, commands in commands_of.items():
                if recorded >= journeys:
                    break
                commands.sort(key=lambda c: c.at)
                _, outcomes = registry.record_commands(process, workflow_id, commands)
                refused.update(o.rule for o in outcomes if not o.accepted)
                recorded += 1
                if recorded % 10_000 == 0:
                    print(f"  {recorded:,} journeys recorded ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
            if recorded >= journeys:
                break
        if refused:
            print(f"  commands refused while filling: {dict(refused)}", file=sys.stderr)
        return process.id, registry.head(), time.perf_counter() - started
    finally:
        registry.close()


def measure(settings: Settings, journeys: int, population: str = "pef") -> dict:
    process_id, head, fill_seconds = fill(settings, journeys, population)
    processes = load_processes(settings)
    process = processes.get(process_id)
    runner = start_runner(settings)
    registry = JourneyRegistry(env=settings.event_store_env())
    view = open_view(settings)
    figures: dict = {"journeys": journeys, "population": population, "fill_s": round(fill_seconds, 1)}
    try:
        started = time.perf_counter()
        wait_for_position(runner.view, head, timeout=3600)
        figures["catch_up_events_per_s"] = round(head / (time.perf_counter() - started))
        activities = MilestoneActivities(None, registry, view, processes)  # type: ignore[arg-type]
        lags: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.1):
                lags.append(registry.head() - runner.view.position())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for milestone in MILESTONE_ORDER:
            started = time.perf_counter()
            result = asyncio.run(ActivityEnvironment().run(
                activities.apply_milestone_in_bulk,
                BulkMilestoneInput(process_id=process.id, milestone=milestone, at=process.milestone_at(milestone))))
            seconds = time.perf_counter() - started
            rate = round(result.journeys_notified / seconds) if seconds else None
            figures[milestone.value] = {"seconds": round(seconds, 2), "changed": result.journeys_changed,
                                        "journeys_per_s": rate}
            if milestone is Milestone.DEFINITIVE_LIST:
                # The cut exports every part to hash it: the export rate of the whole list.
                wait_for_position(runner.view, registry.head(), timeout=3600)
                started = time.perf_counter()
                cut = asyncio.run(ActivityEnvironment().run(activities.cut_list, CutListInput(
                    process_id=process.id, kind="definitive", at=process.milestone_at(milestone))))
                seconds = time.perf_counter() - started
                figures["export"] = {"citizens": cut.citizens, "seconds": round(seconds, 2),
                                     "per_s": round(cut.citizens / seconds) if seconds else None}
        sampling.set()
        sampler.join()
        figures["lag_p50"] = statistics.median(lags) if lags else 0
        figures["lag_p99"] = sorted(lags)[int(len(lags) * 0.99)] if lags else 0
        deliveries = DeliveryActivities(registry, view, processes, InProcessPostalCarrier(), InProcessInternetVoting())
        wait_for_position(runner.view, registry.head(), timeout=3600)
        started = time.perf_counter()
        delivered = asyncio.run(ActivityEnvironment().run(
            deliveries.deliver_definitive_list,
            DeliveryInput(process_id=process.id, at=process.milestone_at(Milestone.DEFINITIVE_LIST))))
        seconds = time.perf_counter() - started
        count = delivered.postal_sent + delivered.internet_access_issued
        figures["deliveries"] = {"citizens": count, "seconds": round(seconds, 2),
                                 "per_s": round(count / seconds) if seconds else None}
    finally:
        runner.__exit__(None, None, None)
        registry.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", default="10000,100000")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--population", choices=["pef", "seed"], default="pef",
                        help="pef: a PEF-sized federal population (32 states, three modalities); seed: the seed "
                             "scenario's journeys (PEL 2020-2021)")
    args = parser.parse_args()
    cluster = None
    if args.backend == "postgres":
        from tests.postgres_cluster import PostgresCluster

        cluster = PostgresCluster(durable=True).__enter__()
    rows = []
    try:
        for journeys in (int(n) for n in args.journeys.split(",")):
            with tempfile.TemporaryDirectory(prefix="lnere-milestones-") as tmp:
                extra = {}
                if cluster is not None:
                    name = f"bench_{secrets.token_hex(4)}"
                    cluster.create_database(name)
                    extra = {"persistence": "postgres", "postgres_port": cluster.port, "postgres_user": "postgres",
                             "postgres_dbname": name}
                settings = Settings(data_dir=Path(tmp), journey_key=secrets.token_hex(32), **extra)
                rows.append(measure(settings, journeys, args.population))
                print(json.dumps(rows[-1]), file=sys.stderr)
    finally:
        if cluster is not None:
            cluster.__exit__(None, None, None)
    print_table(rows, args.backend)


def print_table(rows: list[dict], backend: str) -> None:
    names = [m.value for m in MILESTONE_ORDER if rows and rows[0][m.value]["changed"] is not None]
    print(f"\n| figure ({backend}) | " + " | ".join(f"{r['journeys']:,} journeys" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for name in names:
        cells = (f"{r[name]['journeys_per_s'] or '-'} ({r[name]['changed']:,}, {r[name]['seconds']} s)" for r in rows)
        print(f"| {name}: journeys/s (changed) | " + " | ".join(cells) + " |")
    print("| live lag during milestones p50 / p99, events | " + " | ".join(
        f"{r['lag_p50']:,.0f} / {r['lag_p99']:,.0f}" for r in rows) + " |")
    print("| definitive list cut (every part exported and hashed): citizens/s | " + " | ".join(
        f"{r['export']['per_s']} ({r['export']['seconds']} s)" for r in rows) + " |")
    print("| deliveries: citizens/s | " + " | ".join(f"{r['deliveries']['per_s']}" for r in rows) + " |")
    print("| catch-up from zero, events/s | " + " | ".join(f"{r['catch_up_events_per_s']:,}" for r in rows) + " |")
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        name = Milestone.DEFINITIVE_LIST.value
        growth = (large[name]["seconds"] / small[name]["seconds"]) / (large["journeys"] / small["journeys"])
        million = large[name]["seconds"] * (1_000_000 / large["journeys"]) * growth
        print(f"\nExtrapolation (not measured): the definitive list's time per journey grew {growth:.2f}x from "
              f"{small['journeys']:,} to {large['journeys']:,} journeys; at that growth, 1,000,000 journeys take "
              f"about {million / 60:.1f} min.")


if __name__ == "__main__":
    main()
