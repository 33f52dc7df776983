"""Benchmark: where lnere stands against the engine it runs on, in one run (issue 7).

    .venv/bin/python scripts/benchmark_scale.py [--journeys 1500] [--workers 1,2,4]
        [--catch-up-events 130000] [--open-journeys 10000,100000] [--milestones 10000,100000]
        [--no-outreach] [--skip PART ...]

One Temporal dev server (SQLite file, WAL) serves every part that needs Temporal:

(a) floor: the bare workflow of scripts/bare_journey.py (update-with-start carrying a
    journey's commands, one local activity that returns at once) driven with the import's
    grouping and concurrency over a slice of the seed scenario (``--journeys`` journeys, whole,
    and their share of the outreach contacts), by 1, 2 and 4 bare worker processes;
(b) lnere: the same slice imported through the engine (worker processes, encrypted event
    store, projection runner, as ``lnere up`` runs them) until the projection holds every
    event; the ratio lnere / floor at each worker count;
(c) projection catch-up from zero, events per second, over an event log filled straight
    through the domain (simulation/event_log.py) on SQLite and on PostgreSQL 15 (a durable
    cluster of Debian's binaries in a temp folder, fsync on);
(d) live lag during (b): every 100 ms the log's head is read and timed until the view holds
    it; p50 and p99;
(e) one worker's resident memory with 10,000 and 100,000 open journeys (each a filed request
    waiting for review), the worker's workflow cache bounded (``max_cached_workflows``);
(f) = (a) and (b) at 1, 2 and 4 worker processes;
(g) every milestone applied in bulk over 10,000 and 100,000 open journeys (``--milestones``),
    the definitive list's cut (every part exported: the export rate) and the deliveries, with
    the live lag during the milestones and an extrapolation to a million journeys
    (scripts/benchmark_milestones.py).

Prints its figures as it goes and a table at the end; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for the tests' helpers (synthetic citizens, PostgreSQL cluster); lnere is installed

from benchmark_import import CpuMeter, floor  # noqa: E402
from temporalio.client import Client  # noqa: E402

from lnere import logs  # noqa: E402
from lnere.application.gateway import JourneyClient, load_processes  # noqa: E402
from lnere.application.importer import run_import  # noqa: E402
from lnere.domain.commands import CommandEnvelope  # noqa: E402
from lnere.projections.runner import open_view, wait_for_head  # noqa: E402
from lnere.runtime.stack import free_port, temporal_server_command, wait_for_port  # noqa: E402
from lnere.settings import Settings  # noqa: E402
from lnere.simulation.event_log import slice_lines  # noqa: E402
from lnere.simulation.population import generate, load_scenario  # noqa: E402
from lnere.store.registry import JourneyRegistry  # noqa: E402
from tests.citizens import at, credential, request  # noqa: E402
from tests.postgres_cluster import PostgresCluster  # noqa: E402

HOST = "127.0.0.1"
SCENARIO = "seed-2020-11-30"


def say(text: str) -> None:
    print(text, flush=True)


def new_settings(folder: Path, address: str, **overrides) -> Settings:
    return Settings(data_dir=folder / "data", temporal_address=address, task_queue=f"bench-{uuid.uuid4()}",
                    journey_key=secrets.token_hex(32), cipher_key=base64.b64encode(secrets.token_bytes(32)).decode(),
                    **overrides)


def child_env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, "LNERE_LOG_LEVEL": "WARNING"}
    for name in ("data_dir", "temporal_address", "temporal_namespace", "task_queue", "journey_key", "cipher_key",
                 "payload_keys", "persistence", "postgres_port", "postgres_user", "postgres_dbname",
                 "max_cached_workflows"):
        value = getattr(settings, name)
        if value is not None:
            env[f"LNERE_{name.upper()}"] = str(value)
    return env


def stop_all(processes: list[subprocess.Popen]) -> None:
    for child in processes:
        child.terminate()
    for child in processes:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class LagSampler(threading.Thread):
    """Every ``interval`` seconds reads the event log's head; when the view is behind it, times
    how long the view takes to hold it (an event's lag, less the time it waited to be sampled,
    at most ``interval``). Samples where the view already held the head are only counted."""

    def __init__(self, settings: Settings, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.settings, self.interval = settings, interval
        self.lags: list[float] = []
        self.caught_up = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        registry = JourneyRegistry(env=self.settings.event_store_env())
        view = open_view(self.settings)
        try:
            while not self.stopped.is_set():
                head = registry.head()
                seen = time.perf_counter()
                if head > view.position():
                    while view.position() < head and not self.stopped.is_set():
                        time.sleep(0.005)
                    if not self.stopped.is_set():
                        self.lags.append(time.perf_counter() - seen)
                else:
                    self.caught_up += 1
                self.stopped.wait(self.interval)
        finally:
            registry.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


async def run_floor(address: str, path: Path, settings: Settings, workers: int) -> tuple[float, int]:
    queue = f"bare-{uuid.uuid4()}"
    bare = [subprocess.Popen([sys.executable, str(REPO / "scripts" / "bare_journey.py"), address, queue],
                             stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    try:
        for child in bare:
            assert child.stdout is not None and "ready" in child.stdout.readline()
        client = await Client.connect(address)
        journeys = JourneyClient(client, load_processes(settings), settings.journey_key_bytes, queue)
        # Workflow ids of their own: another run's bare workflows are still open on the server.
        return await floor(client, path, journeys, queue, concurrency=64, prefix=queue)
    finally:
        stop_all(bare)


async def run_lnere(address: str, namespace: str, folder: Path, lines: list[str], workers: int) -> dict:
    settings = new_settings(folder, address, temporal_namespace=namespace)
    converter = settings.data_converter()  # writes the secrets file before the children read it
    path = settings.data_dir / "slice.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = child_env(settings)
    children = [subprocess.Popen([sys.executable, "-m", "lnere.worker"], env=env, cwd=REPO, stderr=subprocess.DEVNULL)
                for _ in range(workers)]
    children.append(subprocess.Popen([sys.executable, "-m", "lnere.projections.runner"], env=env, cwd=REPO,
                                     stderr=subprocess.DEVNULL))
    try:
        client = await Client.connect(address, namespace=namespace, data_converter=converter)
        journeys = JourneyClient(client, load_processes(settings), settings.journey_key_bytes, settings.task_queue)
        view = open_view(settings)
        sampler = LagSampler(settings)
        meter = CpuMeter({f"worker {i + 1}": child for i, child in enumerate(children[:-1])}
                         | {"projection runner": children[-1]})
        started = time.perf_counter()
        sampler.start()
        with open(os.devnull, "w") as quiet:
            summary = await run_import(path, journeys, settings.data_dir / "imports",
                                       settings.data_dir / "rejects.jsonl", concurrency=64, progress_stream=quiet)
        head = wait_for_head(settings, view, timeout=900)
        wall = time.perf_counter() - started
        sampler.stop()
        return {"seconds": wall, "journeys": summary.journeys, "accepted": summary.accepted,
                "refused": summary.refused, "events": head, "lags": sampler.lags, "caught_up": sampler.caught_up,
                "cpu": meter.used()}
    finally:
        stop_all(children)


def catch_up(settings: Settings, events: int) -> tuple[int, float]:
    """Fills the event log to ``events`` events, then times a rebuild of the view from zero in
    a fresh process (as the runner runs: this one's heap would slow its garbage collector)."""
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "event_log.py"), str(settings.data_dir),
                           "--events", str(events), "--rebuild"],
                          env=child_env(settings), cwd=REPO, stdout=subprocess.PIPE, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures["events"], figures["seconds"]


