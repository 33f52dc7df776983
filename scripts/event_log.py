"""Fills a journey registry's event log straight through the domain (no Temporal): the seed
scenario's journeys and outreach, repeated with other citizens until the log holds the events
asked for (simulation/event_log.py).

    .venv/bin/python scripts/event_log.py DATA_DIR [--events 300000] [--rebuild]

With ``--rebuild``, then rebuilds the projection from zero in this (fresh) process and prints
its rate. The LNERE_* environment selects the backend, as for every lnere process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from lnere.application.gateway import load_processes
from lnere.projections.runner import open_view, start_runner, view_path, wait_for_position
from lnere.settings import Settings
from lnere.simulation.event_log import record_scenario, replica
from lnere.simulation.population import load_scenario
from lnere.store.registry import JourneyRegistry


def fill(settings: Settings, events: int, scenario_name: str = "seed-2020-11-30", progress=print) -> int:
    """Records replicas of the scenario until the log holds at least ``events`` events;
    returns the log's head."""
    processes = load_processes(settings)
    base = load_scenario(scenario_name)
    registry = JourneyRegistry(env=settings.event_store_env())
    try:
        head = registry.head()
        number = 0
        while head < events:
            number += 1
            started = time.perf_counter()
            head = record_scenario(registry, replica(base, number), processes, settings.journey_key_bytes)
            progress(f"  event log: {scenario_name} with citizens #{number} recorded, {head:,} events "
                     f"({time.perf_counter() - started:.0f} s)")
        return head
    finally:
        registry.close()


def rebuild(settings: Settings, head: int) -> float:
    """Drops the projection's view and times the runner filling it again up to ``head``."""
    if settings.persistence == "sqlite":
        view_path(settings).unlink(missing_ok=True)
    else:
        view = open_view(settings)
        with view._transaction(commit=True) as c:
            c.execute(f"DROP TABLE IF EXISTS journeys, counts, totals, {view.tracking_table}")
        view.datastore.close()
    started = time.perf_counter()
    runner = start_runner(settings)
    try:
        wait_for_position(runner.view, head, timeout=3600)
        return time.perf_counter() - started
    finally:
        runner.__exit__(None, None, None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    settings = Settings.from_env(data_dir=args.data_dir)
    head = fill(settings, args.events, progress=lambda text: print(text, file=sys.stderr, flush=True))
    if args.rebuild:
        seconds = rebuild(settings, head)
        print(json.dumps({"events": head, "seconds": seconds}))
    else:
        print(head)
