"""One citizen's journey in one electoral process, as an event-sourced aggregate."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from lnere.domain import rules
from lnere.domain.commands import (
    ActivateCredential,
    ApplyMilestone,
    CancelCpve,
    CpveStep,
    DecideReview,
    ErasePersonalData,
    FileObservation,
    FileRequest,
    RecordCpveStep,
    RecordCredential,
    RecordDelivery,
    RecordRegistralCheck,
    ReopenRejection,
    RequestCpve,
    ResendCredential,
    ResolveObservation,
    SendSubsaneDocuments,
    seen,
)
from lnere.domain.identity import journey_uuid
from lnere.domain.process import ElectoralProcess, Milestone
from lnere.domain.rules import AnalysisStatus, DomainError, JourneyStatus, Stage
from lnere.domain.values import Credential, CredentialKind, age_on
from lnere.domain.vault import CitizenVault


class Journey(Aggregate):
    """Every method that changes the journey first checks the rules (``domain.rules``)
    against the journey's status, then triggers its events. Each event records the
    command that caused it, so a command applied twice is recognised and skipped. Event
    classes are declared (their names, hence the stored topics, unchanged) so that projections
    and the type checker can name them."""

    @staticmethod
    def create_id(workflow_id: str) -> UUID:
        return journey_uuid(workflow_id)

    class Started(Aggregate.Created):
        process_id: str
        workflow_id: str
        timezone: str
        at: datetime
        command_id: str

    @event(Started)
    def __init__(self, process_id: str, workflow_id: str, timezone: str, at: datetime, command_id: str):
        self.process_id = process_id
        self.timezone = timezone  # business days of this journey are days in this timezone
        self.workflow_id = workflow_id
        self.stage: Stage | None = None
        self.analysis_status: AnalysisStatus | None = None
        self.credential_sealed: str | None = None  # personal data, sealed with the citizen's key
        self.sex: str | None = None
        self.credential_kind: CredentialKind | None = None
        self.credential_activated = False
        self.adult_on_election_day = False
        self.request: dict[str, Any] | None = None
        self.request_sealed: str | None = None  # address and contact, sealed with the citizen's key
        self.expediente: list[dict[str, Any]] = []  # the documents: id, kind, digest, round (0: the request)
        self.observations: dict[str, bool] = {}  # "party/id" -> open (a party's ids are its own)
        self.settled_at = at  # the last business time of its facts but parties' observations
        self.reasons: list[str] = []
        self.delivery: str | None = None
        self.cpve_step: CpveStep | None = None  # the CPVE's life, when requested in this journey
        self.cpve_office: str | None = None
        self.cpve_state: str | None = None
        self.cpve_requested_at: datetime | None = None
        self.last_at = at
        self.processed_commands: set[str] = {command_id}

    # -- reading -------------------------------------------------------------------

    def status(self) -> JourneyStatus:
        return JourneyStatus(
            journey_id=str(self.id),
            workflow_id=self.workflow_id,
            process_id=self.process_id,
            version=self.version,
            stage=self.stage,
            analysis_status=self.analysis_status,
            credential_kind=self.credential_kind,
            credential_activated=self.credential_activated,
            adult_on_election_day=self.adult_on_election_day,
            last_at=self.last_at if self.stage is not None else None,
            open_observations=tuple(k.partition("/")[2] for k, is_open in self.observations.items() if is_open),
            observation_parties=tuple((k.partition("/")[2], k.partition("/")[0]) for k, is_open in
                                      self.observations.items() if is_open),
            settled_at=self.settled_at if self.stage is not None else None,
            reasons=tuple(self.reasons),
            modality=self.request["modality"] if self.request else None,
            delivery=self.delivery,
            cpve_step=self.cpve_step,
            cpve_requested_at=self.cpve_requested_at,
        )

    def has_processed(self, command_id: str) -> bool:
        return seen(self.processed_commands, command_id)

    def check_command_id(self, command_id: str) -> None:
        rules.check_command_id(self.processed_commands, command_id, "command of this journey")

    def _noted(self, at: datetime, command_id: str, settles: bool = True) -> None:
        self.last_at = max(self.last_at, at) if not settles else at
        if settles:
            self.settled_at = at
        self.processed_commands.add(command_id)

    # -- credential ------------------------------------------------------------------

    def record_credential(
        self, process: ElectoralProcess, cmd: RecordCredential, command_id: str, vault: CitizenVault
    ) -> None:
        rules.check_record_credential(process, self.status(), cmd)
        self._record(process, cmd.credential, cmd.at, command_id, vault, cmd.recorded_by)

    def _record(
        self,
        process: ElectoralProcess,
        credential: Credential,
        at: datetime,
        command_id: str,
        vault: CitizenVault,
        recorded_by: str | None,
    ) -> None:
        self._credential_recorded(
            at=at,
            command_id=command_id,
            recorded_by=recorded_by,
            credential_sealed=vault.seal(str(self.id), credential.model_dump(mode="json")),
            kind=credential.kind.value,
            sex=credential.holder.sex.value,
            adult_on_election_day=age_on(credential.holder.birth_date, process.election_day) >= 18,
        )
        if credential.activated_on is not None:
            self._credential_activated(at=at, command_id=command_id, recorded_by=recorded_by)

    class CredentialRecorded(Aggregate.Event):
        at: datetime
        command_id: str
        credential_sealed: str
        kind: str
        sex: str
        adult_on_election_day: bool
        recorded_by: str | None = None

    @event(CredentialRecorded)
    def _credential_recorded(
        self,
        at: datetime,
        command_id: str,
        credential_sealed: str,
        kind: str,
        sex: str,
        adult_on_election_day: bool,
        recorded_by: str | None = None,
    ) -> None:
        self.credential_sealed = credential_sealed
        self.sex = sex
        self.credential_kind = CredentialKind(kind)
        self.adult_on_election_day = adult_on_election_day
        self.stage = Stage.CREDENTIAL_RECORDED
        self._noted(at, command_id)

    def activate_credential(self, process: ElectoralProcess, cmd: ActivateCredential, command_id: str) -> None:
        rules.check_activate_credential(process, self.status(), cmd)
        self._credential_activated(at=cmd.at, command_id=command_id, recorded_by=cmd.recorded_by,
                                   cpve_office=self.cpve_office, cpve_state=self.cpve_state)

    class CredentialActivated(Aggregate.Event):
        at: datetime
        command_id: str
        recorded_by: str | None = None
        cpve_office: str | None = None  # where it was requested, when its life is recorded here
        cpve_state: str | None = None

    @event(CredentialActivated)
    def _credential_activated(self, at: datetime, command_id: str, recorded_by: str | None = None,
                              cpve_office: str | None = None, cpve_state: str | None = None) -> None:
        self.credential_activated = True
        if cpve_office is not None:
            self.cpve_step = CpveStep.ACTIVATED
        self._noted(at, command_id)

    # -- the CPVE's life -------------------------------------------------------------

    def request_cpve(self, process: ElectoralProcess, cmd: RequestCpve, command_id: str, vault: CitizenVault) -> None:
        rules.check_request_cpve(process, self.status(), cmd)
        self._record(process, cmd.credential, cmd.at, command_id, vault, cmd.recorded_by)
        self._cpve_requested(at=cmd.at, command_id=command_id, office=cmd.office, state=cmd.state_of_reference,
                             recorded_by=cmd.recorded_by)

    class CpveRequested(Aggregate.Event):
        at: datetime
        command_id: str
        office: str
        state: str
        recorded_by: str | None = None

    @event(CpveRequested)
    def _cpve_requested(self, at: datetime, command_id: str, office: str, state: str,
                        recorded_by: str | None = None) -> None:
        self.cpve_step = CpveStep.REQUESTED
        self.cpve_office, self.cpve_state, self.cpve_requested_at = office, state, at
        self._noted(at, command_id)

    def record_cpve_step(self, process: ElectoralProcess, cmd: RecordCpveStep, command_id: str) -> None:
        rules.check_record_cpve_step(process, self.status(), cmd)
        assert self.cpve_office is not None and self.cpve_state is not None
        self._cpve_step_recorded(at=cmd.at, command_id=command_id, step=cmd.step, office=self.cpve_office,
                                 state=self.cpve_state, recorded_by=cmd.recorded_by)

    class CpveStepRecorded(Aggregate.Event):
        at: datetime
        command_id: str
        step: str
        office: str
        state: str
        recorded_by: str | None = None

    @event(CpveStepRecorded)
    def _cpve_step_recorded(self, at: datetime, command_id: str, step: str, office: str, state: str,
                            recorded_by: str | None = None) -> None:
        self.cpve_step = CpveStep(step)
        self._noted(at, command_id)

    def cancel_cpve(self, process: ElectoralProcess, cmd: CancelCpve, command_id: str) -> None:
        rules.check_cancel_cpve(process, self.status(), cmd)
        assert self.cpve_office is not None and self.cpve_state is not None
        self._cpve_cancelled(at=cmd.at, command_id=command_id, office=self.cpve_office, state=self.cpve_state,
                             recorded_by=cmd.recorded_by)

    class CpveCancelled(Aggregate.Event):
        at: datetime
        command_id: str
        office: str
        state: str
        recorded_by: str | None = None

    @event(CpveCancelled)
    def _cpve_cancelled(self, at: datetime, command_id: str, office: str, state: str,
                        recorded_by: str | None = None) -> None:
        self.cpve_step = CpveStep.CANCELLED
        self._noted(at, command_id)

    def resend_credential(self, process: ElectoralProcess, cmd: ResendCredential, command_id: str) -> None:
        rules.check_resend_credential(process, self.status(), cmd)
        self._credential_resent(at=cmd.at, command_id=command_id, reason=cmd.reason, recorded_by=cmd.recorded_by)

    class CredentialResent(Aggregate.Event):
        at: datetime
        command_id: str
        reason: str
        recorded_by: str | None = None

    @event(CredentialResent)
    def _credential_resent(self, at: datetime, command_id: str, reason: str, recorded_by: str | None = None) -> None:
        self._noted(at, command_id)

    # -- request ---------------------------------------------------------------------

    def file_request(self, process: ElectoralProcess, cmd: FileRequest, command_id: str, vault: CitizenVault) -> None:
        rules.check_file_request(process, self.status(), cmd)
        if cmd.credential is not None:
            self._record(process, cmd.credential, cmd.at, command_id, vault, cmd.recorded_by)
            birth_date = cmd.credential.holder.birth_date
        else:
            assert self.credential_sealed is not None
            credential = vault.open(str(self.id), self.credential_sealed)
            if credential is None:
                raise DomainError("journey", "personal-data-erased", "the citizen's personal data were erased")
            birth_date = date.fromisoformat(credential["holder"]["birth_date"])
        assert self.credential_kind is not None and self.sex is not None
        self._request_filed(
            at=cmd.at,
            command_id=command_id,
            channel=cmd.channel.value,
            state_of_reference=cmd.state_of_reference,
            country=cmd.country,
            modality=cmd.modality.value,
            credential_kind=self.credential_kind.value,
            sex=self.sex,
            age_at_filing=age_on(birth_date, process.business_day(cmd.at)),
            personal_sealed=vault.seal(
                str(self.id),
                {"address": cmd.address.model_dump(mode="json"), "contact": cmd.contact.model_dump(mode="json")},
            ),
            recorded_by=cmd.recorded_by,
            voting_site=cmd.voting_site,
            documents=[ref.model_dump() for ref in cmd.documents] if cmd.documents else None,
        )

    class RequestFiled(Aggregate.Event):
        at: datetime
        command_id: str
        channel: str
        state_of_reference: str
        country: str
        modality: str
        credential_kind: str
        sex: str
        age_at_filing: int
        personal_sealed: str
        recorded_by: str | None = None
        voting_site: str | None = None  # in person: the consular site
        documents: list[dict[str, str]] | None = None  # the expediente (ids, kinds, keyed digests)

    @event(RequestFiled)
    def _request_filed(
        self,
        at: datetime,
        command_id: str,
        channel: str,
        state_of_reference: str,
        country: str,
        modality: str,
        credential_kind: str,
        sex: str,
        age_at_filing: int,
        personal_sealed: str,
        recorded_by: str | None = None,
        voting_site: str | None = None,
        documents: list[dict[str, str]] | None = None,
    ) -> None:
        self.expediente = [{**ref, "round": 0} for ref in documents or ()]
        self.request = {
            "channel": channel,
            "state_of_reference": state_of_reference,
            "country": country,
            "modality": modality,
        }
        self.request_sealed = personal_sealed
        self.stage = Stage.IN_REVIEW
        self.analysis_status = AnalysisStatus.IN_REVIEW
        self._noted(at, command_id)

    # -- review and subsane -------------------------------------------------------------

    def decide_review(self, process: ElectoralProcess, cmd: DecideReview, command_id: str) -> None:
        rules.check_decide_review(process, self.status(), cmd)
        unknown = set((cmd.concerning or {}).values()) - {ref["id"] for ref in self.expediente}
        if unknown:
            raise DomainError("concerning", "document-unknown", "a reason names a document not in the expediente")
        self._review_decided(
            at=cmd.at,
            command_id=command_id,
            reviewer=cmd.reviewer,
            outcome=cmd.outcome,
            reasons=list(cmd.reasons),
            notes=cmd.notes,
            recorded_by=cmd.recorded_by,
            documents_seen=[ref["id"] for ref in self.expediente] or None,
            concerning=dict(cmd.concerning) if cmd.concerning else None,
        )
        if cmd.outcome == "inconsistencies":
            self._subsane_requested(
                at=cmd.at, command_id=command_id, deadline=process.milestone_at(Milestone.ANALYSIS_DEADLINE)
            )

    class ReviewDecided(Aggregate.Event):
        at: datetime
        command_id: str
        reviewer: str
        outcome: str
        reasons: list[str]
        notes: str | None
        recorded_by: str | None = None
        documents_seen: list[str] | None = None  # the expediente the decision was made on (document ids)
        concerning: dict[str, str] | None = None  # reason code -> the document it concerns

    @event(ReviewDecided)
    def _review_decided(
        self,
        at: datetime,
        command_id: str,
        reviewer: str,
        outcome: str,
        reasons: list[str],
        notes: str | None,
        recorded_by: str | None = None,
        documents_seen: list[str] | None = None,
        concerning: dict[str, str] | None = None,
    ) -> None:
        self.analysis_status = AnalysisStatus(outcome)
        self.stage = Stage(outcome)
        self.reasons = list(reasons)
        self._noted(at, command_id)

    class SubsaneRequested(Aggregate.Event):
        at: datetime
        command_id: str
        deadline: datetime

    @event(SubsaneRequested)
    def _subsane_requested(self, at: datetime, command_id: str, deadline: datetime) -> None:
        self._noted(at, command_id)

    def send_subsane_documents(self, process: ElectoralProcess, cmd: SendSubsaneDocuments, command_id: str) -> None:
        rules.check_send_subsane_documents(process, self.status(), cmd)
        self._subsane_documents_received(
            at=cmd.at, command_id=command_id, documents=list(cmd.documents), recorded_by=cmd.recorded_by,
            files=[ref.model_dump() for ref in cmd.files] if cmd.files else None,
        )

    class SubsaneDocumentsReceived(Aggregate.Event):
        at: datetime
        command_id: str
        documents: list[str]
        recorded_by: str | None = None
        files: list[dict[str, str]] | None = None  # the documents sent (ids, kinds, keyed digests)

    @event(SubsaneDocumentsReceived)
    def _subsane_documents_received(
        self, at: datetime, command_id: str, documents: list[str], recorded_by: str | None = None,
        files: list[dict[str, str]] | None = None,
    ) -> None:
        rounds = max((ref["round"] for ref in self.expediente), default=0) + 1
        self.expediente = [*self.expediente, *({**ref, "round": rounds} for ref in files or ())]
        self.stage = Stage.IN_REVIEW
        self.analysis_status = AnalysisStatus.IN_REVIEW
        self._noted(at, command_id)

    class SubsaneExpired(Aggregate.Event):
        at: datetime
        command_id: str

    @event(SubsaneExpired)
    def _subsane_expired(self, at: datetime, command_id: str) -> None:
        self.stage = Stage.REJECTED
        self.analysis_status = AnalysisStatus.REJECTED
        self.reasons = ["SUBSANE_EXPIRED"]
        self._noted(at, command_id)

    def reopen_rejection(self, process: ElectoralProcess, cmd: ReopenRejection, command_id: str) -> None:
        rules.check_reopen_rejection(process, self.status(), cmd)
        self._rejection_reopened(
            at=cmd.at, command_id=command_id, staff=cmd.staff, clarification=cmd.clarification,
            recorded_by=cmd.recorded_by,
        )

    class RejectionReopened(Aggregate.Event):
        at: datetime
        command_id: str
        staff: str
        clarification: str
        recorded_by: str | None = None

    @event(RejectionReopened)
    def _rejection_reopened(
        self, at: datetime, command_id: str, staff: str, clarification: str, recorded_by: str | None = None
    ) -> None:
        self.stage = Stage.IN_REVIEW
        self.analysis_status = AnalysisStatus.IN_REVIEW
        self.reasons = []
        self._noted(at, command_id)

    # -- final list ----------------------------------------------------------------------

    def file_observation(self, process: ElectoralProcess, cmd: FileObservation, command_id: str) -> None:
        rules.check_file_observation(process, self.status(), cmd)
        self._observation_filed(
            at=cmd.at,
            command_id=command_id,
            observation_id=cmd.observation_id,
            party=cmd.party,
            representative=cmd.representative,
            reason=cmd.reason,
            recorded_by=cmd.recorded_by,
        )

    class PartyObservationFiled(Aggregate.Event):
        at: datetime
        command_id: str
        observation_id: str
        party: str
        representative: str
        reason: str
        recorded_by: str | None = None

    @event(PartyObservationFiled)
    def _observation_filed(
        self,
        at: datetime,
        command_id: str,
        observation_id: str,
        party: str,
        representative: str,
        reason: str,
        recorded_by: str | None = None,
    ) -> None:
        self.observations[f"{party}/{observation_id}"] = True
        self._noted(at, command_id, settles=False)

    def resolve_observation(self, process: ElectoralProcess, cmd: ResolveObservation, command_id: str) -> None:
        status = self.status()
        rules.check_resolve_observation(process, status, cmd)
        self._observation_resolved(
            at=cmd.at,
            command_id=command_id,
            observation_id=cmd.observation_id,
            party=rules.observation_party(status, cmd),
            resolver=cmd.resolver,
            upheld=cmd.upheld,
            reason=cmd.reason,
            recorded_by=cmd.recorded_by,
        )
        if cmd.upheld:
            self._excluded(at=cmd.at, command_id=command_id, reason="OBSERVATION_UPHELD")

    class PartyObservationResolved(Aggregate.Event):
        at: datetime
        command_id: str
        observation_id: str
        resolver: str
        upheld: bool
        reason: str
        recorded_by: str | None = None
        party: str | None = None  # the party that filed it (resolutions recorded before party ids name none)

    @event(PartyObservationResolved)
    def _observation_resolved(
        self,
        at: datetime,
        command_id: str,
        observation_id: str,
        resolver: str,
        upheld: bool,
        reason: str,
        recorded_by: str | None = None,
        party: str | None = None,
    ) -> None:
        key = f"{party}/{observation_id}" if party is not None else next(
            k for k in self.observations if k.partition("/")[2] == observation_id)
        self.observations[key] = False
        self._noted(at, command_id)

    def record_registral_check(self, process: ElectoralProcess, cmd: RecordRegistralCheck, command_id: str) -> None:
        rules.check_registral_check(process, self.status(), cmd)
        self._registral_check_recorded(
            at=cmd.at, command_id=command_id, result=cmd.result, source=cmd.source, recorded_by=cmd.recorded_by
        )
        if cmd.result != "OK":
            self._excluded(at=cmd.at, command_id=command_id, reason=cmd.result)

    class RegistralCheckRecorded(Aggregate.Event):
        at: datetime
        command_id: str
        result: str
        source: str
        recorded_by: str | None = None

    @event(RegistralCheckRecorded)
    def _registral_check_recorded(
        self, at: datetime, command_id: str, result: str, source: str, recorded_by: str | None = None
    ) -> None:
        self._noted(at, command_id)

    class ListedForReview(Aggregate.Event):
        at: datetime
        command_id: str

    @event(ListedForReview)
    def _listed_for_review(self, at: datetime, command_id: str) -> None:
        self.stage = Stage.LISTED_FOR_REVIEW
        self._noted(at, command_id)

    class IncludedInDefinitiveList(Aggregate.Event):
        at: datetime
        command_id: str

    @event(IncludedInDefinitiveList)
    def _included(self, at: datetime, command_id: str) -> None:
        self.stage = Stage.INCLUDED
        self._noted(at, command_id)

    class ExcludedFromDefinitiveList(Aggregate.Event):
        at: datetime
        command_id: str
        reason: str

    @event(ExcludedFromDefinitiveList)
    def _excluded(self, at: datetime, command_id: str, reason: str) -> None:
        self.stage = Stage.EXCLUDED
        self.reasons = [reason]
        self._noted(at, command_id)

    class ClosedWithoutRequest(Aggregate.Event):
        at: datetime
        command_id: str

    @event(ClosedWithoutRequest)
    def _closed_without_request(self, at: datetime, command_id: str) -> None:
        self.stage = Stage.CLOSED_WITHOUT_REQUEST
        self._noted(at, command_id)

    # -- after the definitive list -----------------------------------------------------------

    def record_delivery(self, process: ElectoralProcess, cmd: RecordDelivery, command_id: str) -> None:
        rules.check_record_delivery(process, self.status(), cmd)
        self._delivery_recorded(at=cmd.at, command_id=command_id, status=cmd.status, reference=cmd.reference,
                                recorded_by=cmd.recorded_by)

    class DeliveryRecorded(Aggregate.Event):
        at: datetime
        command_id: str
        status: str
        reference: str
        recorded_by: str | None = None

    @event(DeliveryRecorded)
    def _delivery_recorded(
        self, at: datetime, command_id: str, status: str, reference: str, recorded_by: str | None = None
    ) -> None:
        self.delivery = status
        self._noted(at, command_id)

    # -- milestones ----------------------------------------------------------------------

    def apply_milestone(self, process: ElectoralProcess, cmd: ApplyMilestone, command_id: str) -> bool:
        """Applies a calendar milestone; returns whether it changed the journey."""
        outcome = rules.milestone_outcome(self.status(), cmd.milestone)
        if outcome is None:
            return False
        # A milestone is a fact of the calendar: it applies even if a command of this
        # journey carries a later business time, so time is taken as the later of both.
        at = max(cmd.at, self.last_at)
        new_stage, reason = outcome
        if new_stage is Stage.CLOSED_WITHOUT_REQUEST:
            self._closed_without_request(at=at, command_id=command_id)
        elif new_stage is Stage.REJECTED:
            self._subsane_expired(at=at, command_id=command_id)
        elif new_stage is Stage.LISTED_FOR_REVIEW:
            self._listed_for_review(at=at, command_id=command_id)
        elif new_stage is Stage.INCLUDED:
            self._included(at=at, command_id=command_id)
        elif new_stage is Stage.EXCLUDED:
            self._excluded(at=at, command_id=command_id, reason=reason or "NOT_MEETING_REQUIREMENTS")
        else:  # pragma: no cover - milestone_outcome returns only the stages above
            raise DomainError("milestone", "milestone-outcome", f"unexpected stage {new_stage}")
        return True

    # -- erasure ---------------------------------------------------------------------------

    def erase_personal_data(self, process: ElectoralProcess, cmd: ErasePersonalData, command_id: str) -> None:
        """Records the erasure; the registry then deletes the citizen's key. The journey's
        facts that count (dates, stages, country, state, sex, age range) stay."""
        rules.check_erase_personal_data(process, self.status(), cmd)
        self._personal_data_erased(
            at=cmd.at, command_id=command_id, staff=cmd.staff, reason=cmd.reason, recorded_by=cmd.recorded_by
        )

    class PersonalDataErased(Aggregate.Event):
        at: datetime
        command_id: str
        staff: str
        reason: str
        recorded_by: str | None = None

    @event(PersonalDataErased)
    def _personal_data_erased(
        self, at: datetime, command_id: str, staff: str, reason: str, recorded_by: str | None = None
    ) -> None:
        self.credential_sealed = None
        self.request_sealed = None
        self._noted(at, command_id)