async def open_journeys(address: str, namespace: str, folder: Path,
                        thresholds: list[int]) -> list[tuple[int, float, float]]:
    """Starts journeys that stay open (a filed request waiting for review) on one worker;
    returns (open journeys, worker RSS MiB, seconds) at each threshold."""
    settings = new_settings(folder, address, temporal_namespace=namespace)
    converter = settings.data_converter()
    worker = subprocess.Popen([sys.executable, "-m", "lnere.worker"], env=child_env(settings), cwd=REPO,
                              stderr=subprocess.DEVNULL)
    out = []
    try:
        client = await Client.connect(address, namespace=namespace, data_converter=converter)
        processes = load_processes(settings)
        journeys = JourneyClient(client, processes, settings.journey_key_bytes, settings.task_queue)
        rng = random.Random(7)
        semaphore = asyncio.Semaphore(64)
        process = "pel-2020-2021"

        async def one() -> None:
            citizen = credential(rng, sex=rng.choice("HM"))
            envelope = CommandEnvelope.model_validate(
                {"process": process, "clave": citizen["clave"],
                 "command": request(citizen, when=at("2020-10-05 10:00"), modality=rng.choice(["postal", "internet"]))})
            async with semaphore:
                await journeys.send(envelope)

        started, opened = time.perf_counter(), 0
        for threshold in thresholds:
            while opened < threshold:
                step = min(2000, threshold - opened)
                await asyncio.gather(*(one() for _ in range(step)))
                opened += step
                say(f"  open journeys: {opened:,}, worker RSS {resident_mib(worker.pid):.0f} MiB "
                    f"({time.perf_counter() - started:.0f} s)")
            await asyncio.sleep(5)  # let the worker settle
            out.append((opened, resident_mib(worker.pid), time.perf_counter() - started))
        return out
    finally:
        stop_all([worker])


