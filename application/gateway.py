"""The one gateway to Temporal: connecting, sending commands to journeys and milestones to
calendars. Used by the CLI, the API, the importer, the tests and the benchmarks alike."""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError, RPCStatusCode

from lnere import logs, tracing
from lnere.domain.commands import CommandEnvelope, FireMilestone, spec_of
from lnere.domain.identity import journey_workflow_id, process_of
from lnere.domain.process import ElectoralProcess, ProcessCatalog, load_process_file
from lnere.domain.refusals import Refusal, RefusalKind, Refused
from lnere.domain.rules import CommandOutcome, DomainError, JourneyStatus
from lnere.settings import Settings
from lnere.store.documents import DocumentRegistry
from lnere.store.registry import JourneyRegistry
from lnere.workflows.calendar import ProcessCalendarWorkflow
from lnere.workflows.journey import JourneyWorkflow
from lnere.workflows.messages import (
    BatchResult,
    CalendarInput,
    CommandBatch,
    JourneyInput,
    MilestoneReport,
    OutreachBatch,
    OutreachContact,
)
from lnere.workflows.outreach import OutreachWorkflow
from lnere.workflows.refusals import refusal_of_update

log = logs.get_logger("lnere.processes")

# A journey's run ends once it has handled its commands; an Update admitted while the run was
# ending is aborted ("workflow execution already completed") and goes to a new run.
_ENDED_RUN_RETRIES = 5


def _run_was_ending(error: RPCError) -> bool:
    return error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION) and (
        "completed" in error.message or "closing" in error.message)


async def _update_with_start(client: Client, update, arg, *, id: str,
                             start: Callable[[], WithStartWorkflowOperation], result_type: type | None = None):
    """``start`` makes the start operation (one is used once: a retry needs a new one)."""
    for attempt in range(_ENDED_RUN_RETRIES + 1):
        operation = start()
        try:
            return await client.execute_update_with_start_workflow(
                update, arg, id=id, start_workflow_operation=operation, result_type=result_type
            )
        except RPCError as error:
            if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
                raise Refused(ENGINE_UNAVAILABLE) from None
            if attempt == _ENDED_RUN_RETRIES or not _run_was_ending(error):
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
        except RuntimeError:
            # A lazily connected client that cannot connect fails with a plain RuntimeError:
            # whether the engine answers at all tells that apart from any other failure.
            if await _engine_answers(client):
                raise
            raise Refused(ENGINE_UNAVAILABLE) from None
        finally:
            # The start operation keeps its own outcome; when the update is cancelled or fails
            # nobody reads it, and asyncio logs it as lost while garbage-collecting (which, inside
            # a compile(), has crashed CPython 3.11 here). Read it, whatever it is.
            asyncio.ensure_future(operation.workflow_handle()).add_done_callback(_read_outcome)
    raise AssertionError("unreachable")


ENGINE_UNAVAILABLE = Refusal.of("engine", "engine-unavailable",
                                "the workflow engine did not answer; send the command again (it counts once)",
                                RefusalKind.UNAVAILABLE)


async def _engine_answers(client: Client) -> bool:
    try:
        return await client.service_client.check_health(timeout=timedelta(seconds=5))
    except Exception:  # noqa: BLE001 - any failure to answer is the answer
        return False


def _read_outcome(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def _refusal(error: WorkflowUpdateFailedError) -> Refused:
    return Refused(refusal_of_update(error.cause))


def _all_refused(commands: list, refusal: Refusal) -> BatchResult:
    """A batch refused as a whole (the journey is not of the process, a batch too large): each
    line gets the refusal, under the rule that says so."""
    whole = refusal.model_copy(update={"rule": "batch-refused"})
    return BatchResult(status=None, outcomes=[
        CommandOutcome(command_id=c.effective_id(), accepted=False, refusal=whole) for c in commands])


def calendar_workflow_id(process_id: str) -> str:
    return f"calendar-{process_id}"


def outreach_workflow_id(process_id: str) -> str:
    return f"outreach-{process_id}"


def temporal_runtime(metrics_bind: str | None = None) -> Runtime:
    """The SDK's runtime, its core's log lines forwarded into ours (one JSON format); with
    ``metrics_bind`` (host:port), its metrics exported in Prometheus format there."""
    return Runtime(telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                              forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core"))),
        metrics=PrometheusConfig(bind_address=metrics_bind) if metrics_bind else None,
    ))


@cache
def _default_runtime() -> Runtime:
    return temporal_runtime()


