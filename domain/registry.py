"""The journey registry: the eventsourcing application that records journeys' events.

One method per use case. Each is idempotent: a command whose id the journey has already
processed changes nothing and returns the journey's status, so an activity retried after
its commit never appends twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol

from domain.commands import (
    ActivateCredential,
    ApplyMilestone,
    DecideReview,
    FileObservation,
    FileRequest,
    RecordCredential,
    RecordRegistralCheck,
    ReopenRejection,
    ResolveObservation,
    SendSubsaneDocuments,
)
from domain.identity import journey_uuid, process_of
from domain.journey import Journey
from domain.process import ElectoralProcess
from domain.rules import DomainError, JourneyStatus


class JourneyRegistry(Application[UUID]):
    name = "journeys"

    def status(self, workflow_id: str) -> JourneyStatus | None:
        try:
            journey: Journey = self.repository.get(journey_uuid(workflow_id))
        except AggregateNotFoundError:
            return None
        return journey.status()

    def history(self, workflow_id: str) -> list[DomainEventProtocol[UUID]]:
        return list(self.events.get(journey_uuid(workflow_id)))

    def record_credential(self, process: ElectoralProcess, workflow_id: str, cmd: RecordCredential) -> JourneyStatus:
        return self._execute(process, workflow_id, cmd, lambda j, cid: j.record_credential(process, cmd, cid), start=True)

    def file_request(self, process: ElectoralProcess, workflow_id: str, cmd: FileRequest) -> JourneyStatus:
        return self._execute(
            process, workflow_id, cmd, lambda j, cid: j.file_request(process, cmd, cid), start=cmd.credential is not None
        )

    def activate_credential(self, process: ElectoralProcess, workflow_id: str, cmd: ActivateCredential) -> JourneyStatus:
        return self._execute(process, workflow_id, cmd, lambda j, cid: j.activate_credential(process, cmd, cid))

    def decide_review(self, process: ElectoralProcess, workflow_id: str, cmd: DecideReview) -> JourneyStatus:
        return self._execute(process, workflow_id, cmd, lambda j, cid: j.decide_review(process, cmd, cid))

    def send_subsane_documents(
        self, process: ElectoralProcess, workflow_id: str, cmd: SendSubsaneDocuments
    ) -> JourneyStatus:
        return self._execute(process, workflow_id, cmd, lambda j, cid: j.send_subsane_documents(process, cmd, cid))

    def reopen_rejection(self, process: ElectoralProcess, workflow_id: str, cmd: ReopenRejection) -> JourneyStatus:
        return self._execute(process, workflow_id, cmd, lambda j, cid: j.reopen_rejection(process, cmd, cid))

    def file_observation(self, process: ElectoralProcess, workflow_id: str, cmd: FileObservation) -> JourneyStatus:
        return self._execute(process, workflow_id, cmd, lambda j, cid: j.file_observation(process, cmd, cid))

    def resolve_observation(self, process: ElectoralProcess, workflow_id: str, cmd: ResolveObservation) -> JourneyStatus:
        return self._execute(process, workflow_id, cmd, lambda j, cid: j.resolve_observation(process, cmd, cid))

    def record_registral_check(
        self, process: ElectoralProcess, workflow_id: str, cmd: RecordRegistralCheck
    ) -> JourneyStatus:
        return self._execute(process, workflow_id, cmd, lambda j, cid: j.record_registral_check(process, cmd, cid))

    def apply_milestone(self, process: ElectoralProcess, workflow_id: str, cmd: ApplyMilestone) -> JourneyStatus:
        return self._execute(process, workflow_id, cmd, lambda j, cid: j.apply_milestone(process, cmd, cid))

    def _execute(
        self,
        process: ElectoralProcess,
        workflow_id: str,
        cmd: Any,
        change: Callable[[Journey, str], Any],
        *,
        start: bool = False,
    ) -> JourneyStatus:
        if process_of(workflow_id) != process.id:
            raise DomainError("journey", "journey-process", f"journey {workflow_id} is not of process {process.id}")
        command_id = cmd.effective_id()
        try:
            journey: Journey = self.repository.get(journey_uuid(workflow_id))
        except AggregateNotFoundError:
            if not start:
                raise DomainError("journey", "journey-exists", f"no journey {workflow_id}") from None
            journey = Journey(
                process_id=process.id,
                workflow_id=workflow_id,
                timezone=process.timezone,
                at=cmd.at,
                command_id=f"start:{command_id}",
            )
        if journey.has_processed(command_id):
            return journey.status()
        change(journey, command_id)
        self.save(journey)
        return journey.status()
