"""The journey workflow: one citizen, one electoral process, from credential to the definitive list.

It only orchestrates. Commands arrive as Workflow Updates; each validator runs the domain rules
on the journey's status, so a refused command is answered at once and records nothing; each
handler runs one activity that records the command's events and returns the new status.

A run ends as soon as it has handled its commands (since the ``ends-when-idle`` patch): the
event store holds the journey, so a milestone is applied to it in bulk without waking it, and
the next command starts a new run (update-with-start) that the sender gives the recorded
status. A run that was not given it lets the aggregate, which re-checks every rule, decide.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from lnere.domain import rules
    from lnere.domain.commands import JOURNEY_COMMANDS, ApplyMilestone
    from lnere.domain.process import Milestone
    from lnere.domain.refusals import Refusal, RefusalKind
    from lnere.domain.rules import CommandOutcome, DomainError, JourneyStatus
    from lnere.workflows.messages import (
        MAX_BATCH,
        BatchResult,
        CommandBatch,
        JourneyBatchInput,
        JourneyCommandInput,
        JourneyInput,
    )
    from lnere.workflows.refusals import refusal_failure, refusal_of

# A journey started by a command that was then refused holds no data: it ends after this.
ABANDON_AFTER = timedelta(minutes=10)

ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["DomainError"],
)


# Not sandboxed: a sandbox is built for every workflow run, and with one run per citizen it cost
# the worker ~8 ms per journey, a third of its CPU in the seed import (measured with py-spy and
# scripts/benchmark_import.py). Determinism is kept by construction (no I/O, no clock, no
# randomness here: domain rules are pure functions) and checked by replaying saved histories.
class JourneyWorkflow:  # a Temporal workflow: ``workflow.defn`` below, once its Updates are added
    @workflow.init
    def __init__(self, input: JourneyInput) -> None:
        self._process = input.process
        self._status: JourneyStatus | None = input.status
        self._status_known = input.status_known or input.status is not None
        self._received = False  # an Update's handler has run
        self._processed: set[str] = set()
        self._milestones: set[Milestone] = set()
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, input: JourneyInput) -> JourneyStatus | None:
        if workflow.patched("ends-when-idle"):
            try:
                await workflow.wait_condition(lambda: self._received, timeout=ABANDON_AFTER)
            except TimeoutError:
                return self._status  # every command sent to this run was refused
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self._status
        try:
            await workflow.wait_condition(lambda: self._status is not None, timeout=ABANDON_AFTER)
        except TimeoutError:
            workflow.logger.info("journey abandoned: no command was accepted")
            return None
        await workflow.wait_condition(
            lambda: self._status is not None and self._status.is_final and workflow.all_handlers_finished()
        )
        return self._status

    # -- reading -----------------------------------------------------------------------

    @workflow.query
    def status(self) -> JourneyStatus | None:
        return self._status

    def _current(self) -> JourneyStatus:
        if self._status is not None:
            return self._status
        info = workflow.info()
        return JourneyStatus.not_started(info.workflow_id, self._process.id)

    # -- validation and recording -------------------------------------------------------------

    def _validate(self, command) -> None:
        if command.effective_id() in self._processed:
            return  # a repeated command is answered with the journey's status
        if not self._status_known and self._status is None:
            return  # this run does not know the journey: the aggregate checks the rules
        try:
            rules.check(self._process, self._current(), command)
        except DomainError as error:
            raise refusal_failure(error) from None

    async def _record(self, activity_name: str, command) -> JourneyStatus:
        self._received = True
        async with self._lock:
            command_id = command.effective_id()
            if command_id in self._processed:
                return self._current()
            if command.kind in rules.CHECKS and (self._status_known or self._status is not None):
                # The validator saw the journey before the commands admitted with this one
                # ran: two reviewers deciding at once both pass it, the second loses here.
                try:
                    rules.check(self._process, self._current(), command)
                except DomainError as error:
                    raise refusal_failure(Refusal(
                        field=error.field, rule=error.rule, kind=RefusalKind.CONFLICT,
                        message=f"conflict: another command changed the journey first; {error}")) from None
            try:
                status = await workflow.execute_activity(
                    activity_name,
                    JourneyCommandInput(
                        workflow_id=workflow.info().workflow_id, process_id=self._process.id, command=command
                    ),
                    result_type=JourneyStatus,
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=ACTIVITY_RETRY,
                )
            except ActivityError as error:
                refusal = refusal_of(error.cause)
                if refusal is not None:
                    # Refused by the aggregate after the validator let it through (a race
                    # with another command): the caller gets the rule, nothing was recorded.
                    raise refusal_failure(refusal) from None
                raise
            self._status = status
            self._status_known = True
            self._processed.add(command_id)
            return status

    # -- commands: one Update per kind of ``domain.commands.JOURNEY_COMMANDS``, added below -----

    @workflow.update
    async def record_commands(self, batch: CommandBatch) -> BatchResult:
        """Records each command in order, each accepted or refused on its own (as if sent one
        by one), in one activity and one transaction."""
        self._received = True
        async with self._lock:
            ids = [c.effective_id() for c in batch.commands]
            pending = [c for c, command_id in zip(batch.commands, ids, strict=True)
                       if command_id not in self._processed]
            answered: dict[str, CommandOutcome] = {}
            if pending:
                result = await workflow.execute_local_activity(
                    "record_commands",
                    JourneyBatchInput(workflow_id=workflow.info().workflow_id, process_id=self._process.id,
                                      commands=pending),
                    result_type=BatchResult,
                    start_to_close_timeout=timedelta(seconds=60),
                    retry_policy=ACTIVITY_RETRY,
                )
                if result.status is not None:
                    self._status = result.status
                    self._status_known = True
                self._processed.update(o.command_id for o in result.outcomes if o.accepted)
                answered = {o.command_id: o for o in result.outcomes}
            return BatchResult(
                status=self._status,
                outcomes=[
                    answered.get(command_id)
                    or CommandOutcome(command_id=command_id, accepted=True, already_recorded=True)
                    for command_id in ids
                ],
            )

    @record_commands.validator
    def _validate_record_commands(self, batch: CommandBatch) -> None:
        if not 1 <= len(batch.commands) <= MAX_BATCH:
            raise refusal_failure(DomainError(
                "commands", "batch-size", f"a batch holds 1 to {MAX_BATCH} commands, got {len(batch.commands)}",
                RefusalKind.INVALID))
        for earlier, later in zip(batch.commands, batch.commands[1:], strict=False):
            if later.at < earlier.at:
                raise refusal_failure(DomainError(
                    "commands", "business-time-order",
                    f"not in business-time order ({later.kind} at {later.at.isoformat()} "
                    f"after {earlier.kind} at {earlier.at.isoformat()})", RefusalKind.INVALID))

    @workflow.update
    async def apply_milestone(self, command: ApplyMilestone) -> JourneyStatus | None:
        """Sent by the process calendar's fan-out. Idempotent; a milestone that does not
        concern the journey's stage records nothing."""
        self._received = True
        if command.milestone in self._milestones:
            return self._status
        self._milestones.add(command.milestone)
        if self._status is None or rules.milestone_outcome(self._status, command.milestone) is None:
            return self._status
        return await self._record("apply_milestone", command)


def _command_update(kind: str, model: type) -> Any:
    """The Update a kind of command arrives by, named like the kind: its validator runs the
    command's rule on the journey's status, its handler records it through the activity of the
    same name."""

    async def handler(self: JourneyWorkflow, command: Any) -> JourneyStatus:
        return await self._record(kind, command)

    def validator(self: JourneyWorkflow, command: Any) -> None:
        self._validate(command)

    for function, returns in ((handler, JourneyStatus), (validator, None)):
        function.__name__ = function.__qualname__ = kind if function is handler else f"_validate_{kind}"
        function.__annotations__ = {"command": model, "return": returns}
    update = workflow.update(name=kind)(handler)
    update.validator(validator)
    return update


for _kind, _spec in JOURNEY_COMMANDS.items():
    setattr(JourneyWorkflow, _kind, _command_update(_kind, _spec.model))
JourneyWorkflow = workflow.defn(sandboxed=False)(JourneyWorkflow)  # type: ignore[misc]

