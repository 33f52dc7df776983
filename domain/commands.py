"""Commands: what users ask of a journey. Each carries the business time it happened."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from lnere.domain.identity import JOURNEY_ID_PATTERN
from lnere.domain.process import (
    AttentionChannel,
    AttentionOrigin,
    AttentionService,
    Channel,
    Milestone,
    Modality,
)
from lnere.domain.roles import Role
from lnere.domain.values import AddressAbroad, Clave, Contact, CountryCode, Credential

StaffId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^\S(.*\S)?$")]
Code = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Z0-9_]+$")]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    if TYPE_CHECKING:
        kind: str  # every command names its kind (a Literal field of its own)

    at: AwareDatetime = Field(description="business time the command happened")
    command_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="idempotency key; derived from the command's content when absent",
    )
    recorded_by: StaffId | None = Field(
        default=None, description="the staff member who recorded the command (set by the HTTP API from the token)"
    )

    # Fields added after commands of this kind were first recorded: left out of the id while
    # unset, so a command recorded before they existed keeps its id.
    added_fields: ClassVar[frozenset[str]] = frozenset()

    def effective_id(self) -> str:
        """A stable id: the same command sent twice is recognised as one. Who sent it is not
        part of it: the same fact recorded by two staff members is one fact. A given
        ``command_id`` carries the digest of the content it names (``id#digest``), so the same
        id sent with other content is another command, refused as a reused id, never taken
        for the first (nor deduplicated by Temporal as the same Update)."""
        unset = {name for name in self.added_fields if getattr(self, name) is None}
        body = self.model_dump_json(exclude={"command_id", "recorded_by", *unset})
        digest = hashlib.sha256(body.encode()).hexdigest()
        if self.command_id:
            return f"{self.command_id}#{digest[:16]}"
        return f"{self.kind}:{digest[:32]}"


def seen(processed: set[str] | frozenset[str], command_id: str) -> bool:
    """Whether a command id is among those processed: exactly, or recorded before ids carried
    their content's digest, or looked up by the id as given (a call naming its request)."""
    if command_id in processed:
        return True
    given, digested, _ = command_id.partition("#")
    if digested:
        return given in processed
    return any(p.startswith(command_id + "#") for p in processed)


def reused(processed: set[str] | frozenset[str], command_id: str) -> bool:
    """Whether the id given with this command already names another command."""
    given, digested, _ = command_id.partition("#")
    return bool(digested) and command_id not in processed and given not in processed and any(
        p.startswith(given + "#") for p in processed)


class DocumentRef(BaseModel):
    """A document of the request's expediente as commands and workflows carry it: its id, its
    kind and its keyed digest, never its bytes (they stay sealed in the document store)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[0-9a-f]{32}$", description="the document's id, as its upload answered")
    kind: Code = Field(description="a document kind of the process's catalogue")
    digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="its keyed digest, as its upload answered")


DocumentRefs = Annotated[tuple[DocumentRef, ...], Field(max_length=20)]


class RecordCredential(Command):
    """A credential: a CPVE issued abroad, or a CPV issued in Mexico. Starts the citizen's journey."""

    kind: Literal["record_credential"] = "record_credential"
    credential: Credential


class ActivateCredential(Command):
    """The CPVE's activation: the citizen confirmed receiving it."""

    kind: Literal["activate_credential"] = "activate_credential"


class CpveStep(StrEnum):
    """The CPVE's life, in order: requested at an embassy or consulate, produced, shipped,
    delivered to the citizen, activated (receipt confirmed); or cancelled when not collected
    within its safekeeping period."""

    REQUESTED = "requested"
    PRODUCED = "produced"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    ACTIVATED = "activated"
    CANCELLED = "cancelled"


class RequestCpve(Command):
    """A CPVE requested at an embassy or consulate: the credential INE is to produce (not yet
    activated), the office and the citizen's state of reference. Starts the citizen's journey."""

    kind: Literal["request_cpve"] = "request_cpve"
    credential: Credential
    office: Code = Field(description="the embassy or consulate: a code of the process's catalogue")
    state_of_reference: str = Field(pattern=r"^\d{2}$", description="INEGI code of the citizen's state")


class RecordCpveStep(Command):
    """A step of the CPVE's production and delivery, in their order: produced, shipped,
    delivered to the citizen (who then activates it)."""

    kind: Literal["record_cpve_step"] = "record_cpve_step"
    step: Literal["produced", "shipped", "delivered"] = Field(description="where the CPVE now is")


class CancelCpve(Command):
    """A CPVE not collected within its safekeeping period, cancelled ("baja por cancelación"):
    it can no longer be activated nor used to register."""

    kind: Literal["cancel_cpve"] = "cancel_cpve"


class ResendCredential(Command):
    """The CPVE sent to the citizen again at their request (it did not arrive, or came back),
    until it is activated."""

    kind: Literal["resend_credential"] = "resend_credential"
    reason: Literal["not_received", "returned", "damaged"] = Field(description="why it is sent again")


class FileRequest(Command):
    """A registration request (SIILNERE): by phone (INETEL) or on the web (SRVE). ``at`` is when
    it was filed."""

    kind: Literal["file_request"] = "file_request"
    channel: Channel
    state_of_reference: str = Field(pattern=r"^\d{2}$")
    country: CountryCode
    address: AddressAbroad
    contact: Contact
    modality: Modality
    credential: Credential | None = Field(
        default=None, description="the credential, when it was not recorded before"
    )
    voting_site: Code | None = Field(default=None, description="in-person voting: the consular site, a code of "
                                     "the process's voting_sites in the country of residence")
    documents: DocumentRefs | None = Field(default=None, description="the expediente's documents, uploaded "
                                           "first (their ids and digests)")

    added_fields: ClassVar[frozenset[str]] = frozenset({"voting_site", "documents"})


class DecideReview(Command):
    """A review decision by the registry's staff (DERFE). Two decisions at once: one is
    recorded, the other refused."""

    kind: Literal["decide_review"] = "decide_review"
    reviewer: StaffId
    outcome: Literal["meets_requirements", "inconsistencies", "rejected"] = Field(description="the decision")
    reasons: tuple[Code, ...] = Field(default=(), description="reason codes of the process's catalogue")
    notes: str | None = Field(default=None, max_length=2000, description="the reviewer's notes")
    concerning: dict[Code, Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]] | None = Field(
        default=None, max_length=20, description="a reason's document: reason code -> the id of the document of the "
                                                 "expediente it concerns")

    added_fields: ClassVar[frozenset[str]] = frozenset({"concerning"})