async def main(args: argparse.Namespace) -> None:
    logs.configure("WARNING")
    worker_counts = [int(n) for n in args.workers.split(",")]
    thresholds = [int(n) for n in args.open_journeys.split(",") if n]
    folder = Path(tempfile.mkdtemp(prefix="lnere-scale-"))
    port, ui_port = free_port(), free_port()
    address = f"{HOST}:{port}"
    # lnere's runs each get a namespace: the outreach and calendar workflows' ids are per process,
    # and another run's are still open on the server.
    namespaces = [f"lnere-{n}w" for n in worker_counts] + ["lnere-memory"]
    command = temporal_server_command(folder / "temporal.db", HOST, port, ui_port, "default")
    for namespace in namespaces:
        command += ["--namespace", namespace]
    with (folder / "temporal.log").open("w") as server_log:
        server = subprocess.Popen(command, stdout=server_log, stderr=server_log)
    results: dict = {"cores": os.cpu_count(), "journeys": args.journeys, "floor": {}, "lnere": {}}
    try:
        wait_for_port(HOST, port, server, timeout=60)
        scenario = load_scenario(SCENARIO)
        lines = slice_lines(generate(scenario, load_processes(Settings()).get(scenario.process)), args.journeys,
                            0.0 if args.no_outreach else 1.0)
        slice_path = folder / "slice.jsonl"
        slice_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        say(f"slice of {SCENARIO}: {len(lines):,} command lines, {args.journeys:,} journeys"
            f"{' without outreach' if args.no_outreach else ''}; {os.cpu_count()} cores")
        for workers in worker_counts:
            if "floor" not in args.skip:
                floor_settings = new_settings(folder / f"floor{workers}", address)
                seconds, groups = await run_floor(address, slice_path, floor_settings, workers)
                results["floor"][workers] = seconds
                say(f"(a) floor, {workers} worker(s): {seconds:.1f} s, {groups / seconds:.1f} journeys/s")
            if "lnere" not in args.skip:
                run = await run_lnere(address, f"lnere-{workers}w", folder / f"lnere{workers}", lines, workers)
                results["lnere"][workers] = run
                say(f"(b) lnere, {workers} worker(s): {run['seconds']:.1f} s, {run['journeys'] / run['seconds']:.1f} "
                    f"journeys/s, {run['events']:,} events, {run['refused']} refused; lag p50 "
                    f"{percentile(run['lags'], 0.5) * 1000:.0f} ms p99 {percentile(run['lags'], 0.99) * 1000:.0f} ms; "
                    f"cpu {', '.join(f'{k} {v:.0f} s' for k, v in run['cpu'].items())}")
        if "memory" not in args.skip and thresholds:
            results["memory"] = await open_journeys(address, "lnere-memory", folder / "memory", thresholds)
            for opened, rss, seconds in results["memory"]:
                say(f"(e) {opened:,} open journeys: worker RSS {rss:.0f} MiB ({seconds:.0f} s to open)")
    finally:
        stop_all([server])
    if "catch-up" not in args.skip:
        sqlite_settings = new_settings(folder / "catchup-sqlite", address)
        events, seconds = catch_up(sqlite_settings, args.catch_up_events)
        results["catch_up_sqlite"] = (events, seconds)
        say(f"(c) catch-up, SQLite: {events:,} events in {seconds:.1f} s, {events / seconds:,.0f} events/s")
        cluster_folder = Path(tempfile.mkdtemp(prefix="lnere-scale-pg-"))
        cluster = PostgresCluster(cluster_folder, free_port(), durable=True).start()
        try:
            cluster.create_database("lnere_scale")
            pg_settings = new_settings(folder / "catchup-pg", address, persistence="postgres",
                                       postgres_port=cluster.port, postgres_user="postgres",
                                       postgres_dbname="lnere_scale")
            events, seconds = catch_up(pg_settings, args.catch_up_events)
            results["catch_up_postgres"] = (events, seconds)
            say(f"(c) catch-up, PostgreSQL: {events:,} events in {seconds:.1f} s, {events / seconds:,.0f} events/s")
        finally:
            cluster.stop()
            shutil.rmtree(cluster_folder, ignore_errors=True)
    print_table(results)
    shutil.rmtree(folder, ignore_errors=True)
    if "milestones" not in args.skip and args.milestones:
        # Each milestone applied in bulk over open journeys, the list cut (export) and the
        # deliveries: scripts/benchmark_milestones.py, one fresh data dir per size.
        import secrets

        from benchmark_milestones import measure
        from benchmark_milestones import print_table as print_milestones

        rows = []
        for journeys in (int(n) for n in args.milestones.split(",")):
            with tempfile.TemporaryDirectory(prefix="lnere-milestones-") as tmp:
                # measure runs its own event loops (ActivityEnvironment): in a thread of its own,
                # not inside this one's (asyncio.run cannot nest).
                rows.append(await asyncio.to_thread(
                    measure, Settings(data_dir=Path(tmp), journey_key=secrets.token_hex(32)), journeys))
                say(f"(g) milestones over {journeys:,} open journeys: {rows[-1]}")
        print_milestones(rows, "sqlite")


