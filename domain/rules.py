"""The journey's rules as pure functions over its status.

The aggregate enforces them as invariants before it records an event; the workflow calls
the same functions in its Update validators so that a refused command is answered at once
and records nothing. One set of rules, two callers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from lnere.domain.commands import (
    JOURNEY_COMMANDS,
    ActivateCredential,
    CancelCpve,
    CpveStep,
    DecideReview,
    DeliveryStatus,
    DocumentRef,
    ErasePersonalData,
    FileObservation,
    FileRequest,
    RecordAttention,
    RecordCpveStep,
    RecordCredential,
    RecordDelivery,
    RecordRegistralCheck,
    ReopenRejection,
    RequestCpve,
    ResendCredential,
    ResolveObservation,
    SendSubsaneDocuments,
    reused,
)
from lnere.domain.process import Channel, ElectoralProcess, Milestone, Modality
from lnere.domain.refusals import Refusal, RefusalKind
from lnere.domain.values import Credential, CredentialKind, age_on


class Stage(StrEnum):
    CREDENTIAL_RECORDED = "credential_recorded"
    IN_REVIEW = "in_review"
    INCONSISTENCIES = "inconsistencies"
    MEETS_REQUIREMENTS = "meets_requirements"
    REJECTED = "rejected"
    LISTED_FOR_REVIEW = "listed_for_review"
    EXCLUDED = "excluded"
    INCLUDED = "included"
    CLOSED_WITHOUT_REQUEST = "closed_without_request"


FINAL_STAGES = frozenset({Stage.INCLUDED, Stage.EXCLUDED, Stage.CLOSED_WITHOUT_REQUEST})


class AnalysisStatus(StrEnum):
    """DERFE's determination on the request (report table 4.1.6)."""

    IN_REVIEW = "in_review"
    MEETS_REQUIREMENTS = "meets_requirements"
    INCONSISTENCIES = "inconsistencies"
    REJECTED = "rejected"


class DomainError(ValueError):
    """A command refused by a rule. ``field`` names the offending input, ``rule`` the rule;
    ``refusal`` is what the other layers pass on (see ``domain.refusals``)."""

    def __init__(self, field: str, rule: str, message: str, kind: RefusalKind | None = None):
        self.refusal = Refusal.of(field, rule, message, kind)
        self.field = field
        self.rule = rule
        super().__init__(self.refusal.message)


class JourneyStatus(BaseModel):
    """What the rules need to know of a journey. Holds no personal data: it travels in
    workflow state and activity results."""

    model_config = ConfigDict(frozen=True)

    journey_id: str
    workflow_id: str
    process_id: str
    version: int = 0
    stage: Stage | None = None
    analysis_status: AnalysisStatus | None = None
    credential_kind: CredentialKind | None = None
    credential_activated: bool = False
    adult_on_election_day: bool = False
    last_at: datetime | None = None
    open_observations: tuple[str, ...] = ()  # their ids (a party's ids are its own: two parties may share one)
    observation_parties: tuple[tuple[str, str], ...] = ()  # (open observation, the party that filed it)
    settled_at: datetime | None = None  # the last business time of the journey's facts but parties' observations
    reasons: tuple[str, ...] = ()
    modality: str | None = None
    delivery: str | None = None  # the last delivery status after the definitive list
    cpve_step: CpveStep | None = None  # where the CPVE requested in this journey stands
    cpve_requested_at: datetime | None = None

    @classmethod
    def not_started(cls, workflow_id: str, process_id: str) -> JourneyStatus:
        """A journey none of whose commands is recorded yet: what its first command is judged on."""
        return cls(journey_id="", workflow_id=workflow_id, process_id=process_id)

    @property
    def is_final(self) -> bool:
        return self.stage in FINAL_STAGES

    def as_seen_by_party(self, party: str) -> JourneyStatus:
        """What a party may see: its own observations, not the other parties' — nor what
        would count them (the journey's version, the time of its last fact)."""
        own = tuple(x for x in self.observation_parties if x[1] == party)
        return self.model_copy(update={"open_observations": tuple(o for o, _ in own), "observation_parties": own,
                                       "version": 0, "last_at": self.settled_at})


