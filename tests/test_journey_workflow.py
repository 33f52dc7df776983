"""The journey spine on the real Temporal dev server, a real worker, real SQLite stores."""

from __future__ import annotations

import functools
import random
import sys
import uuid
from collections import Counter

import pytest
from temporalio.client import WorkflowExecutionStatus

from lnere.domain.commands import CommandEnvelope, FireMilestone
from lnere.domain.process import MILESTONE_ORDER, ProcessCatalog
from lnere.domain.refusals import Refused
from lnere.projections.runner import start_runner
from tests.citizens import at, credential, request
from tests.conftest import running_stack as _running_stack
from tests.recount import recount

running_stack = _running_stack

pytestmark = pytest.mark.asyncio(loop_scope="session")

PROCESS = "pel-2020-2021"


@pytest.fixture(autouse=True)
def own_process(monkeypatch):
    """Each test runs PEL 2020-2021 under its own process id, so that tests sharing the dev
    server never share a process calendar."""
    catalog = ProcessCatalog.load()
    process = catalog.get("pel-2020-2021").model_copy(update={"id": f"pel-test-{uuid.uuid4().hex[:12]}"})
    catalog.add(process)
    monkeypatch.setattr(sys.modules[__name__], "PROCESS", process.id)
    monkeypatch.setattr(sys.modules[__name__], "running_stack", functools.partial(_running_stack, processes=catalog))


def envelope(command: dict, *, clave: str | None = None, journey: str | None = None) -> CommandEnvelope:
    data = {"process": PROCESS, "command": command}
    data["clave" if clave else "journey"] = clave or journey
    return CommandEnvelope.model_validate(data)


def decide(journey: str, when: str, outcome: str, *reasons: str) -> CommandEnvelope:
    return envelope(
        {"kind": "decide_review", "at": at(when).isoformat(), "reviewer": "derfe.7", "outcome": outcome,
         "reasons": list(reasons)},
        journey=journey,
    )


def event_names(stack, workflow_id: str) -> list[str]:
    return [type(e).__name__ for e in stack.registry.history(workflow_id)]