def print_table(results: dict) -> None:
    say("")
    say(f"| figure | value |  ({results['cores']} cores, slice of {results['journeys']:,} journeys of {SCENARIO})")
    say("|---|---|")
    for workers in sorted(set(results["floor"]) | set(results["lnere"])):
        floor_s = results["floor"].get(workers)
        run = results["lnere"].get(workers)
        n = run["journeys"] if run else results["journeys"]
        if floor_s:
            say(f"| (a) floor, {workers} worker process(es) | {n / floor_s:.1f} journeys/s |")
        if run:
            say(f"| (b) lnere, {workers} worker process(es) | {n / run['seconds']:.1f} journeys/s "
                f"({run['events']:,} events) |")
        if floor_s and run:
            say(f"| lnere / floor, {workers} worker process(es) | {floor_s / run['seconds']:.2f} |")
        if run:
            say(f"| (d) live lag, {workers} worker process(es) | p50 {percentile(run['lags'], 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(run['lags'], 0.99) * 1000:.0f} ms over {len(run['lags'])} samples with the view "
                f"behind ({run['caught_up']} samples found it at the head) |")
    for backend in ("sqlite", "postgres"):
        if f"catch_up_{backend}" in results:
            events, seconds = results[f"catch_up_{backend}"]
            say(f"| (c) catch-up, {backend} | {events / seconds:,.0f} events/s ({events:,} events, {seconds:.1f} s) |")
    for opened, rss, _seconds in results.get("memory", []):
        say(f"| (e) worker RSS, {opened:,} open journeys | {rss:.0f} MiB |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1500)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--catch-up-events", type=int, default=130_000)
    parser.add_argument("--open-journeys", default="10000,100000")
    parser.add_argument("--no-outreach", action="store_true", help="the journeys' commands only")
    parser.add_argument("--milestones", default="10000,100000", help="open journeys for the milestone runs")
    parser.add_argument("--skip", nargs="*", default=[], choices=["floor", "lnere", "catch-up", "memory", "milestones"])
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    os._exit(0)  # skip interpreter finalization (sdk-python #300)
