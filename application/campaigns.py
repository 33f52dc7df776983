"""Call campaigns as work (issue 17): build a campaign from the registry and split it into call
lists; an operator takes the next citizen; the call's outcome is recorded where every outbound
call is (the outreach workflow's Update: table 4.2.1 counts it), a *Registrado* call files the
citizen's request in the same step (the journey's Update), and the list marks the call done."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError

from lnere.application.gateway import JourneyClient
from lnere.domain.campaigns import Campaign
from lnere.domain.commands import CallOutcome, CommandEnvelope, RecordOutboundCall
from lnere.domain.identity import journey_workflow_id
from lnere.domain.process import ElectoralProcess
from lnere.domain.refusals import Refusal, RefusalKind, Refused
from lnere.domain.rules import DomainError, Stage
from lnere.domain.values import CredentialKind
from lnere.projections.journey_counts import CountsView
from lnere.store.registry import JourneyRegistry
from lnere.workflows.messages import OutreachContact

PAGE = 1000


def cpve_holders_without_request(registry: JourneyRegistry, view: CountsView, process: ElectoralProcess,
                                 states: list[str] | None) -> list[str]:
    """Journeys of citizens whose CPVE is activated and who filed no request (of the states
    given, by the state the CPVE was requested for), never found deceased; in journey order."""
    chosen, after = [], ""
    while page := view.journeys_in_stages(process.id, [Stage.CREDENTIAL_RECORDED.value], after, "g", PAGE):
        for _, workflow_id in page:
            journey = registry.journey(workflow_id)
            if journey is None or journey.credential_kind != CredentialKind.CPVE or not journey.credential_activated:
                continue
            if states and getattr(journey, "cpve_state", None) not in states:
                continue
            if not registry.deceased(workflow_id):
                chosen.append(workflow_id)
        after = page[-1][0]
    return chosen


def addendum(registry: JourneyRegistry, process: ElectoralProcess, journey_key: bytes,
             claves: list[str]) -> tuple[list[str], int]:
    """The journeys of an addendum's claves (new credential holders), and how many named no
    journey with a credential or a deceased citizen (left out, not named: personal data)."""
    chosen, left_out = [], 0
    for clave in dict.fromkeys(claves):
        workflow_id = journey_workflow_id(journey_key, process.id, clave)
        status = registry.status(workflow_id)
        if status is None or status.credential_kind is None or registry.deceased(workflow_id):
            left_out += 1
        else:
            chosen.append(workflow_id)
    return chosen, left_out


def progress(registry: JourneyRegistry, campaign: Campaign) -> dict[str, Any]:
    lists = registry.call_lists(campaign)
    totals: dict[str, int] = {}
    for call_list in lists:
        for key, n in call_list.progress().items():
            totals[key] = totals.get(key, 0) + n
    return {**campaign.summary(), "progress": totals,
            "lists_worked": sum(1 for lst in lists if lst.operator is not None)}


async def record_call(journeys: JourneyClient, registry: JourneyRegistry, process: ElectoralProcess,
                      campaign: Campaign, journey: str, operator: str, at: datetime, outcome: CallOutcome,
                      request: dict[str, Any] | None) -> dict[str, Any]:
    """The outcome of a call the operator is making: refused (nothing recorded) unless this
    operator is calling this citizen now; a registered call files the request first. Every
    outcome sent for one call carries the call's own id (``CallList.call_id``): sent again it
    is answered as already recorded, another outcome for the same call is refused (409), so the
    figures count a call once however many answers arrive at once."""
    try:
        call_list = await asyncio.to_thread(registry.call_list_of, campaign, journey)
        call_list.check_outcome(journey, operator)
    except DomainError as error:
        raise Refused(error.refusal) from None
    if (outcome is CallOutcome.REGISTERED) != (request is not None):
        raise Refused(Refusal.of("request", "call-registers-request",
                                 "a registered call carries the request it files; other outcomes none"))
    call_id = call_list.call_id(journey)
    request_command_id = None
    if request is not None:
        envelope = CommandEnvelope.model_validate({"process": process.id, "journey": journey, "command": {
            **request, "kind": "file_request", "at": at.isoformat(), "recorded_by": operator,
            "command_id": f"{call_id}.request"}})
        await journeys.send(envelope)
        request_command_id = envelope.command.effective_id()
    call = RecordOutboundCall(at=at, campaign=campaign.code, outcome=outcome, request_command_id=request_command_id,
                              recorded_by=operator, command_id=call_id)
    answer = await journeys.send_outreach(process.id, [OutreachContact(journey=journey, command=call)])
    recorded = answer.outcomes[0]
    if not recorded.accepted and recorded.refusal is not None:
        raise Refused(recorded.refusal)
    try:
        done, again = await asyncio.to_thread(registry.complete_call, call_list, journey, operator, outcome, at,
                                              call.effective_id())
    except DomainError as error:
        raise Refused(error.refusal) from None
    except IntegrityError:  # the list kept changing under this call: nothing of it was counted twice
        raise Refused(Refusal.of("journey", "call-completed", "this call's outcome is being recorded; look again",
                                 RefusalKind.CONFLICT)) from None
    return {"journey": journey, "outcome": outcome.value, "list": done.number, "list_progress": done.progress(),
            "already_recorded": again or recorded.already_recorded,
            **({"request_command_id": request_command_id} if request_command_id else {})}