class CommandOutcome(BaseModel):
    """What became of one command of a batch. Holds no personal data."""

    model_config = ConfigDict(frozen=True)

    command_id: str
    accepted: bool
    already_recorded: bool = False
    refusal: Refusal | None = None  # why, when refused
    unchanged: bool = False  # accepted, but it did not concern the journey (a milestone for another stage)

    @classmethod
    def refused(cls, command_id: str, error: DomainError) -> CommandOutcome:
        return cls(command_id=command_id, accepted=False, refusal=error.refusal)

    @property
    def error(self) -> str | None:
        return self.refusal.message if self.refusal is not None else None

    @property
    def rule(self) -> str | None:
        return self.refusal.rule if self.refusal is not None else None


def _check_time(status: JourneyStatus, at: datetime) -> None:
    if status.last_at is not None and at < status.last_at:
        raise DomainError(
            "at", "business-time-order",
            f"{at.isoformat()} is before the journey's last event at {status.last_at.isoformat()}",
        )


def check_command_id(processed: set[str], command_id: str, of: str) -> None:
    """An id given with a command names one command of ``of`` (a journey, a citizen's contacts):
    the same id with other content is refused, never taken for the first."""
    if reused(processed, command_id):
        raise DomainError("command_id", "command-id-reused", f"this command id already names another {of}")


def _check_not_final(status: JourneyStatus) -> None:
    if status.is_final:
        raise DomainError("journey", "journey-ended", f"the journey has ended ({status.stage})")


def _check_stage(status: JourneyStatus, allowed: set[Stage], what: str) -> None:
    if status.stage not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise DomainError("journey", "wrong-stage", f"{what} needs the journey in {names}, it is {status.stage}")


# Each kind of command's rule, registered by ``rule_for`` beside the rule itself.
CHECKS: dict[str, Callable[..., None]] = {}