class SendSubsaneDocuments(Command):
    """The documents the citizen sent to correct the inconsistencies (subsane)."""

    kind: Literal["send_subsane_documents"] = "send_subsane_documents"
    documents: tuple[Code, ...] = Field(min_length=1, description="document codes of the process's catalogue")
    files: DocumentRefs | None = Field(default=None, description="the documents themselves, uploaded first (their "
                                       "ids and digests)")

    added_fields: ClassVar[frozenset[str]] = frozenset({"files"})


class ReopenRejection(Command):
    """A rejected request reopened after the citizen's clarification."""

    kind: Literal["reopen_rejection"] = "reopen_rejection"
    staff: StaffId
    clarification: str = Field(min_length=1, max_length=2000, description="what the citizen clarified")


class FileObservation(Command):
    """A party's observation on a citizen of the list for review, inside the observation window."""

    kind: Literal["file_observation"] = "file_observation"
    observation_id: Code = Field(description="the party's id for the observation, e.g. PAN_0001")
    party: Code
    representative: StaffId
    reason: str = Field(min_length=1, max_length=2000, description="why the citizen should not be on the list")


class ResolveObservation(Command):
    """The registry's resolution of a party's observation: upheld excludes the citizen with the
    reason; dismissed, the citizen stays."""

    kind: Literal["resolve_observation"] = "resolve_observation"
    observation_id: Code = Field(description="the observation resolved")
    party: Code | None = Field(default=None, description="the party that filed it: needed when two parties "
                               "filed observations with this id on the citizen (a party's ids are its own)")
    resolver: StaffId
    upheld: bool = Field(description="whether the observation is upheld")
    reason: str = Field(min_length=1, max_length=2000, description="the grounds of the resolution")

    added_fields: ClassVar[frozenset[str]] = frozenset({"party"})


class RecordRegistralCheck(Command):
    """The final registral check of a citizen on the list (DERFE's registry, before the
    definitive list)."""

    kind: Literal["record_registral_check"] = "record_registral_check"
    result: Code = Field(description="OK, or an exclusion reason code of the process")
    source: str = Field(min_length=1, max_length=200, description="where the result comes from, e.g. DERFE")


class DeliveryStatus(StrEnum):
    POSTAL_SENT = "postal_sent"
    POSTAL_DELIVERED = "postal_delivered"
    POSTAL_RETURNED = "postal_returned"
    INTERNET_ACCESS_ISSUED = "internet_access_issued"


