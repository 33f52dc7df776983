"""Bodies and answers of the HTTP API.

Command bodies are built from the domain's command models, so a field's type and limits are
declared once: the body is the command without the fields the API fills in itself (``kind``,
and who acts — ``recorded_by``, the reviewer, the staff member — which come from the token).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, model_validator

from domain.commands import (
    ActivateCredential,
    Command,
    DecideReview,
    FileObservation,
    FileRequest,
    RecordCredential,
    RecordDelivery,
    ReopenRejection,
    ResolveObservation,
    SendSubsaneDocuments,
)
from domain.rules import JourneyStatus
from domain.values import Clave, Credential

FILLED_BY_API = frozenset({"kind", "recorded_by", "reviewer", "staff", "party", "representative", "resolver"})


def body_of(command: type[Command], description: str, omit: frozenset[str] = frozenset()) -> type[BaseModel]:
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in command.model_fields.items()
        if name not in FILLED_BY_API | omit
    }
    return create_model(
        f"{command.__name__}Body",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"description": description}),
        **fields,
    )


if TYPE_CHECKING:  # built below, at import; to the type checker, models
    CredentialBody = BaseModel
    ActivationBody = BaseModel
    ReviewBody = BaseModel
    SubsaneBody = BaseModel
    ReopenBody = BaseModel
    ObservationBody = BaseModel
    ResolutionBody = BaseModel
    DeliveryBody = BaseModel
    _RequestFields = BaseModel
else:
    CredentialBody = body_of(RecordCredential, "A credential (CPVE issued abroad, or a CPV issued in Mexico).")
    ActivationBody = body_of(ActivateCredential, "The citizen activated the CPVE.")
    ReviewBody = body_of(DecideReview, "A review decision; the reviewer is the caller.")
    SubsaneBody = body_of(SendSubsaneDocuments, "Documents the citizen sent to correct inconsistencies.")
    ReopenBody = body_of(ReopenRejection, "A rejected request reopened after the citizen's clarification.")
    ObservationBody = body_of(FileObservation, "A party's observation on a citizen of the list for review.")
    ResolutionBody = body_of(ResolveObservation, "The registry's resolution of an observation: upheld excludes the "
                             "citizen with the reason.", omit=frozenset({"observation_id"}))
    DeliveryBody = body_of(RecordDelivery, "News of the postal package or the internet access of an included citizen.")
    _RequestFields = body_of(FileRequest, "")


class RequestBody(_RequestFields):
    """A registration request (SIILNERE). The citizen is named by ``clave``, or by the
    ``credential`` sent with the request when none was recorded before."""

    model_config = ConfigDict(extra="forbid")

    clave: Clave | None = None
    if TYPE_CHECKING:  # a field of FileRequest's
        credential: Credential | None

    @model_validator(mode="after")
    def _citizen_named(self) -> RequestBody:
        credential = self.credential
        if self.clave is None and credential is None:
            raise ValueError("give clave, or the credential with the request")
        if self.clave is not None and credential is not None and credential.clave != self.clave:
            raise ValueError("clave: differs from credential.clave")
        return self

    def citizen_clave(self) -> str:
        if self.clave is not None:
            return self.clave
        assert self.credential is not None  # _citizen_named
        return self.credential.clave


class MilestoneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = Field(default=None, description="business time it fires (default: its configured date)")


class JourneyAnswer(BaseModel):
    journey: str = Field(description="the journey's id (a hash: it names no citizen)")
    status: JourneyStatus


class InboxItem(BaseModel):
    journey: str
    in_review_since: str
    re_review: bool
    state_of_reference: str
    country: str
    modality: str
    channel: str
    credential_kind: str


class InboxPage(BaseModel):
    items: list[InboxItem]
    next_cursor: str | None = Field(description="pass as `after` for the next page; null on the last")


class RefusalAnswer(BaseModel):
    """A command refused by the journey's or the process's state (409), or for want of a
    journey or process (404), or of the engine (503)."""

    detail: str
    field: str
    rule: str
    kind: str


class Me(BaseModel):
    staff: str
    role: str

