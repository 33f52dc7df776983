"""The calendar at real size: thousands of journeys through every milestone to the definitive
list, with an attempt of the bulk milestone failing after a page was committed: the retry resumes
after the cursor the run stored with that page.

The expected figures are counted here from the test's own command file (``tests.test_import``
counts the report's tables the same way); the view is checked against the independent recount.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime

import pytest

from lnere.application.importer import run_import
from lnere.domain.process import MILESTONE_ORDER, Milestone
from lnere.domain.rules import FINAL_STAGES
from lnere.projections.runner import wait_for_head
from lnere.workflows.calendar import ProcessCalendarWorkflow
from tests.conftest import running_stack
from tests.recount import recount
from tests.test_import import own_process, random_population

session_loop = pytest.mark.asyncio(loop_scope="session")

JOURNEYS = 5000
PAGE = 400  # several pages per milestone, so a failed attempt resumes in the middle


def final_outcomes(lines: list[dict]) -> list[tuple[dict | None, str]]:
    """Each citizen's request (None if they filed none) and stage after the definitive list, from
    the command lines alone: the last decision stands; never decided, or inconsistencies never
    corrected: excluded; a credential never followed by a request: closed without request."""
    by_citizen: dict[str, list[dict]] = {}
    for line in lines:
        if "clave" in line:
            by_citizen.setdefault(line["clave"], []).append(line["command"])
    out: list[tuple[dict | None, str]] = []
    for commands in by_citizen.values():
        commands.sort(key=lambda c: datetime.fromisoformat(c["at"]))
        request = next((c for c in commands if c["kind"] == "file_request"), None)
        if request is None:
            out.append((None, "closed_without_request"))
            continue
        outcome = "in_review"
        for command in commands:
            if command["kind"] == "decide_review":
                outcome = command["outcome"]
            elif command["kind"] == "send_subsane_documents":
                outcome = "in_review"
        out.append((request, "included" if outcome == "meets_requirements" else "excluded"))
    return out


def expected_final_stages(lines: list[dict]) -> Counter:
    return Counter(stage for _, stage in final_outcomes(lines))


@session_loop
async def test_thousands_of_journeys_reach_the_definitive_list_through_a_failed_attempt(dev_env, settings):
    catalog, process_id = own_process()
    rng = random.Random(2024)
    lines = random_population(process_id, rng, journeys=JOURNEYS, milestones=tuple(m.value for m in MILESTONE_ORDER))
    path = settings.data_dir / "population.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    expected = expected_final_stages(lines)
    assert sum(expected.values()) == JOURNEYS and expected["included"] > 1000

    failures: list[int] = []
    pages: list[tuple[str, str]] = []  # the definitive list's pages (first and last journey), as applied

    def fail_once_mid_milestone(milestone: Milestone, changed: int, page: tuple[str, str]) -> None:
        # The definitive list's first attempt dies once its third page is committed (the run's
        # cursor stored with it; the hook runs after the heartbeat, which a retry does not read).
        if milestone is not Milestone.DEFINITIVE_LIST:
            return
        pages.append(page)
        if changed >= 3 * PAGE and not failures:
            failures.append(len(pages))
            raise RuntimeError("injected: the attempt dies after a page was committed")

    async with running_stack(dev_env.client, settings, processes=catalog, milestone_page_size=PAGE,
                             after_milestone_page=fail_once_mid_milestone) as stack:
        summary = await run_import(path, stack.journeys, settings.data_dir / "imports",
                                   settings.data_dir / "rejects.jsonl")
        assert summary.refused == 0, summary.as_dict()
        assert summary.milestones == len(MILESTONE_ORDER)
        assert failures, "the injected failure did not happen"
        # The retry went on after the stored cursor: its first page starts past the failed
        # attempt's last (a restart would begin again at the first journey).
        failed_at = failures[0]
        assert pages[failed_at][0] > pages[failed_at - 1][1] > pages[0][0], pages[failed_at - 1:failed_at + 1]
        calendar = dev_env.client.get_workflow_handle_for(ProcessCalendarWorkflow.run, f"calendar-{process_id}")
        reports = {r.milestone: r for r in await calendar.query(ProcessCalendarWorkflow.fired)}
        assert reports[Milestone.REGISTRATION_CLOSED].journeys_changed == expected["closed_without_request"]
        assert reports[Milestone.LIST_FOR_REVIEW_ISSUED].journeys_changed == expected["included"]
        assert reports[Milestone.DEFINITIVE_LIST].journeys_changed == expected["included"] + expected["excluded"]
        delivered = reports[Milestone.DEFINITIVE_LIST].deliveries
        assert delivered is not None
        assert delivered.postal_sent + delivered.internet_access_issued == expected["included"]
        wait_for_head(settings, stack.view, timeout=120)

        # Every journey final, the view equal to the file's count and to the recount.
        counts = stack.view.counts_as_of(process_id, None)
        assert counts["stage"] == dict(expected)
        assert counts == recount(stack.registry)

        # Each journey's history shows each milestone's event once: nothing lost or duplicated
        # by the failed attempt.
        events: Counter = Counter()
        position = 0
        while notifications := stack.registry.recorder.select_notifications(start=position + 1, limit=10000):
            events.update(n.topic.rsplit(".", 1)[-1] for n in notifications)
            position = notifications[-1].id
        assert events["ClosedWithoutRequest"] == expected["closed_without_request"]
        assert events["ListedForReview"] == expected["included"]
        assert events["IncludedInDefinitiveList"] == expected["included"]
        assert events["ExcludedFromDefinitiveList"] == expected["excluded"]
        assert events["DeliveryRecorded"] == expected["included"]
        ids = [w for _, w in stack.view.journeys_in_stages(process_id, sorted(s.value for s in FINAL_STAGES),
                                                            "", "g", JOURNEYS + 1)]
        assert len(ids) == JOURNEYS
        for start in range(0, len(ids), 1000):
            for journey in stack.registry.journeys(ids[start:start + 1000]).values():
                assert journey.stage in FINAL_STAGES
                assert journey.has_processed("milestone:definitive_list") or journey.has_processed(
                    "milestone:registration_closed")


@session_loop
async def test_deliveries_follow_the_modality_and_in_person_voters_get_neither(dev_env, settings):
    from lnere.domain.commands import CommandEnvelope, FireMilestone
    from lnere.domain.process import Modality, VotingSite
    from tests.citizens import at, credential, request
    from tests.conftest import own_process_catalog

    catalog, process_id = own_process_catalog()
    two = catalog.get(process_id)
    site = VotingSite(name="Módulo de votación presencial, Chicago", country="US", city="Chicago")
    three = two.model_copy(update={"modalities": (Modality.POSTAL, Modality.INTERNET, Modality.IN_PERSON),
                                   "modality_labels": {**two.modality_labels, Modality.IN_PERSON: "Presencial"},
                                   "voting_sites": {"SITE_CHICAGO": site}})
    catalog.add(three)
    rng = random.Random(77)
    chosen: dict[str, str] = {}
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        for i in range(12):
            modality = ("postal", "internet", "in_person")[i % 3]
            citizen = credential(rng)
            command = request(citizen, when=at("2020-10-01 10:00"), modality=modality, country="US")
            if modality == "in_person":
                command["voting_site"] = "SITE_CHICAGO"
            filed = await stack.journeys.send(CommandEnvelope.model_validate({
                "process": process_id, "clave": citizen["clave"], "command": command}))
            await stack.journeys.send(CommandEnvelope.model_validate({
                "process": process_id, "journey": filed.workflow_id, "command": {
                    "kind": "decide_review", "at": at("2020-10-05 10:00").isoformat(), "reviewer": "r",
                    "outcome": "meets_requirements"}}))
            chosen[filed.workflow_id] = modality
        stack.wait_for_projection()
        from lnere.projections.report import build_report

        by_site = build_report(stack.view, three, None)["by_voting_site"]
        assert by_site == {"Módulo de votación presencial, Chicago": 4, "TOTAL": 4}
        for milestone in MILESTONE_ORDER:
            report = await stack.journeys.fire_milestone(process_id, FireMilestone(milestone=milestone))
        assert report.deliveries is not None
        assert (report.deliveries.postal_sent, report.deliveries.internet_access_issued) == (4, 4)
        for workflow_id, modality in chosen.items():
            status = stack.registry.status(workflow_id)
            assert status.stage == "included"
            assert status.delivery == {"postal": "postal_sent", "internet": "internet_access_issued",
                                       "in_person": None}[modality], (modality, status.delivery)
