"""Fault injection: an import under kill -9 of the worker, the projection runner and the
Temporal dev server, then an audit of every journey.

    .venv/bin/python scripts/fault_injection.py [--journeys 1000] [--faults 9] [--seed 1] [--workers 1]

Starts the stack as ``lnere up`` does (dev server on an SQLite file, worker, projection runner,
each its own process), imports the first N citizens of the seed scenario, and meanwhile kills
one of the three with SIGKILL at random moments, restarting it (the server on the same SQLite
file and port). The import is re-run whenever it fails (its journal resumes it). At the end:

- each journey's event sequence must equal what its commands imply, derived here from the
  command file alone (no lost, no duplicated events);
- the projection must equal a recount from the event log, and each journey's stage the stage
  its commands imply.

Prints a table; exits 1 on any discrepancy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for the tests' helpers (synthetic citizens, PostgreSQL cluster); lnere is installed

from temporalio.client import Client  # noqa: E402
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter  # noqa: E402

from lnere import logs  # noqa: E402
from lnere.application.command_file import OUTREACH_KINDS  # noqa: E402
from lnere.application.gateway import JourneyClient, load_processes  # noqa: E402
from lnere.application.importer import run_import  # noqa: E402
from lnere.domain.commands import FireMilestone  # noqa: E402
from lnere.domain.identity import journey_workflow_id  # noqa: E402
from lnere.domain.process import MILESTONE_ORDER, Milestone  # noqa: E402
from lnere.projections.runner import open_view, wait_for_head  # noqa: E402
from lnere.runtime.stack import free_port, temporal_server_command, wait_for_port  # noqa: E402
from lnere.settings import Settings  # noqa: E402
from lnere.simulation.population import generate, load_scenario  # noqa: E402
from lnere.store.registry import JourneyRegistry  # noqa: E402
from tests.recount import recount  # noqa: E402

HOST = "127.0.0.1"
# The client's retries while the server is down are expected here: errors only.
QUIET_RUNTIME = Runtime(telemetry=TelemetryConfig(
    logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))


def after_milestones(events: list[str], stage: str | None, modality: str | None) -> tuple[list[str], str | None]:
    """The events and the final stage every milestone to the definitive list (and the delivery
    after it) adds to a journey in ``stage``."""
    if stage == "credential_recorded":
        return [*events, "ClosedWithoutRequest"], "closed_without_request"
    if stage == "inconsistencies":
        events, stage = [*events, "SubsaneExpired"], "rejected"
    if stage == "meets_requirements":
        delivered = ["DeliveryRecorded"] if modality in ("postal", "internet") else []
        return [*events, "ListedForReview", "IncludedInDefinitiveList", *delivered], "included"
    return [*events, "ExcludedFromDefinitiveList"], "excluded"


def expected_events(commands: list[dict]) -> tuple[list[str], str | None]:
    """The events and the final stage that a citizen's commands imply, from the file alone."""
    events: list[str] = []
    stage = None
    for command in sorted(commands, key=lambda c: c["at"]):
        kind = command["kind"]
        credential = command.get("credential")
        if credential is not None:
            events += ["Started", "CredentialRecorded"]
            events += ["CredentialActivated"] if credential.get("activated_on") else []
            stage = "credential_recorded"
        if kind == "activate_credential":
            events.append("CredentialActivated")
        elif kind == "file_request":
            events.append("RequestFiled")
            stage = "in_review"
        elif kind == "decide_review":
            events += ["ReviewDecided"] + (["SubsaneRequested"] if command["outcome"] == "inconsistencies" else [])
            stage = command["outcome"]
        elif kind == "send_subsane_documents":
            events.append("SubsaneDocumentsReceived")
            stage = "in_review"
    return events, stage


class Component:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int | None = None) -> None:
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.process: subprocess.Popen | None = None
        self.down_until = 0.0
        self.log = open(Path(env["LNERE_DATA_DIR"]).parent / f"{name}.log", "ab")  # noqa: SIM115

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=REPO, stdout=self.log, stderr=self.log)
        if self.port is not None:
            wait_for_port(HOST, self.port, self.process, timeout=60)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


async def chaos(components: dict[str, Component], faults: int, rng: random.Random, done: asyncio.Event,
                injected: Counter, importing: asyncio.Event, pause: tuple[float, float] = (3, 9)) -> None:
    """Kills the components in turn (in a random order, so each is hit once every three
    faults) at random moments until ``faults`` are injected; each kill says whether an import
    was running at that moment (``importing``: the proof that the kill cut into one)."""
    order = sorted(components)
    rng.shuffle(order)
    while injected.total() < faults and not done.is_set():
        try:
            await asyncio.wait_for(done.wait(), timeout=rng.uniform(*pause))
            return
        except TimeoutError:
            pass
        name = order[injected.total() % len(order)]
        component = components[name]
        component.down_until = time.monotonic() + rng.uniform(0.2, 2.0)  # keep_alive starts it then
        inside = importing.is_set()
        component.kill()
        injected[name] += 1
        print(f"  fault {injected.total()}: kill -9 {name} "
              f"{'during an import (in progress)' if inside else 'between imports'}", flush=True)


