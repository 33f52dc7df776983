"""Journey activities: each records one command's events in the journey registry.

Synchronous, run on the worker's thread pool. Idempotent: the registry skips a command the
journey has already processed, so a retry after a successful commit appends nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from lnere import logs, metrics
from lnere.domain.commands import JOURNEY_COMMANDS
from lnere.domain.process import ProcessCatalog
from lnere.domain.rules import DomainError, JourneyStatus
from lnere.store.registry import JourneyRegistry
from lnere.workflows.messages import (
    BatchResult,
    JourneyBatchInput,
    JourneyCommandInput,
    OutreachBatchInput,
    OutreachResult,
)
from lnere.workflows.refusals import refusal_failure

log = logs.get_logger("lnere.activities")

AfterCommit = Callable[[str, JourneyCommandInput | JourneyBatchInput], None]


def _count(commands, outcomes) -> None:
    for command, outcome in zip(commands, outcomes, strict=False):
        result = "refused" if not outcome.accepted else "repeated" if outcome.already_recorded else "recorded"
        metrics.count_command(command.kind, result, outcome.rule)


class JourneyActivities:
    def __init__(
        self,
        registry: JourneyRegistry,
        processes: ProcessCatalog,
        after_commit: AfterCommit | None = None,
    ) -> None:
        self._registry = registry
        self._processes = processes
        # Called after each commit; lets the fault-injection tests fail an activity there.
        self._after_commit = after_commit

    def _run(self, name: str, input: JourneyCommandInput) -> JourneyStatus:
        info = activity.info()
        process = self._processes.get(input.process_id)
        try:
            status: JourneyStatus = self._registry.execute(process, input.workflow_id, input.command)
        except DomainError as error:
            metrics.count_command(input.command.kind, "refused", error.rule)
            log.info(
                "command refused",
                activity=name,
                workflow_id=input.workflow_id,
                workflow_run_id=info.workflow_run_id,
                rule=error.rule,
                field=error.field,
            )
            raise refusal_failure(error) from None
        metrics.count_command(input.command.kind, "recorded")
        log.info(
            "command recorded",
            activity=name,
            activity_id=info.activity_id,
            workflow_id=input.workflow_id,
            workflow_run_id=info.workflow_run_id,
            attempt=info.attempt,
            stage=status.stage,
            version=status.version,
        )
        if self._after_commit is not None:
            self._after_commit(name, input)
        return status

    @activity.defn(name="record_commands")
    def record_commands(self, input: JourneyBatchInput) -> BatchResult:
        info = activity.info()
        process = self._processes.get(input.process_id)
        status, outcomes = self._registry.record_commands(process, input.workflow_id, input.commands)
        _count(input.commands, outcomes)
        log.info(
            "commands recorded",
            activity="record_commands",
            activity_id=info.activity_id,
            workflow_id=input.workflow_id,
            workflow_run_id=info.workflow_run_id,
            attempt=info.attempt,
            accepted=sum(o.accepted for o in outcomes),
            refused=[o.rule for o in outcomes if not o.accepted],
            stage=status.stage if status else None,
        )
        if self._after_commit is not None:
            self._after_commit("record_commands", input)
        return BatchResult(status=status, outcomes=outcomes)

    @activity.defn(name="record_outreach")
    def record_outreach(self, input: OutreachBatchInput) -> OutreachResult:
        outcomes = self._registry.record_outreach(
            self._processes.get(input.process_id), [(c.journey, c.command) for c in input.contacts]
        )
        _count([c.command for c in input.contacts], outcomes)
        log.info(
            "outreach recorded",
            activity="record_outreach",
            workflow_run_id=activity.info().workflow_run_id,
            accepted=sum(o.accepted for o in outcomes),
            refused=[o.rule for o in outcomes if not o.accepted],
        )
        return OutreachResult(outcomes=outcomes)

    @activity.defn(name="apply_milestone")
    def apply_milestone(self, input: JourneyCommandInput) -> JourneyStatus:
        return self._run("apply_milestone", input)

    def _command_activity(self, kind: str) -> Callable:
        """The activity that records one kind of command: one per ``JOURNEY_COMMANDS`` entry,
        named like the kind (the names the journey workflow schedules)."""

        @activity.defn(name=kind)
        def record(input: JourneyCommandInput) -> JourneyStatus:
            return self._run(kind, input)

        return record

    def all(self) -> list[Callable]:
        return [
            *(self._command_activity(kind) for kind in JOURNEY_COMMANDS),
            self.apply_milestone,
            self.record_commands,
            self.record_outreach,
        ]
