"""Journeys: reading one, and the commands sent to it."""

from __future__ import annotations

import asyncio
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
from api.services import ANSWER_TIMEOUT, PREFIX, JourneyId, ServicesDep, existing, send, to_journey
from application.staff import Role
from domain.commands import (
    ActivateCredential,
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
from domain.refusals import Refused
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


@router.post(f"{PREFIX}/journeys/{{journey}}/credential-activation", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["journeys"])
async def activate_credential(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                              body: ActivationBody) -> JourneyAnswer:
    return await to_journey(state, journey, ActivateCredential(**dict(body), recorded_by=staff.id))


@router.post(f"{PREFIX}/journeys/{{journey}}/review", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.REVIEWER), tags=["review"])
async def decide_review(state: ServicesDep, staff: StaffDep, journey: JourneyId, body: ReviewBody) -> JourneyAnswer:
    """Decides a review; the caller is the reviewer. Two decisions at once: one is recorded,
    the other gets 409."""
    return await to_journey(state, journey, DecideReview(**dict(body), reviewer=staff.id, recorded_by=staff.id))


@router.post(f"{PREFIX}/journeys/{{journey}}/subsane-documents", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["review"])
async def subsane_documents(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                            body: SubsaneBody) -> JourneyAnswer:
    return await to_journey(state, journey, SendSubsaneDocuments(**dict(body), recorded_by=staff.id))


@router.post(f"{PREFIX}/journeys/{{journey}}/rejection-reopening", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.REVIEWER), tags=["review"])
async def reopen_rejection(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                           body: ReopenBody) -> JourneyAnswer:
    return await to_journey(state, journey, ReopenRejection(**dict(body), staff=staff.id, recorded_by=staff.id))


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


@router.post(f"{PREFIX}/journeys/{{journey}}/delivery", response_model=JourneyAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["final list"])
async def record_delivery(state: ServicesDep, staff: StaffDep, journey: JourneyId,
                          body: DeliveryBody) -> JourneyAnswer:
    """The carrier's or the voting system's news for an included citizen (sent, delivered,
    returned; access issued). Sent to the journey whose workflow has ended: a new run answers
    from the event store."""
    process, _ = await existing(state, journey)
    command = RecordDelivery(**dict(body), recorded_by=staff.id)
    answer = await asyncio.wait_for(state.journeys.send_batch(process.id, journey, [command]), ANSWER_TIMEOUT)
    outcome = answer.outcomes[0]
    if outcome.refusal is not None:
        raise Refused(outcome.refusal)
    assert answer.status is not None
    return JourneyAnswer(journey=journey, status=answer.status)