async def kill_later(component: Component, delay: float, rng: random.Random, injected: Counter, when: str,
                     in_progress: asyncio.Event | None = None) -> None:
    """Kills the component after ``delay``; with ``in_progress``, says whether the work it was
    meant to hit was still going on at that moment (the proof that the kill fell inside it)."""
    await asyncio.sleep(delay)
    component.down_until = time.monotonic() + rng.uniform(0.2, 2.0)  # keep_alive starts it then
    inside = in_progress is not None and in_progress.is_set()
    component.kill()
    injected[component_name(component)] += 1
    where = "" if in_progress is None else (" (in progress)" if inside else " (after it ended)")
    print(f"  fault {injected.total()}: kill -9 {component_name(component)} {when}{where}", flush=True)


def component_name(component: Component) -> str:
    return {"temporal": "temporal server", "projections": "projection runner"}.get(component.name,
                                                                                     component.name.replace("-", " "))


async def keep_alive(components: dict[str, Component], stop: asyncio.Event) -> None:
    """Starts again every component that is not running (killed, or exited: a worker started
    while the server was down exits), as a supervisor such as ``lnere up`` does."""
    while not stop.is_set():
        for component in components.values():
            if component.process is not None and component.process.poll() is not None \
                    and time.monotonic() >= component.down_until:
                try:
                    await asyncio.to_thread(component.start)
                except Exception as error:  # noqa: BLE001 - tried again on the next round
                    print(f"  {component.name} did not start: {type(error).__name__}", flush=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.3)
        except TimeoutError:
            pass