async def connect(settings: Settings, lazy: bool = False, runtime: Runtime | None = None) -> Client:
    """A Temporal client; a ``lazy`` one connects on first use (the HTTP API serves figures
    while Temporal is down, and says so on writes). ``runtime``: the SDK's (the worker's
    exports its metrics)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=settings.data_converter(),
        lazy=lazy,
        tls=settings.temporal_tls() or False,
        api_key=settings.temporal_api_key,
        runtime=runtime or _default_runtime(),
        interceptors=tracing.client_interceptors(settings.tracing),
    )


def load_processes(settings: Settings) -> ProcessCatalog:
    """The processes this installation knows: the packaged ones, those its data dir kept from
    the ``LNERE_PROCESSES_DIR`` it ran with, and those of ``LNERE_PROCESSES_DIR`` now."""
    kept = settings.data_dir / KEPT_PROCESSES
    reported: dict[str, str] = {}

    def load() -> ProcessCatalog:
        catalog = ProcessCatalog.load(*(d for d in (kept if kept.is_dir() else None, settings.processes_dir) if d))
        for path, reason in catalog.skipped.items():
            if reported.get(path) != reason:  # once per file and reason, not at every look
                log.error("process file skipped", file=path, reason=reason)
        reported.clear()
        reported.update(catalog.skipped)
        return catalog

    return load().discovering(load)


KEPT_PROCESSES = "processes"  # in the data dir


def keep_processes(settings: Settings) -> list[str]:
    """Copies the process files of ``LNERE_PROCESSES_DIR`` into the data dir, checked first (a
    malformed file stops here, naming it): later commands on this data dir know them without
    the variable. Returns the process ids kept."""
    if not settings.processes_dir:
        return []
    source = Path(settings.processes_dir)
    files = sorted(source.glob("*.json"))
    ProcessCatalog.load(source, strict=True)  # each file a process of its own, or stop here naming it
    ids = [load_process_file(path).id for path in files]
    kept = settings.data_dir / KEPT_PROCESSES
    kept.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copyfile(path, kept / path.name)
    return ids


class JourneyClient:
    def __init__(self, client: Client, processes: ProcessCatalog, journey_key: bytes, task_queue: str,
                 registry: JourneyRegistry | None = None, documents: DocumentRegistry | None = None) -> None:
        self.client = client
        self.processes = processes
        self.journey_key = journey_key
        self.task_queue = task_queue
        # The event store, when the sender can read it: journeys are checked there first.
        self.registry = registry
        # The documents, when the sender can read them: a command names only documents uploaded
        # for its citizen (ids, kinds and digests as their upload answered).
        self.documents = documents

    async def _verify_documents(self, workflow_id: str, commands: list) -> None:
        if self.documents is None:
            return
        for command in commands:
            field = spec.documents if (spec := spec_of(command)) is not None else None
            if field is not None and getattr(command, field):
                try:
                    await asyncio.to_thread(self.documents.verify, workflow_id, getattr(command, field), field)
                except DomainError as error:
                    raise Refused(error.refusal) from None

    async def engine_answers(self, timeout: float = 3.0) -> bool:
        """Whether Temporal answers a health check now (readiness)."""
        try:
            await asyncio.wait_for(self.client.service_client.check_health(), timeout)
        except Exception:  # noqa: BLE001 - any failure means it does not
            return False
        return True

    def workflow_id(self, envelope: CommandEnvelope) -> str:
        if envelope.journey is not None:
            if process_of(envelope.journey) != envelope.process:
                raise Refused(Refusal.of("journey", "journey-process",
                                         f"{envelope.journey} is not a journey of {envelope.process}"))
            return envelope.journey
        assert envelope.clave is not None
        return journey_workflow_id(self.journey_key, envelope.process, envelope.clave)

    def _process(self, process_id: str) -> ElectoralProcess:
        try:
            return self.processes.get(process_id)
        except KeyError as error:
            raise Refused(Refusal.of("process", "process-exists", error.args[0], RefusalKind.NOT_FOUND)) from None

    def _start_journey(self, process: ElectoralProcess, workflow_id: str, status: JourneyStatus | None = None,
                       status_known: bool = False) -> Callable[[], WithStartWorkflowOperation]:
        """Starts a run of the journey's workflow (given the recorded status when the sender read
        it), or reaches the one that runs."""
        return lambda: WithStartWorkflowOperation(
            JourneyWorkflow.run,
            JourneyInput(process=process, status=status, status_known=status_known),
            id=workflow_id,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=self.task_queue,
        )

    async def send(self, envelope: CommandEnvelope) -> JourneyStatus:
        """Sends one command to its journey (a new run of the journey's workflow when none runs).

        With the registry at hand, the command is first checked against the recorded journey:
        a command already recorded is answered with the journey's status, and a refused one is
        refused here, so neither wakes the workflow nor leaves a run behind."""
        process = self._process(envelope.process)
        workflow_id = self.workflow_id(envelope)
        command = envelope.command
        await self._verify_documents(workflow_id, [command])
        update_id = command.effective_id()
        status: JourneyStatus | None = None
        if self.registry is not None:
            status, outcomes = await self._precheck(process, workflow_id, [command])
            if outcomes is not None:
                if outcomes[0].refusal is not None:
                    raise Refused(outcomes[0].refusal)
                assert status is not None
                return status
        start = self._start_journey(process, workflow_id, status, status_known=self.registry is not None)
        try:
            # Each kind of command has its Update, named like the kind (workflows/journey.py).
            return await _update_with_start(self.client, command.kind, command, id=update_id, start=start,
                                            result_type=JourneyStatus)
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from None

    async def send_batch(self, process_id: str, workflow_id: str, commands: list) -> BatchResult:
        """Sends commands of one journey in one Update; each is accepted or refused on its own.

        With the registry at hand, a batch whose commands are all recorded already or refused is
        answered from the event store and starts no run. Otherwise update-with-start: a journey
        that does not run (never started, or ended) gets a run."""
        process = self._process(process_id)
        status: JourneyStatus | None = None
        try:
            await self._verify_documents(workflow_id, commands)
        except Refused as refused:
            return _all_refused(commands, refused.refusal)
        if self.registry is not None:
            try:
                status, outcomes = await self._precheck(process, workflow_id, commands)
            except Refused as refused:
                return _all_refused(commands, refused.refusal)
            if outcomes is not None:
                return BatchResult(status=status, outcomes=outcomes)
        start = self._start_journey(process, workflow_id, status, status_known=self.registry is not None)
        batch = CommandBatch(commands=commands)
        # A fresh update id: a resend is answered by the journey (already recorded), not by
        # Temporal's cache of the first answer, so the summary tells what this run changed.
        batch_id = f"batch:{uuid.uuid4()}"
        try:
            return await _update_with_start(
                self.client, JourneyWorkflow.record_commands, batch, id=batch_id, start=start
            )
        except WorkflowUpdateFailedError as error:
            return _all_refused(commands, _refusal(error).refusal)

    async def _precheck(self, process: ElectoralProcess, workflow_id: str,
                        commands: list) -> tuple[JourneyStatus | None, list[CommandOutcome] | None]:
        assert self.registry is not None
        try:
            return await asyncio.to_thread(self.registry.precheck, process, workflow_id, commands)
        except DomainError as error:  # the journey is not of this process
            raise Refused(error.refusal) from None

    async def send_outreach(self, process_id: str, contacts: list[OutreachContact]) -> BatchResult:
        """Records outreach contacts of one process in one Update of its outreach workflow; each
        is accepted or refused on its own (no journey status: ``status`` is None)."""
        start = lambda: WithStartWorkflowOperation(  # noqa: E731
            OutreachWorkflow.run,
            self._process(process_id).id,
            id=outreach_workflow_id(process_id),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=self.task_queue,
        )
        try:
            result = await _update_with_start(
                self.client, OutreachWorkflow.record_outreach, OutreachBatch(contacts=contacts),
                id=f"outreach:{uuid.uuid4()}", start=start,
            )
        except WorkflowUpdateFailedError as error:
            return _all_refused([c.command for c in contacts], _refusal(error).refusal)
        return BatchResult(status=None, outcomes=result.outcomes)

    async def status(self, workflow_id: str) -> JourneyStatus | None:
        """The journey as recorded (a journey's run ends when idle: the event store answers)."""
        if self.registry is not None:
            return await asyncio.to_thread(self.registry.status, workflow_id)
        return await self.client.get_workflow_handle(workflow_id).query(JourneyWorkflow.status)

    async def ensure_calendar(self, process: ElectoralProcess) -> None:
        """Starts the process calendar unless it runs (or ran) already."""
        try:
            await self.client.start_workflow(
                ProcessCalendarWorkflow.run,
                CalendarInput(process=process),
                id=calendar_workflow_id(process.id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            pass

    async def fire_milestone(self, process_id: str, command: FireMilestone) -> MilestoneReport:
        process = self._process(process_id)
        start = lambda: WithStartWorkflowOperation(  # noqa: E731
            ProcessCalendarWorkflow.run,
            CalendarInput(process=process),
            id=calendar_workflow_id(process.id),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            task_queue=self.task_queue,
        )
        try:
            return await _update_with_start(
                self.client, ProcessCalendarWorkflow.fire, command, id=f"fire:{command.milestone.value}", start=start
            )
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from None
