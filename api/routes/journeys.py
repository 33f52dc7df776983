"""Journeys: reading one, and the commands sent to it."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder

import logs
from api.access import StaffDep, roles
from api.models import (
    ActivationBody,
    CredentialBody,
    DeliveryBody,
    JourneyAnswer,
    ObservationBody,
    RefusalAnswer,
    ReopenBody,
    RequestBody,
    ResolutionBody,
    ReviewBody,
    SubsaneBody,
)
from api.services import PREFIX, JourneyId, ServicesDep, existing, send, to_journey
from application.staff import Role
from domain.commands import (
    ActivateCredential,
    Command,
    CommandEnvelope,
    DecideReview,
    FileObservation,
    FileRequest,
    RecordCredential,
    RecordDelivery,
    ReopenRejection,
    ResolveObservation,
    SendSubsaneDocuments,
)
from store.registry import event_rows

log = logs.get_logger("lnere.api")
router = APIRouter()


# -- journeys: reading --------------------------------------------------------------------------

@router.get(f"{PREFIX}/journeys/{{journey}}", response_model=JourneyAnswer,
            openapi_extra=roles(Role.OPERATOR, Role.REVIEWER), tags=["journeys"])
async def journey_status(state: ServicesDep, journey: JourneyId) -> JourneyAnswer:
    _, status = await existing(state, journey)
    return JourneyAnswer(journey=journey, status=status)


@router.get(f"{PREFIX}/journeys/{{journey}}/history", openapi_extra=roles(Role.REVIEWER), tags=["journeys"])
async def journey_history(state: ServicesDep, journey: JourneyId) -> dict[str, Any]:
    """The journey's events (personal data stay sealed: see personal-data)."""
    events = await asyncio.to_thread(state.registry.history, journey)
    if not events:
        raise HTTPException(404, "journey: no such journey")
    return {"journey": journey, "events": jsonable_encoder(event_rows(events))}


@router.get(f"{PREFIX}/journeys/{{journey}}/personal-data", openapi_extra=roles(Role.REVIEWER), tags=["journeys"])
async def personal_data(state: ServicesDep, staff: StaffDep, journey: JourneyId) -> dict[str, Any]:
    """The citizen's credential, address and contact, for the review. Every read is logged
    (who and which journey, not the data)."""
    await existing(state, journey)
    data = await asyncio.to_thread(state.registry.personal_data, journey)
    log.info("personal data read", staff=staff.id, journey=journey, erased=data is None)
    return {"journey": journey, "erased": data is None, "personal_data": data}


# -- journeys: commands ---------------------------------------------------------------------------

@router.post(f"{PREFIX}/processes/{{process}}/credentials", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["journeys"])
async def record_credential(state: ServicesDep, staff: StaffDep, process: str,
                            body: CredentialBody) -> JourneyAnswer:
    """Records a citizen's credential; starts the citizen's journey."""
    command = RecordCredential(**dict(body), recorded_by=staff.id)
    return await send(state, CommandEnvelope(process=state.process(process).id, clave=command.credential.clave,
                                             command=command))


@router.post(f"{PREFIX}/processes/{{process}}/requests", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["journeys"])
async def file_request(state: ServicesDep, staff: StaffDep, process: str, body: RequestBody) -> JourneyAnswer:
    """Files a registration request (SIILNERE): by phone (INETEL) or on the web (SRVE)."""
    fields = {k: v for k, v in dict(body).items() if k != "clave"}
    command = FileRequest(**fields, recorded_by=staff.id)
    return await send(state, CommandEnvelope(process=state.process(process).id, clave=body.citizen_clave(),
                                             command=command))






@router.post(f"{PREFIX}/journeys/{{journey}}/observations", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.PARTY), tags=["final list"])
async def file_observation(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                           body: ObservationBody) -> JourneyAnswer:
    """A party's observation on a citizen of the list for review, inside the observation window.
    The party and its representative are the caller's."""
    if staff.party is None:
        raise HTTPException(403, "only a party representative files observations")
    answer = await to_journey(state, journey, FileObservation(**dict(body), party=staff.party,
                                                              representative=staff.id, recorded_by=staff.id))
    return answer.model_copy(update={"status": answer.status.as_seen_by_party(staff.party)})


@router.post(f"{PREFIX}/journeys/{{journey}}/observations/{{observation_id}}/resolution",
             response_model=JourneyAnswer, responses={409: {"model": RefusalAnswer}},
             openapi_extra=roles(Role.REVIEWER), tags=["final list"])
async def resolve_observation(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                              observation_id: Annotated[str, PathParam(pattern=r"^[A-Z0-9_]{1,60}$")],
                              body: ResolutionBody) -> JourneyAnswer:
    """Upheld: the citizen is excluded with the reason. Dismissed: the citizen stays."""
    return await to_journey(state, journey, ResolveObservation(
        **dict(body), observation_id=observation_id, resolver=staff.id, recorded_by=staff.id))


# -- commands of one shape: the body, plus who the caller is ----------------------------------


@dataclass(frozen=True)
class CommandRoute:
    """A command sent to a journey over HTTP: where, by whom, and what the caller's identity
    fills in (never the body)."""

    model: type[Command]
    body: type
    path: str  # after /journeys/{journey}/
    roles: tuple[Role, ...]
    tag: str
    caller_fields: tuple[str, ...]  # set to the caller's staff id, besides recorded_by
    doc: str


COMMAND_ROUTES = (
    CommandRoute(ActivateCredential, ActivationBody, "credential-activation", (Role.OPERATOR,), "journeys", (),
                 "The CPVE's activation (the citizen confirmed receiving it)."),
    CommandRoute(DecideReview, ReviewBody, "review", (Role.REVIEWER,), "review", ("reviewer",),
                 "Decides a review; the caller is the reviewer. Two decisions at once: one is recorded, "
                 "the other gets 409."),
    CommandRoute(SendSubsaneDocuments, SubsaneBody, "subsane-documents", (Role.OPERATOR,), "review", (),
                 "The documents the citizen sent to correct the inconsistencies (subsane)."),
    CommandRoute(ReopenRejection, ReopenBody, "rejection-reopening", (Role.REVIEWER,), "review", ("staff",),
                 "A rejected request reopened after the citizen's clarification."),
    CommandRoute(RecordDelivery, DeliveryBody, "delivery", (Role.OPERATOR,), "final list", (),
                 "The carrier's or the voting system's news for an included citizen (sent, delivered, "
                 "returned; access issued)."),
)


def _add_command_route(route: CommandRoute) -> None:
    async def send_command(state, staff, journey, body) -> JourneyAnswer:
        caller = {field: staff.id for field in route.caller_fields}
        return await to_journey(state, journey, route.model(**dict(body), **caller, recorded_by=staff.id))

    keyword = inspect.Parameter.KEYWORD_ONLY
    send_command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("state", keyword, annotation=ServicesDep),
         inspect.Parameter("staff", keyword, annotation=StaffDep),
         inspect.Parameter("journey", keyword, annotation=JourneyId),
         inspect.Parameter("body", keyword, annotation=route.body)],
        return_annotation=JourneyAnswer)
    send_command.__name__ = send_command.__qualname__ = route.model.model_fields["kind"].default
    send_command.__doc__ = route.doc
    router.post(f"{PREFIX}/journeys/{{journey}}/{route.path}", response_model=JourneyAnswer,
                responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(*route.roles),
                tags=[route.tag])(send_command)


for _route in COMMAND_ROUTES:
    _add_command_route(_route)
