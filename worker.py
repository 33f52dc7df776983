"""The lnere worker: runs the journey and calendar workflows and their activities.

    python worker.py        (address, namespace and task queue from LNERE_* variables)
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import (
    SandboxedWorkflowRunner,
    SandboxRestrictions,
)

from lnere import logs, tracing
from lnere.activities.deliveries import DeliveryActivities, load_adapter
from lnere.activities.journeys import AfterCommit, JourneyActivities
from lnere.activities.milestones import BULK_PAGE_SIZE, MilestoneActivities
from lnere.activities.reports import ReportActivities
from lnere.application.gateway import connect, load_processes, temporal_runtime
from lnere.domain.process import Milestone, ProcessCatalog
from lnere.metrics import HealthServer
from lnere.projections.journey_counts import CountsView
from lnere.projections.runner import open_view
from lnere.settings import Settings
from lnere.store.registry import JourneyRegistry
from lnere.workflows.calendar import ProcessCalendarWorkflow
from lnere.workflows.journey import JourneyWorkflow
from lnere.workflows.outreach import OutreachWorkflow
from lnere.workflows.reports import IssueReportsWorkflow

log = logs.get_logger("lnere.worker")

WORKFLOWS: Sequence[type] = (JourneyWorkflow, ProcessCalendarWorkflow, OutreachWorkflow, IssueReportsWorkflow)

# Every workflow run gets a fresh sandbox that re-imports what is not passed through; our
# workflows import only deterministic, side-effect-free modules, so pass them through and
# keep a new run cheap (it was a quarter of the worker's CPU).
# (A name covers its submodules; tests/test_architecture.py checks that each one exists.)
PASSTHROUGH_MODULES = ("pydantic", "pydantic_core", "annotated_types", "lnere.domain", "lnere.workflows.messages",
                       "lnere.workflows.refusals")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def build_worker(
    client: Client,
    settings: Settings,
    registry: JourneyRegistry,
    executor: ThreadPoolExecutor,
    *,
    task_queue: str | None = None,
    processes: ProcessCatalog | None = None,
    after_commit: AfterCommit | None = None,
    milestone_page_size: int = BULK_PAGE_SIZE,
    after_milestone_page: Callable[[Milestone, int, tuple[str, str]], None] | None = None,
    view: CountsView | None = None,
) -> Worker:
    """The worker; ``view``, the projection's view its activities read (opened here when not
    given: a caller that gives it closes it)."""
    processes = processes or load_processes(settings)
    journeys = JourneyActivities(registry, processes, after_commit=after_commit)
    view = view or open_view(settings)
    milestones = MilestoneActivities(client, registry, view, processes, page_size=milestone_page_size,
                                     after_page=after_milestone_page)
    reports = ReportActivities(registry, view, processes)
    deliveries = DeliveryActivities(
        registry, view, processes, load_adapter(settings.postal_carrier), load_adapter(settings.internet_voting),
    )
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=list(WORKFLOWS),
        workflow_runner=workflow_runner(),
        activities=[*journeys.all(), milestones.apply_milestone_in_bulk, milestones.fan_out_milestone,
                    milestones.cut_list, deliveries.deliver_definitive_list, reports.issue_due_reports],
        activity_executor=executor,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_cached_workflows=settings.max_cached_workflows,
    )


class WorkerHealth:
    """The worker's readiness: polling its task queue, and Temporal answering (checked every
    few seconds on the worker's loop; the health endpoint reads the last answer)."""

    def __init__(self) -> None:
        self.reasons: list[str] = ["the worker is starting"]

    async def watch(self, client: Client, stop: asyncio.Event, every: float = 5.0) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(client.service_client.check_health(), timeout=every)
                self.reasons = []
            except Exception as error:  # noqa: BLE001 - any failure means not ready, and says which
                self.reasons = [f"Temporal at {client.service_client.config.target_host} does not answer "
                                f"({type(error).__name__})"]
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass


def _sdk_runtime(settings: Settings) -> tuple[Runtime | None, str | None]:
    """The Temporal SDK's runtime exporting its metrics (on a local port of its own, read back
    into the worker's ``/metrics``)."""
    if not settings.worker_health_port:
        return None, None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return temporal_runtime(f"127.0.0.1:{port}"), f"http://127.0.0.1:{port}/metrics"


async def run(settings: Settings) -> None:
    runtime, sdk_metrics = _sdk_runtime(settings)
    client = await connect(settings, runtime=runtime)
    registry = JourneyRegistry(env=settings.event_store_env())
    health = WorkerHealth()
    server = (HealthServer("worker", settings.health_host, settings.worker_health_port, lambda: health.reasons,
                           sdk_metrics).start() if settings.worker_health_port else None)
    with ThreadPoolExecutor(max_workers=settings.max_concurrent_activities) as executor:
        worker = build_worker(client, settings, registry, executor)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            log.info("worker started", temporal=settings.temporal_address, task_queue=settings.task_queue,
                     health=f"http://{settings.health_host}:{settings.worker_health_port}"
                     if settings.worker_health_port else None)
            watching = asyncio.create_task(health.watch(client, stop))
            await stop.wait()
            health.reasons = ["the worker is stopping"]
            log.info("worker stopping")
            await watching
    if server is not None:
        server.stop()
    registry.close()
    log.info("worker stopped")


def main() -> None:
    settings = Settings.for_service("worker")
    logs.configure(settings.log_level, component="worker")
    if settings.tracing:
        tracing.configure("worker")
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