async def main(journeys: int, faults: int, seed: int, workers: int = 1, milestone_faults: int = 0) -> int:
    logs.configure("ERROR")
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="lnere-faults-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        port, ui_port = free_port(), free_port()
        # The backend (SQLite, or PostgreSQL with LNERE_PERSISTENCE and LNERE_POSTGRES_*) from the environment.
        settings = Settings.from_env(data_dir=data, temporal_address=f"{HOST}:{port}",
                                     task_queue=f"faults-{uuid.uuid4()}")
        converter = settings.data_converter()  # writes the secrets before the children read them
        env = {**os.environ, "LNERE_DATA_DIR": str(data), "LNERE_TEMPORAL_ADDRESS": settings.temporal_address,
               "LNERE_TASK_QUEUE": settings.task_queue, "LNERE_LOG_LEVEL": "WARNING",
               "LNERE_PROJECTION_POLL_INTERVAL": "0.1"}
        components = {
            "temporal server": Component("temporal", temporal_server_command(
                settings.temporal_db, HOST, port, ui_port, settings.temporal_namespace), env, port),
            # Several worker processes share the task queue: each fault kills one of them.
            **({"worker": Component("worker", [sys.executable, "-m", "lnere.worker"], env)} if workers == 1 else
               {f"worker {i}": Component(f"worker-{i}", [sys.executable, "-m", "lnere.worker"], env)
                for i in range(1, workers + 1)}),
            "projection runner": Component("projections", [sys.executable, "-m", "lnere.projections.runner"], env),
        }
        # The first N citizens of the seed scenario.
        scenario = load_scenario("seed-2020-11-30")
        process = load_processes(settings).get(scenario.process)
        by_citizen: dict[str, list[dict]] = {}
        for line in generate(scenario, process):
            data_line = json.loads(line)
            if data_line["command"]["kind"] in OUTREACH_KINDS:
                continue  # the journeys are audited here; outreach has its own tests
            if data_line["clave"] in by_citizen or len(by_citizen) < journeys:
                by_citizen.setdefault(data_line["clave"], []).append(data_line)
        path = data / "population.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for lines in by_citizen.values() for d in lines))

        injected: Counter = Counter()
        attempts = 0
        started = time.monotonic()
        try:
            for component in components.values():
                component.start()
            supervising = asyncio.Event()
            supervisor = asyncio.create_task(keep_alive(components, supervising))
            done = asyncio.Event()
            importing = asyncio.Event()
            chaos_task = asyncio.create_task(chaos(components, faults, rng, done, injected, importing))
            while True:
                attempts += 1
                importing.set()
                try:
                    client = await Client.connect(settings.temporal_address, data_converter=converter,
                                                  runtime=QUIET_RUNTIME)
                    journeys_client = JourneyClient(client, load_processes(settings), settings.journey_key_bytes,
                                                    settings.task_queue)
                    summary = await run_import(path, journeys_client, data / "imports", data / "rejects.jsonl",
                                               concurrency=32, progress_stream=open(os.devnull, "w"))  # noqa: SIM115
                    if injected.total() >= faults:
                        break
                    # All lines answered before every fault was injected: send it all again
                    # (each command is recognised) until the chaos is done.
                    await run_import(path, journeys_client, data / "imports", data / "rejects.jsonl",
                                     concurrency=32, restart=True, progress_stream=open(os.devnull, "w"))  # noqa: SIM115
                except Exception as error:  # noqa: BLE001 - any failure of a killed part: resume
                    importing.clear()
                    print(f"  import attempt {attempts} stopped: {type(error).__name__}", flush=True)
                    await asyncio.sleep(1.0)
                importing.clear()
            done.set()
            await chaos_task
            if milestone_faults:
                # Every milestone to the definitive list; the milestones with the most work are
                # each hit by one kill, a fraction of a second after they fire (inside the bulk
                # application), components in turn.
                heavy = [Milestone.DEFINITIVE_LIST, Milestone.LIST_FOR_REVIEW_ISSUED, Milestone.REGISTRATION_CLOSED,
                         Milestone.ANALYSIS_DEADLINE][:milestone_faults]
                order = sorted(components)
                rng.shuffle(order)
                for milestone in MILESTONE_ORDER:
                    killer = None
                    firing = asyncio.Event()
                    firing.set()  # cleared once the milestone's run has answered
                    if milestone in heavy:
                        name = order[heavy.index(milestone) % len(order)]
                        killer = asyncio.create_task(kill_later(components[name], rng.uniform(0.05, 0.3), rng,
                                                                injected, f"during {milestone.value}", firing))
                    while True:
                        try:
                            client = await Client.connect(settings.temporal_address, data_converter=converter,
                                                          runtime=QUIET_RUNTIME)
                            await JourneyClient(client, load_processes(settings), settings.journey_key_bytes,
                                                settings.task_queue).fire_milestone(
                                process.id, FireMilestone(milestone=milestone))
                            firing.clear()
                            break
                        except Exception as error:  # noqa: BLE001 - a killed part: fire again (repeat-safe)
                            print(f"  milestone {milestone.value} interrupted: {type(error).__name__}", flush=True)
                            await asyncio.sleep(1.0)
                    if killer is not None:
                        await killer
            # Every component up before the audit.
            while any(c.process is None or c.process.poll() is not None for c in components.values()):
                await asyncio.sleep(0.3)
            supervising.set()
            await supervisor
            wall = time.monotonic() - started
            view = open_view(settings)
            head = wait_for_head(settings, view, timeout=300)
            registry = JourneyRegistry(env=settings.event_store_env())
            lost = duplicated = wrong_events = wrong_stage = 0
            for clave, commands in by_citizen.items():
                events, stage = expected_events([c["command"] for c in commands])
                if milestone_faults:
                    modality = next((c["command"]["modality"] for c in commands
                                     if c["command"]["kind"] == "file_request"), None)
                    events, stage = after_milestones(events, stage, modality)
                workflow_id = journey_workflow_id(settings.journey_key_bytes, process.id, clave)
                actual = [type(e).__name__ for e in registry.history(workflow_id)]
                if actual != events:
                    wrong_events += 1
                    lost += max(0, len(events) - len(actual))
                    duplicated += max(0, len(actual) - len(events))
                status = registry.status(workflow_id)
                if status is None or status.stage != stage:
                    wrong_stage += 1
            projection_ok = view.counts_as_of(process.id, None) == recount(registry)
            registry.close()
        finally:
            for component in components.values():
                component.stop()

    rows = [
        ("faults injected", injected.total()),
        *((f"  kill -9 {name}", injected[name]) for name in sorted(components)),
        ("import runs (resumed or repeated)", attempts),
        ("journeys", len(by_citizen)),
        ("commands", summary.lines),
        ("commands refused", summary.refused),
        ("events in the store", head),
        ("journeys with other events than their commands imply", wrong_events),
        ("events lost", lost),
        ("events duplicated", duplicated),
        ("journeys in another stage than expected", wrong_stage),
        ("projection differs from the recount", 0 if projection_ok else 1),
        ("wall time (s)", round(wall, 1)),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>8}")
    discrepancies = wrong_events + wrong_stage + (0 if projection_ok else 1) + summary.refused
    print("RESULT:", "no discrepancies" if discrepancies == 0 else f"{discrepancies} discrepancies")
    return 0 if discrepancies == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1000)
    parser.add_argument("--faults", type=int, default=9)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="worker processes sharing the task queue")
    parser.add_argument("--milestone-faults", type=int, default=0,
                        help="then fire every milestone to the definitive list while killing this many more times")
    args = parser.parse_args()
    code = asyncio.run(main(args.journeys, args.faults, args.seed, args.workers, args.milestone_faults))
    sys.stdout.flush()
    os._exit(code)  # skip interpreter finalization (sdk-python #300)
