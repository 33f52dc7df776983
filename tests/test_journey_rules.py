"""The journey's rules and events in eventsourcing's in-memory store, with no server: the fast
lane's check of the domain (the same commands the workflows carry, the same aggregate)."""

from __future__ import annotations

import base64
import random
import secrets
from datetime import datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from lnere.domain.commands import ApplyMilestone, JourneyCommand
from lnere.domain.identity import journey_workflow_id
from lnere.domain.process import MILESTONE_ORDER, ProcessCatalog
from lnere.domain.refusals import RefusalKind
from lnere.domain.rules import DomainError
from lnere.store.registry import JourneyRegistry
from tests.citizens import at, credential, request

pytestmark = pytest.mark.fast

PROCESS = ProcessCatalog.load().get("pel-2020-2021")
KEY = secrets.token_bytes(32)


@pytest.fixture
def registry():
    app = JourneyRegistry(env={
        "PERSISTENCE_MODULE": "eventsourcing.popo",
        "CIPHER_TOPIC": "lnere.store.event_codec:EventCipher",
        "TRANSCODER_TOPIC": "lnere.store.event_codec:EventTranscoder",
        "CIPHER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    })
    yield app
    app.close()


COMMAND: TypeAdapter[Any] = TypeAdapter(JourneyCommand)


def command(body: dict[str, Any]) -> Any:
    return COMMAND.validate_python(body)


def decide(when: str, outcome: str, *reasons: str, **extra: Any) -> Any:
    return command({"kind": "decide_review", "at": at(when).isoformat(), "reviewer": "derfe.7", "outcome": outcome,
                    "reasons": list(reasons), **extra})


def file_request(registry: JourneyRegistry, seed: int, when: str = "2020-10-05 10:00") -> str:
    cred = credential(random.Random(seed))
    workflow_id = journey_workflow_id(KEY, PROCESS.id, cred["clave"])
    registry.execute(PROCESS, workflow_id, command(request(cred, when=at(when))))
    return workflow_id


def fire(registry: JourneyRegistry, milestone: str, *workflow_ids: str) -> None:
    """A milestone as the calendar applies it: its run recorded, then a page of journeys."""
    moment: datetime = PROCESS.milestone_at(milestone)
    run = registry.start_milestone_run(PROCESS, milestone, moment)
    registry.apply_milestone_page(PROCESS, run, ApplyMilestone(at=moment, milestone=milestone), list(workflow_ids),
                                  cursor=workflow_ids[-1] if workflow_ids else "")


def names(registry: JourneyRegistry, workflow_id: str) -> list[str]:
    return [type(e).__name__ for e in registry.history(workflow_id)]


def test_a_citizen_walks_every_stage_with_the_events_the_workflow_records(registry):
    corrected = file_request(registry, 1)
    never_decided = file_request(registry, 2, "2020-10-06 10:00")
    registry.execute(PROCESS, corrected, decide("2020-10-20 10:00", "inconsistencies", "ADDRESS_PROOF_MISSING"))
    assert registry.status(corrected).analysis_status == "inconsistencies"
    registry.execute(PROCESS, corrected, command({"kind": "send_subsane_documents",
                                                  "at": at("2020-10-25 10:00").isoformat(),
                                                  "documents": ["ADDRESS_PROOF"]}))
    assert registry.execute(PROCESS, corrected, decide("2020-11-02 10:00", "meets_requirements")).stage \
        == "meets_requirements"
    for milestone in MILESTONE_ORDER:
        fire(registry, milestone, corrected, never_decided)
    assert registry.status(corrected).stage == "included"
    assert registry.status(never_decided).stage == "excluded"
    # The same events, in the same order, as the journey workflow's walk on the dev server.
    assert names(registry, corrected) == [
        "Started", "CredentialRecorded", "CredentialActivated", "RequestFiled", "ReviewDecided",
        "SubsaneRequested", "SubsaneDocumentsReceived", "ReviewDecided", "ListedForReview",
        "IncludedInDefinitiveList",
    ]


@pytest.mark.parametrize(("body", "rule", "kind"), [
    ({"kind": "decide_review", "at": "2020-10-20T10:00:00-05:00", "reviewer": "derfe.7",
      "outcome": "inconsistencies", "reasons": ["NOT_A_CODE"]}, "reason-codes", RefusalKind.INVALID),
    ({"kind": "send_subsane_documents", "at": "2020-10-21T10:00:00-05:00", "documents": ["X"]},
     "subsane-needs-inconsistencies", RefusalKind.CONFLICT),
    ({"kind": "reopen_rejection", "at": "2020-10-21T10:00:00-05:00", "staff": "s", "clarification": "c"},
     "wrong-stage", RefusalKind.CONFLICT),
    # Business time before the journey's last event, and years after the process.
    ({"kind": "decide_review", "at": "2019-01-01T10:00:00-06:00", "reviewer": "derfe.7",
      "outcome": "meets_requirements"}, "business-time-order", RefusalKind.INVALID),
    ({"kind": "decide_review", "at": "2031-01-01T10:00:00-06:00", "reviewer": "derfe.7",
      "outcome": "meets_requirements"}, "business-time-bounds", RefusalKind.INVALID),
])
def test_a_refused_command_names_its_rule_and_kind_and_records_nothing(registry, body, rule, kind):
    journey = file_request(registry, 3)
    before = names(registry, journey)
    with pytest.raises(DomainError) as refused:
        registry.execute(PROCESS, journey, command(body))
    assert refused.value.rule == rule, refused.value.refusal
    assert refused.value.refusal.kind == kind
    assert names(registry, journey) == before
    assert registry.status(journey).stage == "in_review"


def test_a_repeat_changes_nothing_and_a_reused_id_with_other_content_is_refused(registry):
    journey = file_request(registry, 4)
    first = decide("2020-10-20 10:00", "rejected", "NOT_IN_REGISTER", command_id="decision-1")
    decided = registry.execute(PROCESS, journey, first)
    again = registry.execute(PROCESS, journey, first)
    assert (again.version, again.stage) == (decided.version, "rejected")
    other = decide("2020-10-21 10:00", "meets_requirements", command_id="decision-1")
    with pytest.raises(DomainError) as refused:
        registry.execute(PROCESS, journey, other)
    assert refused.value.rule == "command-id-reused"
    assert names(registry, journey).count("ReviewDecided") == 1


def test_a_command_for_no_journey_starts_none(registry):
    workflow_id = journey_workflow_id(KEY, PROCESS.id, credential(random.Random(5))["clave"])
    with pytest.raises(DomainError) as refused:
        registry.execute(PROCESS, workflow_id, decide("2020-10-20 10:00", "meets_requirements"))
    assert refused.value.refusal.kind == RefusalKind.NOT_FOUND
    assert registry.journey(workflow_id) is None


def test_an_erased_journey_keeps_its_stage_and_loses_its_personal_data(registry):
    journey = file_request(registry, 6)
    assert registry.personal_data(journey)["credential"]["holder"]["given_names"]
    registry.execute(PROCESS, journey, decide("2020-10-20 10:00", "rejected", "NOT_IN_REGISTER"))
    with pytest.raises(DomainError, match=r"\[erasure-needs-ended-journey\]"):
        registry.execute(PROCESS, journey, command({
            "kind": "erase_personal_data", "at": at("2020-12-01 10:00").isoformat(), "staff": "supervisor.1",
            "reason": "retention ended"}))
    for milestone in MILESTONE_ORDER:
        fire(registry, milestone, journey)
    registry.execute(PROCESS, journey, command({"kind": "erase_personal_data", "at": at("2021-06-01 10:00").isoformat(),
                                                "staff": "supervisor.1", "reason": "retention ended"}))
    assert registry.personal_data(journey) is None
    assert registry.status(journey).stage == "excluded"
