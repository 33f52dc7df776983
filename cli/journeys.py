"""Sending commands to journeys and milestones to calendars: used by the CLI, the tests and
the benchmark alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.commands import CommandEnvelope, FireMilestone
from domain.identity import journey_workflow_id, process_of
from domain.process import ElectoralProcess, ProcessCatalog
from domain.registry import JourneyRegistry
from domain.rules import CommandOutcome, DomainError, JourneyStatus
from workflows.calendar import ProcessCalendarWorkflow
from workflows.journey import UPDATES_BY_KIND, JourneyWorkflow
from workflows.messages import (
    BatchResult,
    CalendarInput,
    CommandBatch,
    JourneyInput,
    MilestoneReport,
    OutreachBatch,
    OutreachContact,
)
from workflows.outreach import OutreachWorkflow

# A journey's run ends once it has handled its commands; an Update admitted while the run was
# ending is aborted ("workflow execution already completed") and goes to a new run.
_ENDED_RUN_RETRIES = 5


def _run_was_ending(error: RPCError) -> bool:
    return error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION) and (
        "completed" in error.message or "closing" in error.message)


async def _update_with_start(client: Client, update, arg, *, id: str,
                             start: Callable[[], WithStartWorkflowOperation]):
    """``start`` makes the start operation (one is used once: a retry needs a new one)."""
    for attempt in range(_ENDED_RUN_RETRIES + 1):
        operation = start()
        try:
            return await client.execute_update_with_start_workflow(
                update, arg, id=id, start_workflow_operation=operation
            )
        except RPCError as error:
            if attempt == _ENDED_RUN_RETRIES or not _run_was_ending(error):
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
        finally:
            # The start operation keeps its own outcome; when the update is cancelled or fails
            # nobody reads it, and asyncio logs it as lost while garbage-collecting (which, inside
            # a compile(), has crashed CPython 3.11 here). Read it, whatever it is.
            asyncio.ensure_future(operation.workflow_handle()).add_done_callback(_read_outcome)
    raise AssertionError("unreachable")


def _read_outcome(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


class CommandRefused(Exception):
    """A command the engine refused; the message names the field and the rule."""


def _refusal(error: WorkflowUpdateFailedError) -> CommandRefused:
    cause = error.cause
    message = cause.message if isinstance(cause, ApplicationError) else str(cause)
    return CommandRefused(message)


def calendar_workflow_id(process_id: str) -> str:
    return f"calendar-{process_id}"


def outreach_workflow_id(process_id: str) -> str:
    return f"outreach-{process_id}"


class JourneyClient:
    def __init__(self, client: Client, processes: ProcessCatalog, journey_key: bytes, task_queue: str,
                 registry: JourneyRegistry | None = None) -> None:
        self.client = client
        self.processes = processes
        self.journey_key = journey_key
        self.task_queue = task_queue
        # The event store, when the sender can read it: journeys are checked there first.
        self.registry = registry

    def workflow_id(self, envelope: CommandEnvelope) -> str:
        if envelope.journey is not None:
            if process_of(envelope.journey) != envelope.process:
                raise CommandRefused(f"journey: {envelope.journey} is not a journey of {envelope.process}")
            return envelope.journey
        assert envelope.clave is not None
        return journey_workflow_id(self.journey_key, envelope.process, envelope.clave)

    def _process(self, process_id: str) -> ElectoralProcess:
        try:
            return self.processes.get(process_id)
        except KeyError as error:
            raise CommandRefused(f"process: {error.args[0]}") from None

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
        update = UPDATES_BY_KIND[command.kind]
        update_id = command.effective_id()
        status: JourneyStatus | None = None
        if self.registry is not None:
            status, outcomes = await self._precheck(process, workflow_id, [command])
            if outcomes is not None:
                if not outcomes[0].accepted:
                    raise CommandRefused(outcomes[0].error)
                assert status is not None
                return status
        start = self._start_journey(process, workflow_id, status, status_known=self.registry is not None)
        try:
            return await _update_with_start(self.client, update, command, id=update_id, start=start)
        except WorkflowUpdateFailedError as error:
            raise _refusal(error) from None

    async def send_batch(self, process_id: str, workflow_id: str, commands: list) -> BatchResult:
        """Sends commands of one journey in one Update; each is accepted or refused on its own.

        With the registry at hand, a batch whose commands are all recorded already or refused is
        answered from the event store and starts no run. Otherwise update-with-start: a journey
        that does not run (never started, or ended) gets a run."""
        process = self._process(process_id)
        status: JourneyStatus | None = None
        if self.registry is not None:
            try:
                status, outcomes = await self._precheck(process, workflow_id, commands)
            except CommandRefused as refusal:
                return BatchResult(status=None, outcomes=[
                    CommandOutcome(command_id=c.effective_id(), accepted=False, error=str(refusal),
                                   rule="batch-refused") for c in commands])
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
            message = str(_refusal(error))
            return BatchResult(
                status=None,
                outcomes=[
                    CommandOutcome(command_id=c.effective_id(), accepted=False, error=message, rule="batch-refused")
                    for c in commands
                ],
            )

    async def _precheck(self, process: ElectoralProcess, workflow_id: str,
                        commands: list) -> tuple[JourneyStatus | None, list[CommandOutcome] | None]:
        assert self.registry is not None
        try:
            return await asyncio.to_thread(self.registry.precheck, process, workflow_id, commands)
        except DomainError as error:  # the journey is not of this process
            raise CommandRefused(str(error)) from None

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
            message = str(_refusal(error))
            return BatchResult(status=None, outcomes=[
                CommandOutcome(command_id=c.command.effective_id(), accepted=False, error=message,
                               rule="batch-refused") for c in contacts])
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
