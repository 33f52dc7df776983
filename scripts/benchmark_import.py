"""Benchmark: the seed scenario through the whole engine, next to a bare Temporal floor.

    .venv/bin/python scripts/benchmark_import.py [--scenario seed-2020-11-30] [--concurrency 64]

1. lnere: starts the stack as ``lnere up`` does (Temporal dev server with its SQLite file in
   WAL mode, the worker and the projection runner as their own processes), writes the
   scenario's command file, imports it, waits until the projection has every event, builds
   the report as of the scenario's date and compares it cell by cell with the published one.
2. floor: on the same server, a bare workflow of the same shape (scripts/bare_journey.py:
   update-with-start carrying each journey's commands, one local activity returning at once)
   driven with the same grouping and concurrency, with no domain, event store or projection.

Prints wall times, journeys per second, the ratio and the CPU seconds of each process. It
asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from lnere import logs
from lnere.application.gateway import JourneyClient, load_processes
from lnere.application.importer import OUTREACH_IN_FLIGHT, by_journey, read_entries, run_import
from lnere.projections.report import build_report
from lnere.projections.runner import open_view, wait_for_head
from lnere.runtime.stack import free_port, temporal_server_command, wait_for_port
from lnere.settings import Settings
from lnere.simulation.compare import render_comparison
from lnere.simulation.population import generate, load_scenario, load_targets
from lnere.workflows.messages import MAX_BATCH

REPO = Path(__file__).resolve().parent.parent

HOST = "127.0.0.1"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class CpuMeter:
    def __init__(self, processes: dict[str, subprocess.Popen]) -> None:
        self.processes = processes
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        values = {name: cpu_seconds(p.pid) for name, p in self.processes.items() if p.poll() is None}
        values["importer (this process)"] = own_cpu_seconds()
        return values

    def used(self) -> dict[str, float]:
        now = self._read()
        return {name: now[name] - self.start.get(name, 0.0) for name in now}


async def floor(client: Client, path: Path, journeys_client: JourneyClient, task_queue: str,
                concurrency: int, prefix: str = "bare") -> tuple[float, int]:
    """Drives the bare workflow with the import's grouping: one update-with-start per journey
    carrying its commands as plain JSON, then the outreach contacts in batches to one workflow
    (as many in flight as the import sends)."""
    entries = read_entries(path, journeys_client).entries
    groups = by_journey([e for e in entries if e.workflow_id is not None and not e.outreach])
    outreach = [e for e in entries if e.outreach]
    semaphore = asyncio.Semaphore(concurrency)
    outreach_semaphore = asyncio.Semaphore(OUTREACH_IN_FLIGHT)

    async def one(workflow_id: str, group, gate: asyncio.Semaphore) -> None:
        payload = {"commands": [e.command.model_dump(mode="json") for e in group]}
        async with gate:
            start = WithStartWorkflowOperation(
                "BareJourneyWorkflow", {}, id=workflow_id, task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            await client.execute_update_with_start_workflow(
                "record_commands", payload, id=f"batch:{uuid.uuid4()}", start_workflow_operation=start
            )

    started = time.perf_counter()
    await asyncio.gather(*(one(f"{prefix}-{i}", g, semaphore) for i, g in enumerate(groups.values())))
    await asyncio.gather(*(one(f"{prefix}-outreach", outreach[i:i + MAX_BATCH], outreach_semaphore)
                           for i in range(0, len(outreach), MAX_BATCH)))
    return time.perf_counter() - started, len(groups)


async def main(scenario_name: str, concurrency: int, skip_floor: bool, floor_only: bool) -> None:
    logs.configure("WARNING")
    scenario = load_scenario(scenario_name)
    with tempfile.TemporaryDirectory(prefix="lnere-bench-") as tmp:
        data = Path(tmp) / "data"
        port, ui_port = free_port(), free_port()
        settings = Settings(data_dir=data, temporal_address=f"{HOST}:{port}", task_queue=f"bench-{uuid.uuid4()}")
        converter = settings.data_converter()  # writes the secrets file before the children read it
        env = {**os.environ, "LNERE_DATA_DIR": str(data), "LNERE_TEMPORAL_ADDRESS": settings.temporal_address,
               "LNERE_TASK_QUEUE": settings.task_queue, "LNERE_LOG_LEVEL": "WARNING"}
        with (Path(tmp) / "temporal.log").open("w") as server_log:
            server = subprocess.Popen(
                temporal_server_command(settings.temporal_db, HOST, port, ui_port, settings.temporal_namespace),
                stdout=server_log, stderr=server_log,
            )
        processes: dict[str, subprocess.Popen] = {"temporal server": server}
        try:
            wait_for_port(HOST, port, server, timeout=60)
            for name, module in (("worker", "lnere.worker"), ("projection runner", "lnere.projections.runner")):
                processes[name] = subprocess.Popen([sys.executable, "-m", module], env=env, cwd=REPO,
                                                   stderr=subprocess.DEVNULL)
            process = load_processes(settings).get(scenario.process)
            path = data / f"{scenario.name}.jsonl"
            lines = generate(scenario, process)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")

            client = await Client.connect(settings.temporal_address, data_converter=converter)
            journeys = JourneyClient(client, load_processes(settings), settings.journey_key_bytes,
                                     settings.task_queue)
            if floor_only:
                summary = None
            else:
                meter = CpuMeter(processes)
                started = time.perf_counter()
                summary = await run_import(path, journeys, data / "imports", data / "rejects.jsonl",
                                           concurrency=concurrency)
                import_wall = time.perf_counter() - started
                view = open_view(settings)
                head = wait_for_head(settings, view, timeout=900)
                total_wall = time.perf_counter() - started
                lnere_cpu = meter.used()
                report = build_report(view, process, scenario.as_of)
                _, differences = render_comparison(load_targets(scenario), report)
            for name in ("worker", "projection runner"):
                subprocess.Popen.terminate(processes.pop(name))

            floor_wall = floor_journeys = None
            floor_cpu: dict[str, float] = {}
            if not skip_floor:
                bare_queue = f"bare-{uuid.uuid4()}"
                bare = subprocess.Popen([sys.executable, str(REPO / "scripts" / "bare_journey.py"),
                                         settings.temporal_address, bare_queue], stdout=subprocess.PIPE, text=True)
                processes["bare worker"] = bare
                assert bare.stdout is not None and "ready" in bare.stdout.readline()
                plain = await Client.connect(settings.temporal_address)
                meter = CpuMeter({k: v for k, v in processes.items() if k in ("temporal server", "bare worker")})
                floor_wall, floor_journeys = await floor(plain, path, journeys, bare_queue, concurrency)
                floor_cpu = meter.used()
        finally:
            for child in processes.values():
                child.terminate()
            for child in processes.values():
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()

    if summary is None:
        print(f"bare Temporal floor: {floor_wall:8.1f} s   {floor_journeys / floor_wall:7.1f} journeys/s {floor_cpu}")
        return
    journeys_n = summary.journeys
    print(f"scenario {scenario.name}: {summary.lines:,} commands, {journeys_n:,} journeys, "
          f"concurrency {concurrency}, {os.cpu_count()} cores")
    print(f"lnere import:            {import_wall:8.1f} s   "
          f"({summary.accepted:,} accepted, {summary.refused:,} refused)")
    print(f"lnere import+projection: {total_wall:8.1f} s   {journeys_n / total_wall:7.1f} journeys/s   "
          f"({head:,} events; report differences: {differences})")
    for name, seconds in lnere_cpu.items():
        print(f"    cpu {name:24} {seconds:8.1f} s")
    if floor_wall is not None:
        print(f"bare Temporal floor:     {floor_wall:8.1f} s   {floor_journeys / floor_wall:7.1f} journeys/s")
        for name, seconds in floor_cpu.items():
            print(f"    cpu {name:24} {seconds:8.1f} s")
        print(f"lnere / floor:           {floor_wall / total_wall:8.2f}x")
    print(json.dumps({"journeys": journeys_n, "lnere_seconds": round(total_wall, 2),
                      "floor_seconds": round(floor_wall, 2) if floor_wall else None,
                      "differences": differences}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="seed-2020-11-30")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--floor-only", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.scenario, args.concurrency, args.skip_floor, args.floor_only))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter finalization (sdk-python #300)
