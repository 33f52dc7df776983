"""Deadlines on Temporal's time-skipping test server: the process calendar in live mode fires
each milestone from a durable timer at its configured date, weeks ahead of the test's clock."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest

from lnere.domain.commands import CommandEnvelope
from lnere.domain.process import (
    ElectoralProcess,
    Milestone,
    ProcessCatalog,
    load_process_file,
)
from lnere.workflows.calendar import ProcessCalendarWorkflow
from tests.citizens import credential, request
from tests.conftest import running_stack

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.fast]


def live_process(tmp_path, now) -> ElectoralProcess:
    """A process whose calendar lies ahead of the test server's clock, written as a file."""
    base = json.loads((ProcessCatalog.load().get("pel-2020-2021")).model_dump_json())
    days = lambda n: (now + timedelta(days=n)).isoformat()  # noqa: E731
    base.update(
        id="test-live",
        name="Proceso de prueba",
        registration_opens=days(-5),
        milestones={
            "registration_closed": days(10),
            "inconsistency_notice_deadline": days(12),
            "analysis_deadline": days(20),
            "list_for_review_issued": days(22),
            "observations_closed": days(30),
            "definitive_list": days(35),
        },
        clarification_window_closes=days(20),
        election_day=(now + timedelta(days=60)).date().isoformat(),
        milestone_mode="live",
    )
    path = tmp_path / "test-live.json"
    path.write_text(json.dumps(base))
    return load_process_file(path)


async def test_uncorrected_journey_ends_rejected_and_corrected_one_reaches_the_list(time_env, settings, tmp_path):
    now = await time_env.get_current_time()
    process = live_process(tmp_path, now)
    catalog = ProcessCatalog.load()
    catalog.add(process)
    rng = random.Random(11)

    def envelope(command, **ref):
        return CommandEnvelope.model_validate({"process": process.id, "command": command, **ref})

    async with running_stack(time_env.client, settings, processes=catalog) as stack:
        await stack.journeys.ensure_calendar(process)
        # Live: what happened already (a live process takes no business time ahead of the clock).
        soon = now - timedelta(days=4)
        corrected, uncorrected, credential_only = credential(rng), credential(rng), credential(rng)
        journeys = {}
        for name, cred in (("corrected", corrected), ("uncorrected", uncorrected)):
            status = await stack.journeys.send(envelope(request(cred, when=soon), clave=cred["clave"]))
            journeys[name] = status.workflow_id
            await stack.journeys.send(
                envelope({"kind": "decide_review", "at": (soon + timedelta(days=1)).isoformat(), "reviewer": "derfe.3",
                          "outcome": "inconsistencies", "reasons": ["SIGNATURE_MISSING"]}, journey=status.workflow_id)
            )
        status = await stack.journeys.send(
            envelope({"kind": "record_credential", "at": soon.isoformat(), "credential": credential_only},
                     clave=credential_only["clave"])
        )
        journeys["credential only"] = status.workflow_id
        await stack.journeys.send(
            envelope({"kind": "send_subsane_documents", "at": (soon + timedelta(days=2)).isoformat(),
                      "documents": ["SIGNED_FORM"]}, journey=journeys["corrected"])
        )
        await stack.journeys.send(
            envelope({"kind": "decide_review", "at": (soon + timedelta(days=3)).isoformat(), "reviewer": "derfe.3",
                      "outcome": "meets_requirements"}, journey=journeys["corrected"])
        )

        # The server skips 36 days: the calendar's durable timers fire on their dates.
        await time_env.sleep(timedelta(days=36))
        calendar = time_env.client.get_workflow_handle_for(ProcessCalendarWorkflow.run, f"calendar-{process.id}")
        reports = await calendar.result()
        assert [r.milestone.value for r in reports] == list(process.milestones)
        assert [r.at for r in reports] == [process.milestone_at(m) for m in process.milestones]

        finals = {name: stack.registry.status(wid) for name, wid in journeys.items()}
        assert finals["corrected"].stage == "included"
        assert finals["credential only"].stage == "closed_without_request"
        assert finals["uncorrected"].stage == "excluded"
        uncorrected_events = [type(e).__name__ for e in stack.registry.history(journeys["uncorrected"])]
        assert uncorrected_events[-2:] == ["SubsaneExpired", "ExcludedFromDefinitiveList"]
        expired = stack.registry.history(journeys["uncorrected"])[-2]
        assert expired.at == process.milestone_at(Milestone.ANALYSIS_DEADLINE)
        stack.wait_for_projection()
        counts = stack.view.counts_as_of(process.id, None)
        assert counts["analysis"] == {"meets_requirements": 1, "rejected": 1}
        assert counts["stage"] == {"included": 1, "excluded": 1, "closed_without_request": 1}
