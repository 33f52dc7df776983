"""Journeys: reading one, and the commands sent to it."""

from __future__ import annotations

import asyncio
import inspect
from typing import Annotated, Any, cast

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder

from lnere import logs
from lnere.api.access import StaffDep, roles
from lnere.api.models import (
    BODIES,
    CredentialBody,
    JourneyAnswer,
    ObservationBody,
    RefusalAnswer,
    RequestBody,
    ResolutionBody,
)
from lnere.api.services import PREFIX, JourneyId, ServicesDep, existing, send, to_journey
from lnere.domain.commands import (
    JOURNEY_COMMANDS,
    CommandEnvelope,
    CommandSpec,
    FileObservation,
    FileRequest,
    RecordCredential,
    ResolveObservation,
)
from lnere.domain.roles import Role
from lnere.store.registry import event_rows

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
    """The citizen's credential, address and contact, for the review. Every read is recorded
    (who and which journey, not the data: ``GET /journeys/{journey}/reads``)."""
    await existing(state, journey)
    data = await asyncio.to_thread(state.registry.personal_data, journey)
    await asyncio.to_thread(state.documents.record_read, journey, staff.id, staff.role.value, "personal_data", None)
    log.info("personal data read", staff=staff.id, journey=journey, erased=data is None)
    return {"journey": journey, "erased": data is None, "personal_data": data}


# -- journeys: commands ---------------------------------------------------------------------------

def _senders(kind: str) -> dict[str, Any]:
    return roles(*JOURNEY_COMMANDS[kind].senders)


@router.post(f"{PREFIX}/processes/{{process}}/credentials", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=_senders("record_credential"), tags=["journeys"])
async def record_credential(state: ServicesDep, staff: StaffDep, process: str,
                            body: CredentialBody) -> JourneyAnswer:
    """Records a citizen's credential; starts the citizen's journey."""
    command = RecordCredential(**dict(body), recorded_by=staff.id)
    return await send(state, CommandEnvelope(process=state.process(process).id, clave=command.credential.clave,
                                             command=command))


@router.post(f"{PREFIX}/processes/{{process}}/requests", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=_senders("file_request"), tags=["journeys"])
async def file_request(state: ServicesDep, staff: StaffDep, process: str, body: RequestBody) -> JourneyAnswer:
    """Files a registration request (SIILNERE): by phone (INETEL) or on the web (SRVE)."""
    fields = {k: v for k, v in dict(body).items() if k != "clave"}
    command = FileRequest(**fields, recorded_by=staff.id)
    return await send(state, CommandEnvelope(process=state.process(process).id, clave=body.citizen_clave(),
                                             command=command))






@router.post(f"{PREFIX}/journeys/{{journey}}/observations", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=_senders("file_observation"),
             tags=["final list"])
async def file_observation(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                           body: ObservationBody) -> JourneyAnswer:
    """A party's observation on a citizen of the list for review, inside the observation window.
    The party and its representative are the caller's."""
    if staff.party is None:
        raise HTTPException(403, "only a party representative files observations")
    answer = await to_journey(state, journey, FileObservation(**dict(body), party=staff.party,
                                                              representative=staff.id, recorded_by=staff.id))
    # A party sees its own observations, and not the citizen's folio (a key to the status page).
    return answer.model_copy(update={"status": answer.status.as_seen_by_party(staff.party), "folio": None})


@router.post(f"{PREFIX}/journeys/{{journey}}/observations/{{observation_id}}/resolution",
             response_model=JourneyAnswer, responses={409: {"model": RefusalAnswer}},
             openapi_extra=_senders("resolve_observation"), tags=["final list"])
async def resolve_observation(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                              observation_id: Annotated[str, PathParam(pattern=r"^[A-Z0-9_]{1,60}$")],
                              body: ResolutionBody) -> JourneyAnswer:
    """Upheld: the citizen is excluded with the reason. Dismissed: the citizen stays."""
    return await to_journey(state, journey, ResolveObservation(
        **dict(body), observation_id=observation_id, resolver=staff.id, recorded_by=staff.id))


# -- commands of one shape: the body, plus who the caller is ----------------------------------

# Where a command is sent, under /journeys/{journey}/, and its tag in the API's docs; a kind not
# named here is sent to commands/<kind> (one that starts a journey with a credential, to
# /processes/{process}/commands/<kind>). None: it has a route of its own above, or none (the
# registral check is a batch from a file; the erasure also deletes Temporal's history: the CLI's).
COMMAND_PATHS: dict[str, tuple[str, str] | None] = {
    "record_credential": None, "file_request": None, "file_observation": None, "resolve_observation": None,
    "record_registral_check": None, "erase_personal_data": None,
    "activate_credential": ("credential-activation", "journeys"),
    "decide_review": ("review", "review"),
    "send_subsane_documents": ("subsane-documents", "review"),
    "reopen_rejection": ("rejection-reopening", "review"),
    "record_delivery": ("delivery", "final list"),
}


def _add_command_route(spec: CommandSpec, path: str, tag: str) -> None:
    """A command over HTTP: its body, plus who the caller is (never in the body). One that
    carries the citizen's credential is sent to its process, the credential's clave naming the
    citizen; any other to its journey."""
    to_process = "{process}" in path

    async def send_command(state, staff, body, **where: str) -> JourneyAnswer:
        command = spec.model(**dict(body), **dict.fromkeys(spec.acting, staff.id), recorded_by=staff.id)
        if to_process:
            return await send(state, CommandEnvelope(process=state.process(where["process"]).id,
                                                     clave=cast(Any, command).credential.clave, command=command))
        return await to_journey(state, where["journey"], command)

    keyword = inspect.Parameter.KEYWORD_ONLY
    address = (inspect.Parameter("process", keyword, annotation=str) if to_process
               else inspect.Parameter("journey", keyword, annotation=JourneyId))
    send_command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("state", keyword, annotation=ServicesDep),
         inspect.Parameter("staff", keyword, annotation=StaffDep),
         address,
         inspect.Parameter("body", keyword, annotation=BODIES[spec.kind])],
        return_annotation=JourneyAnswer)
    send_command.__name__ = send_command.__qualname__ = spec.kind
    send_command.__doc__ = spec.model.__doc__
    router.post(path, response_model=JourneyAnswer, responses={409: {"model": RefusalAnswer}},
                openapi_extra=roles(*spec.senders), tags=[tag])(send_command)


def carries_credential(spec: CommandSpec) -> bool:
    """Whether a command carries the citizen's credential: it is sent to its process, the
    credential's clave naming the citizen (it may start the journey)."""
    field = spec.model.model_fields.get("credential")
    return field is not None and field.is_required()


def command_route(spec: CommandSpec) -> tuple[str, str] | None:
    """(path, tag) where a kind of command is sent over HTTP; None: a route of its own, or none."""
    if spec.kind in COMMAND_PATHS:
        where = COMMAND_PATHS[spec.kind]
        return None if where is None else (f"{PREFIX}/journeys/{{journey}}/{where[0]}", where[1])
    if carries_credential(spec):
        return f"{PREFIX}/processes/{{process}}/commands/{spec.kind}", "journeys"
    return f"{PREFIX}/journeys/{{journey}}/commands/{spec.kind}", "journeys"


for _spec in JOURNEY_COMMANDS.values():
    if (_route := command_route(_spec)) is not None:
        _add_command_route(_spec, *_route)
