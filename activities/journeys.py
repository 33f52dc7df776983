"""Journey activities: each records one command's events in the journey registry.

Synchronous, run on the worker's thread pool. Idempotent: the registry skips a command the
journey has already processed, so a retry after a successful commit appends nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

import logs
from domain.process import ProcessCatalog
from domain.rules import DomainError, JourneyStatus
from store.registry import JourneyRegistry
from workflows.messages import BatchResult, JourneyBatchInput, JourneyCommandInput, OutreachBatchInput, OutreachResult
from workflows.refusals import refusal_failure

log = logs.get_logger("lnere.activities")

AfterCommit = Callable[[str, JourneyCommandInput | JourneyBatchInput], None]


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
        use_case = getattr(self._registry, name)
        try:
            status: JourneyStatus = use_case(process, input.workflow_id, input.command)
        except DomainError as error:
            log.info(
                "command refused",
                activity=name,
                workflow_id=input.workflow_id,
                workflow_run_id=info.workflow_run_id,
                rule=error.rule,
                field=error.field,
            )
            raise refusal_failure(error) from None
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

    @activity.defn(name="record_credential")
    def record_credential(self, input: JourneyCommandInput) -> JourneyStatus:
        return self._run("record_credential", input)

    @activity.defn(name="activate_credential")
    def activate_credential(self, input: JourneyCommandInput) -> JourneyStatus:
        return self._run("activate_credential", input)

    @activity.defn(name="file_request")
    def file_request(self, input: JourneyCommandInput) -> JourneyStatus:
        return self._run("file_request", input)

    @activity.defn(name="decide_review")
    def decide_review(self, input: JourneyCommandInput) -> JourneyStatus:
        return self._run("decide_review", input)

    @activity.defn(name="send_subsane_documents")
    def send_subsane_documents(self, input: JourneyCommandInput) -> JourneyStatus:
        return self._run("send_subsane_documents", input)

    @activity.defn(name="reopen_rejection")
    def reopen_rejection(self, input: JourneyCommandInput) -> JourneyStatus:
        return self._run("reopen_rejection", input)

    @activity.defn(name="file_observation")
    def file_observation(self, input: JourneyCommandInput) -> JourneyStatus:
        return self._run("file_observation", input)

    @activity.defn(name="resolve_observation")
    def resolve_observation(self, input: JourneyCommandInput) -> JourneyStatus:
        return self._run("resolve_observation", input)

    @activity.defn(name="record_registral_check")
    def record_registral_check(self, input: JourneyCommandInput) -> JourneyStatus:
        return self._run("record_registral_check", input)

    @activity.defn(name="record_commands")
    def record_commands(self, input: JourneyBatchInput) -> BatchResult:
        info = activity.info()
        process = self._processes.get(input.process_id)
        status, outcomes = self._registry.record_commands(process, input.workflow_id, input.commands)
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

    def all(self) -> list[Callable]:
        return [
            self.record_credential,
            self.activate_credential,
            self.file_request,
            self.decide_review,
            self.send_subsane_documents,
            self.reopen_rejection,
            self.file_observation,
            self.resolve_observation,
            self.record_registral_check,
            self.apply_milestone,
            self.record_commands,
            self.record_outreach,
        ]