async def test_citizen_walks_every_stage_to_the_definitive_list(dev_env, settings):
    rng = random.Random(1)
    async with running_stack(dev_env.client, settings) as stack:
        corrected = credential(rng)
        never_decided = credential(rng, kind="CPV", activated=False, sex="H")
        status = await stack.journeys.send(
            envelope(request(corrected, when=at("2020-10-05 10:00")), clave=corrected["clave"]))
        journey = status.workflow_id
        assert corrected["clave"] not in journey  # the id is a keyed hash, never the clave
        other = await stack.journeys.send(
            envelope(request(never_decided, when=at("2020-10-06 10:00"), channel="SRVE", country="CA", state="14"),
                     clave=never_decided["clave"])
        )
        await stack.journeys.send(decide(journey, "2020-10-20 10:00", "inconsistencies", "ADDRESS_PROOF_MISSING"))
        await stack.journeys.send(
            envelope({"kind": "send_subsane_documents", "at": at("2020-10-25 10:00").isoformat(),
                      "documents": ["ADDRESS_PROOF"]}, journey=journey)
        )
        status = await stack.journeys.send(decide(journey, "2020-11-02 10:00", "meets_requirements"))
        assert status.stage == "meets_requirements"

        stack.wait_for_projection()
        assert stack.view.counts_as_of(PROCESS, None) == recount(stack.registry)
        at_oct_31 = stack.view.counts_as_of(PROCESS, at("2020-10-31 00:00").date())
        assert at_oct_31["analysis"] == {"in_review": 2}  # the subsane documents came on Oct 25
        assert at_oct_31 == recount(stack.registry, at("2020-10-31 00:00").date())

        reports = [await stack.journeys.fire_milestone(PROCESS, FireMilestone(milestone=m)) for m in MILESTONE_ORDER]
        assert [r.journeys_changed for r in reports] == [0, 0, 0, 1, 0, 2]

        # Milestones are applied in the event store, in bulk: the journeys' runs ended once
        # their commands were handled, and no run was woken for a milestone.
        assert stack.registry.status(journey).stage == "included"
        for workflow_id in (journey, other.workflow_id):
            runs = [r async for r in dev_env.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
            assert runs and all(r.status == WorkflowExecutionStatus.COMPLETED for r in runs), runs
        assert event_names(stack, journey) == [
            "Started", "CredentialRecorded", "CredentialActivated", "RequestFiled", "ReviewDecided",
            "SubsaneRequested", "SubsaneDocumentsReceived", "ReviewDecided", "ListedForReview",
            "IncludedInDefinitiveList", "DeliveryRecorded",
        ]
        assert stack.registry.status(other.workflow_id).stage == "excluded"
        stack.wait_for_projection()
        counts = stack.view.counts_as_of(PROCESS, None)
        assert counts == recount(stack.registry)
        assert counts["stage"] == {"included": 1, "excluded": 1}
        assert counts["credential_channel"] == {"CPVE|INETEL": 1, "CPV|SRVE": 1}


async def test_a_second_request_reaches_the_existing_journey(dev_env, settings):
    rng = random.Random(2)
    async with running_stack(dev_env.client, settings, with_projection=False) as stack:
        cred = credential(rng)
        first = envelope(request(cred, when=at("2020-10-05 10:00")), clave=cred["clave"])
        status = await stack.journeys.send(first)
        again = await stack.journeys.send(first)
        assert again.workflow_id == status.workflow_id and again.version == status.version
        different = envelope(request(None, when=at("2020-10-07 10:00"), modality="internet"), clave=cred["clave"])
        already = rf"journey: a request is already filed .*{status.workflow_id}.*\[one-request-per-process\]"
        with pytest.raises(Refused, match=already):
            await stack.journeys.send(different)
        assert event_names(stack, status.workflow_id).count("RequestFiled") == 1
        runs = [w async for w in dev_env.client.list_workflows(f"WorkflowId = '{status.workflow_id}'")]
        assert len(runs) == 1


@pytest.mark.fast
async def test_an_invalid_update_is_refused_with_its_message_and_records_nothing(time_env, settings):
    rng = random.Random(3)
    async with running_stack(time_env.client, settings, with_projection=False) as stack:
        cred = credential(rng)
        status = await stack.journeys.send(envelope(request(cred, when=at("2020-10-05 10:00")), clave=cred["clave"]))
        journey = status.workflow_id
        before = event_names(stack, journey)
        with pytest.raises(Refused, match=r"reasons: unknown inconsistencies reason code\(s\) NOT_A_CODE"):
            await stack.journeys.send(decide(journey, "2020-10-20 10:00", "inconsistencies", "NOT_A_CODE"))
        with pytest.raises(Refused, match=r"journey: the journey has no inconsistencies to correct"):
            await stack.journeys.send(
                envelope({"kind": "send_subsane_documents", "at": at("2020-10-21 10:00").isoformat(),
                          "documents": ["X"]}, journey=journey)
            )
        with pytest.raises(Refused, match=r"reopening needs the journey in rejected.*\[wrong-stage\]"):
            await stack.journeys.send(
                envelope({"kind": "reopen_rejection", "at": at("2020-10-21 10:00").isoformat(), "staff": "s",
                          "clarification": "c"}, journey=journey)
            )
        assert event_names(stack, journey) == before
        assert (await stack.journeys.status(journey)).stage == "in_review"


@pytest.mark.fast
async def test_an_activity_retried_after_its_commit_appends_nothing_twice(time_env, settings):
    failures: Counter = Counter()

    def fail_once_after_commit(activity_name, input):
        if activity_name == "decide_review" and not failures[input.workflow_id]:
            failures[input.workflow_id] += 1
            raise RuntimeError("injected failure after the commit")

    rng = random.Random(4)
    async with running_stack(
        time_env.client, settings, after_commit=fail_once_after_commit, with_projection=False
    ) as stack:
        cred = credential(rng)
        status = await stack.journeys.send(envelope(request(cred, when=at("2020-10-05 10:00")), clave=cred["clave"]))
        decided = await stack.journeys.send(
            decide(status.workflow_id, "2020-10-20 10:00", "rejected", "NOT_IN_REGISTER"))
        assert failures[status.workflow_id] == 1  # the first attempt did fail after committing
        assert decided.stage == "rejected"
        names = event_names(stack, status.workflow_id)
        assert names.count("ReviewDecided") == 1
        assert decided.version == len(names)


async def test_a_restarted_projection_runner_counts_nothing_twice(dev_env, settings):
    rng = random.Random(5)
    async with running_stack(dev_env.client, settings, with_projection=False) as stack:
        runner = start_runner(settings)
        for i in range(6):
            cred = credential(rng, sex="HM"[i % 2])
            await stack.journeys.send(envelope(request(cred, when=at(f"2020-10-0{i + 1} 10:00")), clave=cred["clave"]))
            if i == 2:
                # stop mid-way, with events the runner has not seen yet
                runner.__exit__(None, None, None)
        runner = start_runner(settings)
        stack.runner = runner
        try:
            stack.wait_for_projection()
            assert stack.view.counts_as_of(PROCESS, None) == recount(stack.registry)
            assert stack.view.counts_as_of(PROCESS, None)["analysis"] == {"in_review": 6}
        finally:
            runner.__exit__(None, None, None)
        runner = start_runner(settings)  # a restart with nothing new changes nothing
        try:
            stack.runner = runner
            stack.wait_for_projection()
            assert stack.view.counts_as_of(PROCESS, None) == recount(stack.registry)
        finally:
            runner.__exit__(None, None, None)


async def test_party_observations_and_the_registral_check_exclude_with_their_reason(dev_env, settings):
    rng = random.Random(6)
    async with running_stack(dev_env.client, settings, with_projection=True) as stack:
        ids = []
        for i in range(3):
            cred = credential(rng)
            status = await stack.journeys.send(
                envelope(request(cred, when=at(f"2020-10-0{i + 1} 10:00")), clave=cred["clave"]))
            await stack.journeys.send(decide(status.workflow_id, "2020-10-20 10:00", "meets_requirements"))
            ids.append(status.workflow_id)
        observed, removed, kept = ids
        observation = {"kind": "file_observation", "observation_id": "OBS_1", "party": "PARTIDO_A",
                       "representative": "rep.1", "reason": "domicilio dudoso"}
        with pytest.raises(Refused, match=r"a party observation needs the journey in listed_for_review"):
            await stack.journeys.send(
                envelope({**observation, "at": at("2020-11-01 10:00").isoformat()}, journey=observed))
        for milestone in MILESTONE_ORDER[:4]:
            await stack.journeys.fire_milestone(PROCESS, FireMilestone(milestone=milestone))
        with pytest.raises(Refused, match=r"\[observation-window\]"):
            await stack.journeys.send(
                envelope({**observation, "at": at("2021-04-10 10:00").isoformat()}, journey=observed))
        await stack.journeys.send(envelope({**observation, "at": at("2021-03-25 10:00").isoformat()}, journey=observed))
        status = await stack.journeys.send(
            envelope({"kind": "resolve_observation", "at": at("2021-03-30 10:00").isoformat(),
                      "observation_id": "OBS_1", "resolver": "derfe.9", "upheld": True,
                      "reason": "domicilio no verificable"}, journey=observed)
        )
        assert (status.stage, status.reasons) == ("excluded", ("OBSERVATION_UPHELD",))
        with pytest.raises(Refused, match=r"unknown registral result ALIEN"):
            await stack.journeys.send(
                envelope({"kind": "record_registral_check", "at": at("2021-04-08 10:00").isoformat(),
                          "result": "ALIEN", "source": "RENAPO"}, journey=removed)
            )
        status = await stack.journeys.send(
            envelope({"kind": "record_registral_check", "at": at("2021-04-08 10:00").isoformat(),
                      "result": "DECEASED", "source": "registro civil"}, journey=removed)
        )
        assert (status.stage, status.reasons) == ("excluded", ("DECEASED",))
        await stack.journeys.send(
            envelope({"kind": "record_registral_check", "at": at("2021-04-08 10:00").isoformat(),
                      "result": "OK", "source": "registro civil"}, journey=kept)
        )
        for milestone in MILESTONE_ORDER[4:]:
            await stack.journeys.fire_milestone(PROCESS, FireMilestone(milestone=milestone))
        finals = [stack.registry.status(w).stage for w in ids]
        assert finals == ["excluded", "excluded", "included"]
        assert event_names(stack, observed)[-3:] == ["PartyObservationFiled", "PartyObservationResolved",
                                                     "ExcludedFromDefinitiveList"]
        stack.wait_for_projection()
        assert stack.view.counts_as_of(PROCESS, None) == recount(stack.registry)
