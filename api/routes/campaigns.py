"""INETEL's outbound call campaigns as work: a supervisor builds one from the registry, operators
take the next citizen and record each call's outcome (table 4.2.1's seven), with progress."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from lnere import logs
from lnere.api.access import StaffDep, roles
from lnere.api.services import PREFIX, ServicesDep
from lnere.application import campaigns
from lnere.domain.campaigns import Campaign
from lnere.domain.commands import CallOutcome, Code
from lnere.domain.process import Channel, ElectoralProcess, Modality
from lnere.domain.refusals import Refused
from lnere.domain.roles import Role
from lnere.domain.rules import DomainError
from lnere.domain.values import AddressAbroad, Clave, Contact, CountryCode, PlainText

log = logs.get_logger("lnere.api")
router = APIRouter()
JOURNEY = PathParam(pattern=r"^journey-[a-z0-9-]+-[0-9a-f]{32}$", description="the citizen's journey id")


class CampaignBody(BaseModel):
    """A campaign built from the registry: CPVE holders with an activated credential and no
    request (of some states, or all), or an addendum of citizens named by clave."""

    model_config = ConfigDict(extra="forbid")

    code: Code = Field(description="the campaign's code, e.g. CPVE-2020-11")
    name: PlainText = Field(min_length=1, max_length=200, description="what people call it (plain text)")
    at: AwareDatetime = Field(description="business time it is built")
    source: Literal["cpve_without_request", "addendum"]
    states: list[Annotated[str, Field(pattern=r"^\d{2}$")]] = Field(default=[], max_length=32,
                                                                   description="cpve_without_request: of these states")
    claves: list[Clave] = Field(default=[], max_length=100_000, description="addendum: the citizens' claves")
    list_size: int = Field(default=200, ge=1, le=5000, description="citizens per call list")

    @model_validator(mode="after")
    def _source_and_its_fields(self) -> CampaignBody:
        if (self.source == "addendum") != bool(self.claves):
            raise ValueError("claves: an addendum names its citizens, and only an addendum does")
        return self


class NextBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime = Field(description="business time the call starts")


class CallRequest(BaseModel):
    """The request a *Registrado* call files (the citizen's credential is the journey's)."""

    model_config = ConfigDict(extra="forbid")
    channel: Channel = Channel.INETEL
    state_of_reference: str = Field(pattern=r"^\d{2}$")
    country: CountryCode
    address: AddressAbroad
    contact: Contact
    modality: Modality
    voting_site: Code | None = None


class OutcomeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime = Field(description="business time of the call's end")
    outcome: CallOutcome
    request: CallRequest | None = Field(default=None, description="outcome registered: the request it files")


def _campaign(state: Any, process: ElectoralProcess, code: str) -> Campaign:
    found = state.registry.campaign(process.id, code)
    if found is None:
        raise HTTPException(404, f"campaign: no campaign {code!r} in {process.id}")
    return found


@router.post(f"{PREFIX}/processes/{{process}}/campaigns", openapi_extra=roles(), tags=["campaigns"])
async def build_campaign(state: ServicesDep, staff: StaffDep, process: str, body: CampaignBody) -> dict[str, Any]:
    """Builds a campaign and its call lists (a code names one campaign: 409 if it exists)."""
    found = state.process(process)
    if body.source == "addendum":
        chosen, left_out = await asyncio.to_thread(campaigns.addendum, state.registry, found,
                                                   state.settings.journey_key_bytes, body.claves)
        source: dict[str, Any] = {"kind": "addendum", "claves": len(body.claves), "left_out": left_out}
    else:
        chosen = await asyncio.to_thread(campaigns.cpve_holders_without_request, state.registry, state.view, found,
                                         body.states or None)
        source = {"kind": "cpve_without_request", "states": body.states}
    try:
        built = await asyncio.to_thread(state.registry.build_campaign, found, body.code, body.name, source, body.at,
                                        staff.id, chosen, body.list_size)
    except DomainError as error:
        raise Refused(error.refusal) from None
    log.info("campaign built", staff=staff.id, process_id=found.id, campaign=body.code, citizens=len(chosen))
    return await asyncio.to_thread(campaigns.progress, state.registry, built)


@router.get(f"{PREFIX}/processes/{{process}}/campaigns/{{code}}", openapi_extra=roles(Role.OPERATOR),
            tags=["campaigns"])
async def campaign_progress(state: ServicesDep, process: str, code: str) -> dict[str, Any]:
    """A campaign and its progress: citizens, called, reached, registered, pending."""
    found = state.process(process)
    return await asyncio.to_thread(campaigns.progress, state.registry, _campaign(state, found, code))


@router.post(f"{PREFIX}/processes/{{process}}/campaigns/{{code}}/next", openapi_extra=roles(Role.OPERATOR),
             tags=["campaigns"], responses={204: {"description": "nobody left to call on the operator's lists"}})
async def next_call(state: ServicesDep, staff: StaffDep, process: str, code: str, body: NextBody) -> Any:
    """The operator's next citizen (their call in progress, if any): on the list they work, or
    a list nobody works, taken for them. The citizen's data to place the call (a read of
    personal data, recorded: ``GET /journeys/{journey}/reads``)."""
    found = state.process(process)
    campaign = _campaign(state, found, code)
    try:
        taken = await asyncio.to_thread(state.registry.next_call, found, campaign, staff.id,
                                        body.at)
    except DomainError as error:
        raise Refused(error.refusal) from None
    if taken is None:
        return Response(status_code=204)
    call_list, journey = taken
    personal = await asyncio.to_thread(state.registry.personal_data, journey)
    await asyncio.to_thread(state.documents.record_read, journey, staff.id, staff.role.value, "personal_data", None)
    log.info("citizen to call", staff=staff.id, campaign=code, journey=journey, list=call_list.number)
    holder = (personal or {}).get("credential", {}).get("holder", {})
    return {"journey": journey, "list": call_list.number, "holder": holder, "contact": (personal or {}).get("contact")}


@router.post(f"{PREFIX}/processes/{{process}}/campaigns/{{code}}/calls/{{journey}}",
             openapi_extra=roles(Role.OPERATOR), tags=["campaigns"])
async def record_call(state: ServicesDep, staff: StaffDep, process: str, code: str,
                      journey: Annotated[str, JOURNEY], body: OutcomeBody) -> dict[str, Any]:
    """The outcome of the call the operator is making to this citizen: counted in table 4.2.1;
    *Registrado* files the request in the same step. A citizen the operator is not calling
    now, or a call already ended: refused, nothing recorded."""
    found = state.process(process)
    campaign = _campaign(state, found, code)
    request = body.request.model_dump(mode="json", exclude_none=True) if body.request else None
    return await campaigns.record_call(state.journeys, state.registry, found, campaign, journey, staff.id, body.at,
                                       body.outcome, request)