class RecordDelivery(Command):
    """After the definitive list: the postal package (sent, delivered, returned) or the
    internet-voting access (issued), as the carrier or the voting system reports it."""

    kind: Literal["record_delivery"] = "record_delivery"
    status: DeliveryStatus = Field(description="what the carrier or the voting system reports")
    reference: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$",
                           description="the carrier's tracking number or the voting system's access id")


class ErasePersonalData(Command):
    """Crypto-shredding of an ended journey's personal data (after the retention period)."""

    kind: Literal["erase_personal_data"] = "erase_personal_data"
    staff: StaffId
    reason: str = Field(min_length=1, max_length=2000, description="why (e.g. the retention period ended)")


# The outcomes of INETEL's outbound calls, as report table 4.2.1 counts them.
class CallOutcome(StrEnum):
    REGISTERED = "registered"
    INFORMED = "informed"
    NO_INTENTION_TO_VOTE = "no_intention_to_vote"
    VOICEMAIL_OR_THIRD_PARTY = "voicemail_or_third_party"
    NO_ANSWER = "no_answer"
    WILL_CALL_BACK = "will_call_back"
    CITIZEN_DECEASED = "citizen_deceased"


class RecordOutboundCall(Command):
    """An outbound call of the call centre (INETEL) to a citizen with a CPVE. A call that
    registered the citizen names the request it produced."""

    kind: Literal["record_outbound_call"] = "record_outbound_call"
    campaign: Code
    outcome: CallOutcome
    request_command_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="the file_request it produced (outcome registered)"
    )

    @model_validator(mode="after")
    def _registered_links_its_request(self) -> RecordOutboundCall:
        if (self.outcome is CallOutcome.REGISTERED) != (self.request_command_id is not None):
            raise ValueError("request_command_id: a registered call names its request; other outcomes name none")
        return self


class SendAutomatedNotice(Command):
    """An automated notice (e-mail or automated call) of an outreach campaign."""

    kind: Literal["send_automated_notice"] = "send_automated_notice"
    campaign: Code
    channel: Literal["email", "automated_call"]


class RecordAttention(Command):
    """A citizen's contact with INETEL (inbound: a call, a voicemail, an e-mail, a message on
    social media), counted in report section 4.2 by service and topic, channel and origin. It
    may name the citizen (clave or journey), or nobody."""

    kind: Literal["record_attention"] = "record_attention"
    service: AttentionService
    topic: Code = Field(description="a topic code of the process's catalogue for the service")
    channel: AttentionChannel
    origin: AttentionOrigin = Field(description="where the citizen is")


OutreachCommand = Annotated[RecordOutboundCall | SendAutomatedNotice | RecordAttention, Field(discriminator="kind")]
ANONYMOUS_KINDS = frozenset({"record_attention"})  # outreach that may name no citizen


class ApplyMilestone(Command):
    kind: Literal["apply_milestone"] = "apply_milestone"
    milestone: Milestone


@dataclass(frozen=True)
class CommandSpec:
    """What the layers need to know of a kind of command a user sends to a journey, said once:
    the workflow's Update and its validator, the activity, the registry, the gateway, the HTTP
    routes and the CLI subcommands are derived from this table; the rule is ``domain.rules``'
    check for the model, the effect the ``Journey`` method named like the kind."""

    model: type[Command]
    senders: tuple[Role, ...]  # who may send it (a supervisor may send any)
    acting: tuple[str, ...] = ()  # fields naming who sends it (the last: the person), filled in from them
    seals: bool = False  # carries personal data that the citizen's vault seals
    starts: Callable[[Any], bool] = lambda command: False  # may start a journey that does not exist yet
    closed_by: Milestone | None = None  # once this milestone has fired, the command is refused
    erases: bool = False  # deletes the citizen's key once recorded (crypto-shredding)
    documents: str | None = None  # the field that names its documents by reference (``DocumentRefs``)

    @property
    def kind(self) -> str:
        return self.model.model_fields["kind"].default


