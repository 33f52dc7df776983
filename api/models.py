"""Bodies and answers of the HTTP API.

Command bodies are built from the commands' declarations (``domain.commands.JOURNEY_COMMANDS``),
so a field's type and limits are declared once: the body is the command without the fields the
API fills in itself (``kind``, and who acts — ``recorded_by`` and the command's acting fields,
which come from the token).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, model_validator

from lnere.domain.commands import JOURNEY_COMMANDS, Command, CommandSpec, RecordAttention
from lnere.domain.rules import JourneyStatus
from lnere.domain.values import Clave, Credential


def validation_answer(error: Any) -> dict[str, Any]:
    """A 422's body: one message per field, never the input (it may be personal data, a token)."""
    return {"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]}


def body_of(spec: CommandSpec, omit: frozenset[str] = frozenset()) -> type[BaseModel]:
    """A command's body over HTTP: its model's fields but its kind and who sends it (its acting
    fields and ``recorded_by``: they come from the caller's token, never from the body)."""
    return _body(spec.model, frozenset({*spec.acting, *omit}))


def _body(model: type[Command], omit: frozenset[str] = frozenset()) -> type[BaseModel]:
    filled = {"kind", "recorded_by", *omit}
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in model.model_fields.items() if name not in filled
    }
    description = (model.__doc__ or "").strip()
    return create_model(
        f"{model.__name__}Body",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"description": description}),
        **fields,
    )


if TYPE_CHECKING:  # built below, at import; to the type checker, models
    BODIES: dict[str, type[BaseModel]]
    CredentialBody = BaseModel
    ObservationBody = BaseModel
    ResolutionBody = BaseModel
    _RequestFields = BaseModel
    _AttentionFields = BaseModel
else:
    BODIES = {kind: body_of(spec) for kind, spec in JOURNEY_COMMANDS.items()}
    CredentialBody = BODIES["record_credential"]
    ObservationBody = BODIES["file_observation"]
    # Its observation is named by the route's path.
    ResolutionBody = body_of(JOURNEY_COMMANDS["resolve_observation"], omit=frozenset({"observation_id"}))
    _RequestFields = BODIES["file_request"]
    _AttentionFields = _body(RecordAttention)


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


class AttentionBody(_AttentionFields):
    """A citizen's contact with INETEL. ``clave`` names the citizen, when known; give
    ``command_id`` (the call centre's ticket, say): two contacts alike in every field are one."""

    model_config = ConfigDict(extra="forbid")

    clave: Clave | None = None


class AttentionAnswer(BaseModel):
    command_id: str
    already_recorded: bool


class MilestoneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = Field(default=None, description="business time it fires (default: its configured date)")


class JourneyAnswer(BaseModel):
    journey: str = Field(description="the journey's id (a hash: it names no citizen)")
    status: JourneyStatus
    folio: str | None = Field(default=None, description="the request's folio, which the citizen is told and gives "
                                                        "back to check its status at /consulta")


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
    state: str | None = None  # a state electoral body's member: their state