def rule_for(model: type[BaseModel]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Registers the decorated function as the rule of commands of ``model``."""

    def register(check: Callable[..., None]) -> Callable[..., None]:
        CHECKS[model.model_fields["kind"].default] = check
        return check

    return register


def check_credential(process: ElectoralProcess, credential: Credential) -> None:
    election_day = process.election_day
    if age_on(credential.holder.birth_date, election_day) < 18:
        raise DomainError(
            "credential.holder.birth_date", "adult-on-election-day",
            f"the citizen is under 18 on election day {election_day.isoformat()}",
        )


@rule_for(RecordCredential)
def check_record_credential(process: ElectoralProcess, status: JourneyStatus, cmd: RecordCredential) -> None:
    if status.stage is not None:
        raise DomainError("credential", "one-credential", "a credential is already recorded for this journey")
    check_credential(process, cmd.credential)
    _check_registration_open_for_journeys(process, cmd.at)


def _check_registration_open_for_journeys(process: ElectoralProcess, at: datetime) -> None:
    closes = process.milestone_at(Milestone.REGISTRATION_CLOSED)
    if at > closes:
        raise DomainError("at", "registration-window",
                          f"registration for {process.name} closed at {closes.isoformat()}")


@rule_for(ActivateCredential)
def check_activate_credential(process: ElectoralProcess, status: JourneyStatus, cmd: ActivateCredential) -> None:
    _check_cpve_not_activated(status, "cpve-activation", "activated")
    _check_registration_open_for_journeys(process, cmd.at)
    if status.cpve_step is not None and status.cpve_step is not CpveStep.DELIVERED:
        raise DomainError("credential", "cpve-activation",
                          f"the CPVE is {status.cpve_step.value}: it is activated once delivered", RefusalKind.CONFLICT)
    _check_time(status, cmd.at)


def _check_cpve_not_activated(status: JourneyStatus, rule: str, done: str) -> None:
    """A CPVE is recorded in this open journey, neither activated nor cancelled: what is
    activated or sent again."""
    _check_not_final(status)
    if status.stage is None:
        raise DomainError("credential", "credential-recorded", "no credential is recorded for this journey")
    if status.credential_kind is not CredentialKind.CPVE:
        raise DomainError("credential.kind", rule, f"only a CPVE is {done}")
    if status.credential_activated:
        raise DomainError("credential", rule, "the CPVE is already activated: the citizen has it",
                          RefusalKind.CONFLICT)
    _check_not_cancelled(status)


def _check_not_cancelled(status: JourneyStatus) -> None:
    if status.cpve_step is CpveStep.CANCELLED:
        raise DomainError("credential", "cpve-cancelled", "the CPVE was cancelled (not collected in time)",
                          RefusalKind.CONFLICT)


CPVE_ORDER = (CpveStep.REQUESTED, CpveStep.PRODUCED, CpveStep.SHIPPED, CpveStep.DELIVERED)


@rule_for(RequestCpve)
def check_request_cpve(process: ElectoralProcess, status: JourneyStatus, cmd: RequestCpve) -> None:
    if status.stage is not None:
        raise DomainError("credential", "one-credential", "a credential is already recorded for this journey")
    if cmd.credential.kind is not CredentialKind.CPVE or cmd.credential.activated_on is not None:
        raise DomainError("credential.kind", "cpve-request", "a CPVE request is for a CPVE not yet activated")
    check_credential(process, cmd.credential)
    _check_registration_open_for_journeys(process, cmd.at)
    if cmd.office not in process.consular_offices:
        raise DomainError("office", "consular-office", f"{cmd.office} is not an embassy or consulate of {process.id}")
    if process.state(cmd.state_of_reference) is None:
        raise DomainError("state_of_reference", "state-with-vmre",
                          f"state {cmd.state_of_reference} has no vote from abroad in {process.name}")


@rule_for(RecordCpveStep)
def check_record_cpve_step(process: ElectoralProcess, status: JourneyStatus, cmd: RecordCpveStep) -> None:
    _check_not_final(status)
    if status.cpve_step is None:
        raise DomainError("credential", "cpve-requested", "no CPVE request is recorded for this journey")
    _check_not_cancelled(status)
    step = CpveStep(cmd.step)
    if status.cpve_step not in CPVE_ORDER or CPVE_ORDER.index(step) != CPVE_ORDER.index(status.cpve_step) + 1:
        raise DomainError("step", "cpve-step-order",
                          f"the CPVE is {status.cpve_step.value}: it cannot be {step.value} now", RefusalKind.CONFLICT)
    _check_time(status, cmd.at)


@rule_for(CancelCpve)
def check_cancel_cpve(process: ElectoralProcess, status: JourneyStatus, cmd: CancelCpve) -> None:
    if status.cpve_step is None or status.cpve_requested_at is None:
        raise DomainError("credential", "cpve-requested", "no CPVE request is recorded for this journey")
    _check_not_cancelled(status)
    if status.credential_activated:
        raise DomainError("credential", "cpve-cancellation", "the CPVE is activated: the citizen has it",
                          RefusalKind.CONFLICT)
    ends = status.cpve_requested_at + timedelta(days=process.cpve_safekeeping_days)
    if cmd.at < ends:
        raise DomainError("at", "cpve-safekeeping",
                          f"the CPVE is kept until {ends.isoformat()} ({process.cpve_safekeeping_days} days)")
    _check_time(status, cmd.at)


@rule_for(ResendCredential)
def check_resend_credential(process: ElectoralProcess, status: JourneyStatus, cmd: ResendCredential) -> None:
    _check_cpve_not_activated(status, "cpve-resend", "sent again")
    _check_registration_open_for_journeys(process, cmd.at)
    _check_time(status, cmd.at)


@rule_for(FileRequest)
def check_file_request(process: ElectoralProcess, status: JourneyStatus, cmd: FileRequest) -> None:
    if status.stage is None:
        if cmd.credential is None:
            raise DomainError("credential", "credential-recorded",
                              "no credential is recorded: send it with the request")
        check_credential(process, cmd.credential)
        kind: CredentialKind | None = cmd.credential.kind
        activated = cmd.credential.activated_on is not None
        valid_until = cmd.credential.valid_until
    else:
        if status.stage is not Stage.CREDENTIAL_RECORDED:
            raise DomainError(
                "journey", "one-request-per-process",
                f"a request is already filed for this citizen in {process.name} "
                f"(journey {status.workflow_id}, stage {status.stage})",
            )
        if cmd.credential is not None:
            raise DomainError("credential", "one-credential", "a credential is already recorded for this journey")
        _check_not_cancelled(status)
        kind = status.credential_kind
        activated = status.credential_activated
        valid_until = None
    opens, closes = process.registration_window
    if not opens <= cmd.at <= closes:
        raise DomainError(
            "at", "registration-window",
            f"filed at {cmd.at.isoformat()}, outside the registration window "
            f"{opens.isoformat()} – {closes.isoformat()}",
        )
    if process.state(cmd.state_of_reference) is None:
        raise DomainError(
            "state_of_reference", "state-with-vmre",
            f"state {cmd.state_of_reference} has no vote from abroad in {process.name}",
        )
    if cmd.channel not in process.channels:
        raise DomainError("channel", "process-channel", f"{cmd.channel} is not a channel of {process.name}")
    if cmd.modality not in process.modalities:
        raise DomainError("modality", "process-modality", f"{cmd.modality} is not a voting modality of {process.name}")
    _check_voting_site(process, cmd)
    if cmd.channel is Channel.INETEL:
        if kind is not CredentialKind.CPVE:
            raise DomainError("channel", "inetel-needs-cpve", "a request by phone (INETEL) needs a CPVE, not a CPV")
        if not activated:
            raise DomainError("credential.activated_on", "inetel-needs-activated-cpve", "the CPVE is not activated")
    if valid_until is not None and valid_until < process.business_day(cmd.at):
        raise DomainError("credential.valid_until", "valid-credential", "the credential has expired")
    assert kind is not None
    _check_documents(process, cmd.documents or (), process.required_documents(kind.value, cmd.channel.value),
                     "documents")
    _check_time(status, cmd.at)


def _check_documents(process: ElectoralProcess, refs: tuple[DocumentRef, ...], required: tuple[str, ...],
                     field: str) -> None:
    """Each document of the process's catalogue, named once; every required kind present."""
    for ref in refs:
        if ref.kind not in process.documents:
            raise DomainError(field, "document-kind", f"{ref.kind} is not a document kind of {process.name}")
    if len({ref.id for ref in refs}) != len(refs):
        raise DomainError(field, "document-once", "a document is named twice")
    missing = [kind for kind in required if kind not in {ref.kind for ref in refs}]
    if missing:
        names = "; ".join(f"{kind} ({process.documents[kind].label})" for kind in missing)
        raise DomainError(field, "document-required", f"the request needs {names}")


def _check_voting_site(process: ElectoralProcess, cmd: FileRequest) -> None:
    """In person, a citizen votes at a consular site of the country where they live."""
    if cmd.modality != Modality.IN_PERSON:
        if cmd.voting_site is not None:
            raise DomainError("voting_site", "voting-site", "only in-person voting names a voting site")
        return
    site = process.voting_sites.get(cmd.voting_site or "")
    if site is None:
        raise DomainError("voting_site", "voting-site", f"in-person voting names a voting site of {process.name}")
    if site.country != cmd.country:
        raise DomainError("voting_site", "voting-site-country",
                          f"{cmd.voting_site} is not in the country of residence {cmd.country}")


@rule_for(DecideReview)
def check_decide_review(process: ElectoralProcess, status: JourneyStatus, cmd: DecideReview) -> None:
    if status.stage is None or status.stage is Stage.CREDENTIAL_RECORDED:
        raise DomainError("journey", "decision-needs-request", "no request is filed for this journey")
    _check_stage(status, {Stage.IN_REVIEW}, "a review decision")
    deadline = process.milestone_at(Milestone.ANALYSIS_DEADLINE)
    if cmd.at > deadline:
        raise DomainError("at", "analysis-period", f"the analysis period ended at {deadline.isoformat()}")
    if cmd.outcome == "meets_requirements":
        if cmd.reasons or cmd.concerning:
            raise DomainError("reasons", "reason-codes", "a request that meets the requirements takes no reason codes")
    else:
        catalogue = process.inconsistency_reasons if cmd.outcome == "inconsistencies" else process.rejection_reasons
        if not cmd.reasons:
            raise DomainError("reasons", "reason-codes", f"a decision of {cmd.outcome} needs at least one reason code")
        unknown = [r for r in cmd.reasons if r not in catalogue]
        if unknown:
            raise DomainError(
                "reasons", "reason-codes",
                f"unknown {cmd.outcome} reason code(s) {', '.join(unknown)}; known: {', '.join(sorted(catalogue))}",
            )
        if set(cmd.concerning or {}) - set(cmd.reasons):
            raise DomainError("concerning", "reason-document", "a document is named for a reason of the decision")
        if cmd.outcome == "inconsistencies":
            notice_deadline = process.milestone_at(Milestone.INCONSISTENCY_NOTICE_DEADLINE)
            if cmd.at > notice_deadline:
                raise DomainError(
                    "at", "inconsistency-notice-deadline",
                    f"inconsistencies can be notified until {notice_deadline.isoformat()}",
                )
    _check_time(status, cmd.at)


@rule_for(SendSubsaneDocuments)
def check_send_subsane_documents(process: ElectoralProcess, status: JourneyStatus, cmd: SendSubsaneDocuments) -> None:
    if status.analysis_status is not AnalysisStatus.INCONSISTENCIES or status.stage is not Stage.INCONSISTENCIES:
        raise DomainError("journey", "subsane-needs-inconsistencies", "the journey has no inconsistencies to correct")
    deadline = process.milestone_at(Milestone.ANALYSIS_DEADLINE)
    if cmd.at > deadline:
        raise DomainError("at", "subsane-deadline", f"the subsane deadline was {deadline.isoformat()}")
    files = cmd.files or ()
    _check_documents(process, files, (), "files")
    sent = {ref.kind for ref in files}
    for reason in status.reasons:
        correcting = process.subsane_documents(reason)
        if correcting and not sent & set(correcting):
            raise DomainError("files", "document-required",
                              f"{reason} is corrected with {' or '.join(correcting)}: send one")
    _check_time(status, cmd.at)


@rule_for(ReopenRejection)
def check_reopen_rejection(process: ElectoralProcess, status: JourneyStatus, cmd: ReopenRejection) -> None:
    _check_stage(status, {Stage.REJECTED}, "reopening")
    closes = process.clarification_closes_at
    if cmd.at > closes:
        raise DomainError("at", "clarification-window", f"the clarification window closed at {closes.isoformat()}")
    _check_time(status, cmd.at)


@rule_for(FileObservation)
def check_file_observation(process: ElectoralProcess, status: JourneyStatus, cmd: FileObservation) -> None:
    _check_stage(status, {Stage.LISTED_FOR_REVIEW}, "a party observation")
    opens = process.milestone_at(Milestone.LIST_FOR_REVIEW_ISSUED)
    closes = process.milestone_at(Milestone.OBSERVATIONS_CLOSED)
    if not opens <= cmd.at <= closes:
        raise DomainError(
            "at", "observation-window", f"observations are filed from {opens.isoformat()} to {closes.isoformat()}"
        )
    if (cmd.observation_id, cmd.party) in status.observation_parties:
        raise DomainError("observation_id", "unique-observation", f"observation {cmd.observation_id} is already filed")
    # Ordered after the journey's own facts, not after other parties' observations (which a
    # refusal would otherwise reveal): parties file independently.
    if status.settled_at is not None and cmd.at < status.settled_at:
        raise DomainError("at", "business-time-order", "an observation is dated after the list for review was issued")


@rule_for(ResolveObservation)
def check_resolve_observation(process: ElectoralProcess, status: JourneyStatus, cmd: ResolveObservation) -> None:
    _check_not_final(status)
    observation_party(status, cmd)
    _check_time(status, cmd.at)


def observation_party(status: JourneyStatus, cmd: ResolveObservation) -> str:
    """The party whose open observation a resolution names (the id, and the party when two
    parties filed that id)."""
    parties = [p for o, p in status.observation_parties if o == cmd.observation_id and cmd.party in (None, p)]
    if not parties:
        raise DomainError("observation_id", "open-observation", f"no open observation {cmd.observation_id}")
    if len(parties) > 1:
        raise DomainError("party", "observation-party",
                          f"{len(parties)} parties filed observation {cmd.observation_id}: name the party")
    return parties[0]


@rule_for(RecordRegistralCheck)
def check_registral_check(process: ElectoralProcess, status: JourneyStatus, cmd: RecordRegistralCheck) -> None:
    _check_stage(status, {Stage.LISTED_FOR_REVIEW}, "the final registral check")
    if cmd.result != "OK" and cmd.result not in process.exclusion_reasons:
        raise DomainError(
            "result", "reason-codes",
            f"unknown registral result {cmd.result}; known: OK, {', '.join(sorted(process.exclusion_reasons))}",
        )
    _check_time(status, cmd.at)


@rule_for(RecordDelivery)
def check_record_delivery(process: ElectoralProcess, status: JourneyStatus, cmd: RecordDelivery) -> None:
    _check_stage(status, {Stage.INCLUDED}, "a delivery")
    postal = cmd.status.startswith("postal_")
    if postal != (status.modality == "postal"):
        raise DomainError("status", "delivery-modality", f"{cmd.status} does not fit the modality {status.modality}")
    previous = status.delivery
    if cmd.status in (DeliveryStatus.POSTAL_SENT, DeliveryStatus.INTERNET_ACCESS_ISSUED) and previous is not None:
        raise DomainError("status", "delivery-order", f"already {previous}")
    if cmd.status in (DeliveryStatus.POSTAL_DELIVERED, DeliveryStatus.POSTAL_RETURNED) and (
            previous != DeliveryStatus.POSTAL_SENT):
        raise DomainError("status", "delivery-order", f"{cmd.status} needs the package sent, it is {previous}")
    _check_time(status, cmd.at)


@rule_for(ErasePersonalData)
def check_erase_personal_data(process: ElectoralProcess, status: JourneyStatus, cmd: ErasePersonalData) -> None:
    if not status.is_final:
        raise DomainError(
            "journey", "erasure-needs-ended-journey",
            f"personal data are kept while the journey is open ({status.stage})",
        )
    assert status.last_at is not None
    kept_until = status.last_at + timedelta(days=process.personal_data_retention_days)
    if cmd.at < kept_until:
        raise DomainError(
            "at", "retention-period",
            f"personal data are kept until {kept_until.isoformat()} "
            f"({process.personal_data_retention_days} days after the journey ended)",
        )


def milestone_outcome(status: JourneyStatus, milestone: Milestone) -> tuple[Stage, str | None] | None:
    """What a milestone does to a journey in its current stage: the new stage and a reason, or None."""
    stage = status.stage
    if stage is None or stage in FINAL_STAGES:
        return None
    if milestone is Milestone.REGISTRATION_CLOSED and stage is Stage.CREDENTIAL_RECORDED:
        return Stage.CLOSED_WITHOUT_REQUEST, None
    if milestone is Milestone.ANALYSIS_DEADLINE and stage is Stage.INCONSISTENCIES:
        return Stage.REJECTED, "SUBSANE_EXPIRED"
    if milestone is Milestone.LIST_FOR_REVIEW_ISSUED and stage is Stage.MEETS_REQUIREMENTS:
        return Stage.LISTED_FOR_REVIEW, None
    if milestone is Milestone.DEFINITIVE_LIST:
        if stage is Stage.LISTED_FOR_REVIEW:
            return Stage.INCLUDED, None
        return Stage.EXCLUDED, "NOT_MEETING_REQUIREMENTS"
    return None


def _stages_changed_by(milestone: Milestone) -> frozenset[Stage]:
    return frozenset(stage for stage in Stage if milestone_outcome(
        JourneyStatus(journey_id="", workflow_id="", process_id="", stage=stage), milestone) is not None)


# The stages each milestone can change (read from ``milestone_outcome``, its one home): the
# milestone's run pages only the journeys in these stages.
MILESTONE_STAGES: dict[Milestone, frozenset[Stage]] = {m: _stages_changed_by(m) for m in Milestone}


# The commands each milestone closes, once fired, whatever their business time: a late command
# would leave its journey outside the lists the calendar has already made.
# The rule that refuses a command whose door a milestone closed (which milestone closes which
# command is said in ``domain.commands.JOURNEY_COMMANDS``).
DOOR_RULES: dict[Milestone, str] = {
    Milestone.REGISTRATION_CLOSED: "registration-closed",
    Milestone.ANALYSIS_DEADLINE: "analysis-closed",
    Milestone.OBSERVATIONS_CLOSED: "observations-closed",
    Milestone.DEFINITIVE_LIST: "definitive-list-issued",
}


def check_doors(process: ElectoralProcess, fired: Callable[[Milestone], bool], command) -> None:
    """Refuses a command that a fired milestone closed (``fired`` tells whether one has)."""
    spec = JOURNEY_COMMANDS.get(command.kind)
    milestone = spec.closed_by if spec is not None else None
    if milestone is not None and fired(milestone):
        raise DomainError("process", DOOR_RULES[milestone], f"{milestone.value} has been issued for {process.name}: "
                                                           f"{command.kind} is no longer taken")


# Dates a credential may carry: none of them before this, nor decades after the election.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE_YEARS_AFTER_ELECTION = 30


def check_record_attention(process: ElectoralProcess, cmd: RecordAttention) -> None:
    """An attention's topic is one of the process's catalogue for its service."""
    if cmd.topic not in process.attention_topics.get(cmd.service, {}):
        raise DomainError("topic", "attention-topic",
                          f"{cmd.topic} is not an attention topic of {cmd.service.value} in {process.id}")


def check_business_time(process: ElectoralProcess, command) -> None:
    """Every command's business time, and every date it carries, lies inside the bounds the
    process states: a time out of range is refused here, never recorded (where it could stop a
    projection that counts by day)."""
    at = getattr(command, "at", None)
    if at is not None:
        _check_bounds(process, at, process.cpve_time_bound if command.kind in CPVE_CALENDAR else None)
    credential = getattr(command, "credential", None)
    if credential is None:
        return
    latest_date = process.election_day.replace(year=process.election_day.year + LATEST_DATE_YEARS_AFTER_ELECTION)
    for field, value in (("credential.holder.birth_date", credential.holder.birth_date),
                         ("credential.issued_on", credential.issued_on),
                         ("credential.valid_until", credential.valid_until),
                         ("credential.activated_on", credential.activated_on)):
        if value is not None and not EARLIEST_DATE <= value <= latest_date:
            raise DomainError(field, "date-bounds",
                              f"must lie between {EARLIEST_DATE.isoformat()} and {latest_date.isoformat()}")
    if credential.holder.birth_date > process.business_day(at) if at is not None else False:
        raise DomainError("credential.holder.birth_date", "date-bounds", "the birth date is after the command's time")


# Commands dated by the CPVE's own calendar (its safekeeping period), not the election's.
CPVE_CALENDAR = frozenset({CancelCpve.model_fields["kind"].default})


def _check_bounds(process: ElectoralProcess, at: datetime, latest_of_kind: datetime | None = None) -> None:
    earliest, latest = process.business_time_bounds
    latest = latest_of_kind or latest
    if not earliest <= at <= latest:
        raise DomainError("at", "business-time-bounds",
                          f"business time must lie between {earliest.isoformat()} and {latest.isoformat()} "
                          f"for {process.name}")


def check_time_of_act(process: ElectoralProcess, at: datetime, now: datetime) -> None:
    """The business time of an act that is not a journey's command (a campaign built, the next
    call taken): inside the process's bounds and, live, not ahead of the clock."""
    _check_bounds(process, at)
    _check_clock(process, at, now)


def check_not_ahead_of_clock(process: ElectoralProcess, command, now: datetime) -> None:
    """In live mode a command happened already: its business time is not later than the clock
    (``now``) plus the process's stated skew. Replayed processes record the past."""
    at = getattr(command, "at", None)
    if at is not None:
        _check_clock(process, at, now)


def _check_clock(process: ElectoralProcess, at: datetime, now: datetime) -> None:
    if process.milestone_mode == "live" and at > now + timedelta(seconds=process.clock_skew_seconds):
        raise DomainError("at", "business-time-future",
                          f"a business time later than now (+{process.clock_skew_seconds} s) is not taken "
                          f"in {process.name}")


def check(process: ElectoralProcess, status: JourneyStatus, command) -> None:
    check_business_time(process, command)
    CHECKS[command.kind](process, status, command)