JOURNEY_COMMANDS: dict[str, CommandSpec] = {spec.kind: spec for spec in (
    CommandSpec(RecordCredential, (Role.OPERATOR,), seals=True, starts=lambda command: True,
                closed_by=Milestone.REGISTRATION_CLOSED),
    CommandSpec(RequestCpve, (Role.OPERATOR,), seals=True, starts=lambda command: True),
    CommandSpec(RecordCpveStep, (Role.OPERATOR,)),
    CommandSpec(CancelCpve, (Role.SUPERVISOR,)),
    CommandSpec(ActivateCredential, (Role.OPERATOR,), closed_by=Milestone.REGISTRATION_CLOSED),
    CommandSpec(ResendCredential, (Role.OPERATOR,), closed_by=Milestone.REGISTRATION_CLOSED),
    CommandSpec(FileRequest, (Role.OPERATOR,), seals=True, starts=lambda command: command.credential is not None,
                closed_by=Milestone.REGISTRATION_CLOSED, documents="documents"),
    CommandSpec(DecideReview, (Role.REVIEWER,), ("reviewer",), closed_by=Milestone.ANALYSIS_DEADLINE),
    CommandSpec(SendSubsaneDocuments, (Role.OPERATOR,), closed_by=Milestone.ANALYSIS_DEADLINE, documents="files"),
    CommandSpec(ReopenRejection, (Role.REVIEWER,), ("staff",), closed_by=Milestone.ANALYSIS_DEADLINE),
    CommandSpec(FileObservation, (Role.PARTY,), ("party", "representative"), closed_by=Milestone.OBSERVATIONS_CLOSED),
    CommandSpec(ResolveObservation, (Role.REVIEWER,), ("resolver",), closed_by=Milestone.DEFINITIVE_LIST),
    CommandSpec(RecordRegistralCheck, (Role.SUPERVISOR,), closed_by=Milestone.DEFINITIVE_LIST),
    CommandSpec(RecordDelivery, (Role.OPERATOR,)),
    CommandSpec(ErasePersonalData, (Role.SUPERVISOR,), ("staff",), erases=True),
)}
_USER_COMMANDS = tuple(spec.model for spec in JOURNEY_COMMANDS.values())

if TYPE_CHECKING:  # a type checker cannot read a Union built from the table
    JourneyCommand = Command
    RecordedCommand = Command
else:
    # What users send to a journey.
    JourneyCommand = Annotated[Union[_USER_COMMANDS], Field(discriminator="kind")]  # noqa: UP007 - over a tuple
    # What a journey records: users' commands and the calendar's milestones.
    RecordedCommand = Annotated[Union[(*_USER_COMMANDS, ApplyMilestone)], Field(discriminator="kind")]


def spec_of(command: Command) -> CommandSpec | None:
    """A user's command's declaration (None for a command no user sends: a milestone)."""
    return JOURNEY_COMMANDS.get(command.kind)


class FireMilestone(BaseModel):
    """Fire a calendar milestone of a process (replay mode, or an admin firing it early)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["fire_milestone"] = "fire_milestone"
    milestone: Milestone
    at: AwareDatetime | None = Field(default=None, description="defaults to the configured date")
    recorded_by: StaffId | None = Field(default=None, description="the administrator who fired it")


class CommandEnvelope(BaseModel):
    """A command addressed to one journey: by the citizen's clave, or by journey id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    process: str = Field(min_length=1, max_length=60)
    clave: Clave | None = None
    journey: str | None = Field(default=None, pattern=JOURNEY_ID_PATTERN)
    command: JourneyCommand

    @model_validator(mode="after")
    def _addressed_once(self) -> CommandEnvelope:
        return _addressed_once(self)


class OutreachEnvelope(BaseModel):
    """An outreach contact with a citizen, addressed like a journey command (the citizen may
    never file a request)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    process: str = Field(min_length=1, max_length=60)
    clave: Clave | None = None
    journey: str | None = Field(default=None, pattern=JOURNEY_ID_PATTERN)
    command: OutreachCommand

    @model_validator(mode="after")
    def _addressed_once(self) -> OutreachEnvelope:
        if self.command.kind in ANONYMOUS_KINDS and self.clave is None and self.journey is None:
            return self
        return _addressed_once(self)


def _addressed_once(self):
    """A citizen is named once: by clave or by journey id (and a credential sent along agrees)."""
    if (self.clave is None) == (self.journey is None):
        raise ValueError("give exactly one of clave or journey")
    credential = getattr(self.command, "credential", None)
    if credential is not None and self.journey is not None:
        # The journey id is the clave's keyed hash: a credential sent to another id would start
        # a second journey for the same citizen.
        raise ValueError("journey: a command that carries a credential is addressed by its clave, not by journey id")
    if credential is not None and self.clave is not None and credential.clave != self.clave:
        raise ValueError("clave: differs from command.credential.clave")
    return self
