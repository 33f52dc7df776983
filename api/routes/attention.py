"""INETEL's attention: operators record a citizen's contact with the call centre."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException

from lnere.api.access import StaffDep, roles
from lnere.api.models import AttentionAnswer, AttentionBody, RefusalAnswer
from lnere.api.services import ANSWER_TIMEOUT, PREFIX, ServicesDep
from lnere.domain.commands import RecordAttention
from lnere.domain.identity import journey_workflow_id
from lnere.domain.refusals import Refused
from lnere.domain.roles import Role
from lnere.workflows.messages import OutreachContact

router = APIRouter()


@router.post(f"{PREFIX}/processes/{{process}}/attentions", response_model=AttentionAnswer,
             responses={409: {"model": RefusalAnswer}}, openapi_extra=roles(Role.OPERATOR), tags=["attention"])
async def record_attention(state: ServicesDep, staff: StaffDep, process: str, body: AttentionBody) -> AttentionAnswer:
    """Records a citizen's contact with INETEL (report section 4.2: by service and topic,
    channel, origin). The same command id sent again counts once."""
    found = state.process(process)
    command = RecordAttention(**{k: v for k, v in dict(body).items() if k != "clave"}, recorded_by=staff.id)
    journey = journey_workflow_id(state.settings.journey_key_bytes, found.id, body.clave) if body.clave else None
    try:
        result = await asyncio.wait_for(
            state.journeys.send_outreach(found.id, [OutreachContact(journey=journey, command=command)]),
            ANSWER_TIMEOUT)
    except TimeoutError:
        raise HTTPException(504, "the engine did not answer in time; retry (the command counts once)") from None
    [outcome] = result.outcomes
    if outcome.refusal is not None:
        raise Refused(outcome.refusal)
    return AttentionAnswer(command_id=outcome.command_id, already_recorded=outcome.already_recorded)
