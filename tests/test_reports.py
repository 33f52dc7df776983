"""The fortnightly progress reports (issue 17, part 1): issued on the schedule's dates — by
the clock for a live process, by the business days recorded for a replayed one — frozen at a
log position, recorded once, downloaded by a party who checks each hash, and made again from
the event log at that position byte for byte. Real stack: the Temporal dev server (Schedules;
the time-skipping server has none), a worker, the projection, the HTTP API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from lnere.domain.process import ProcessCatalog, ReportSchedule, load_process_file
from tests.citizens import at, credential, request

PEL_ISSUES = ["2020-09-16", "2020-10-01", "2020-10-16", "2020-11-01", "2020-11-16", "2020-12-01", "2020-12-16",
              "2021-01-01", "2021-01-16", "2021-02-01", "2021-02-16", "2021-03-01", "2021-03-16"]


def test_the_schedule_gives_every_issue_and_a_spec_that_is_not_a_calendar_is_refused(tmp_path):
    pel = ProcessCatalog.load().get("pel-2020-2021")
    times = pel.report_issue_times()
    assert [t.date().isoformat() for t in times] == PEL_ISSUES  # every issue between September and March
    assert {(t.hour, t.minute, t.utcoffset()) for t in times[:3]} == {(9, 0, timedelta(hours=-5))}
    assert times[-1].utcoffset() == timedelta(hours=-6)  # 09:00 Mexico City time, whatever its offset
    source = json.loads((Path(__file__).resolve().parent.parent / "domain/processes/pel-2020-2021.json").read_text())
    for bad, field in (({"days_of_month": [0, 16]}, "days_of_month"), ({"days_of_month": [32]}, "days_of_month"),
                       ({"days_of_month": []}, "days_of_month"), ({"days_of_month": [1, 1]}, "days_of_month"),
                       ({"days_of_month": [1], "hour": 24}, "hour"), ({"days_of_month": [1], "minute": -1}, "minute"),
                       ({"days_of_month": [1], "first_issue": "2021-01-02", "last_issue": "2021-01-01"},
                        "report_schedule"), ({"days_of_month": "1st and 16th"}, "days_of_month")):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({**source, "report_schedule": bad}))
        with pytest.raises(ValueError, match=field):
            load_process_file(path)
    assert ReportSchedule(days_of_month=(16, 1)).days_of_month == (1, 16)


def _population(rng: random.Random, process: str) -> tuple[list[dict], list[datetime]]:
    """Requests filed from September 2020 to March 2021, and a review after the last issue's
    date (so the business days recorded pass it)."""
    lines, filed = [], []
    start = at("2020-09-02 10:00")
    for i in range(90):
        when = start + timedelta(days=2 * i + rng.random())
        if when >= at("2021-03-10 10:00"):
            break
        citizen = credential(rng)
        lines.append({"process": process, "clave": citizen["clave"],
                      "command": request(citizen, when=when, channel=rng.choice(["INETEL", "SRVE"]))})
        filed.append(when)
    last = lines[-1]["clave"]
    lines.append({"process": process, "clave": last, "command": {
        "kind": "decide_review", "at": at("2021-03-18 10:00").isoformat(), "outcome": "meets_requirements",
        "reviewer": "derfe.ana"}})
    return lines, filed


@pytest.mark.asyncio(loop_scope="session")
async def test_a_replayed_process_gets_its_fortnightly_reports_and_a_party_verifies_each(dev_env, settings,
                                                                                           tmp_path):
    from lnere.application import reports as schedules
    from lnere.application.importer import run_import
    from lnere.projections.issued import figures_at, render
    from tests.conftest import own_process_catalog, running_api

    catalog, process_id = own_process_catalog()
    process = catalog.get(process_id)
    lines, filed = _population(random.Random(17), process_id)
    path = tmp_path / "population.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    async with (running_api(dev_env.client, settings, catalog, process_id) as api,
                httpx.AsyncClient(base_url=api.base_url, timeout=60) as http):
        summary = await run_import(path, api.stack.journeys, settings.data_dir / "imports",
                                   tmp_path / "rejects.jsonl")
        assert summary.refused == 0
        client, queue = dev_env.client, settings.task_queue
        # The schedule of a replayed process has no dates of its own: it is triggered.
        await schedules.ensure_report_schedule(client, process, queue)
        assert (await http.post(f"/api/v1/processes/{process_id}/report-schedule/trigger",
                                headers=api.auth("supervisor"))).status_code == 200
        deadline = time.monotonic() + 120
        while len(issued := api.stack.registry.issued_reports(process)) < len(PEL_ISSUES):
            assert time.monotonic() < deadline, f"{len(issued)} reports issued after 120 s"
            await asyncio.sleep(0.5)
        # A second run, scheduled or asked for, issues nothing twice.
        again = await schedules.issue_due_reports(client, process, queue)
        assert again.issued == [] and again.already == list(range(1, 14))
        # The schedule triggered again: its run's own result says it issued nothing new.
        schedule = client.get_schedule_handle(schedules.schedule_id(process))
        runs_before = len((await schedule.describe()).info.recent_actions)
        await http.post(f"/api/v1/processes/{process_id}/report-schedule/trigger", headers=api.auth("supervisor"))
        deadline = time.monotonic() + 60
        while len(actions := (await schedule.describe()).info.recent_actions) == runs_before:
            assert time.monotonic() < deadline, "the triggered run did not start"
            await asyncio.sleep(0.2)
        started = actions[-1].action
        from lnere.workflows.reports import IssueReportsWorkflow

        triggered = await client.get_workflow_handle_for(
            IssueReportsWorkflow.run, started.workflow_id, run_id=started.first_execution_run_id).result()
        assert triggered.issued == [] and triggered.already == list(range(1, 14))
        assert len(api.stack.registry.issued_reports(process)) == 13

        listed = (await http.get(f"/api/v1/processes/{process_id}/reports", headers=api.auth("party"))).json()
        assert [r["number"] for r in listed] == list(range(1, 14))
        assert [r["scheduled_for"][:10] for r in listed] == PEL_ISSUES
        head = api.stack.registry.recorder.max_notification_id()
        previous_total = 0
        for entry in listed:
            as_of = date.fromisoformat(entry["as_of"])
            assert as_of == date.fromisoformat(entry["scheduled_for"][:10]) - timedelta(days=1)
            for rendering in ("json", "csv", "md"):
                answer = await http.get(f"/api/v1/processes/{process_id}/reports/{entry['number']}",
                                        params={"format": rendering}, headers=api.auth("party"))
                assert answer.status_code == 200
                digest = hashlib.sha256(answer.content).hexdigest()
                assert digest == answer.headers["x-content-sha256"] == entry["sha256"][rendering]
            figures = json.loads((await http.get(f"/api/v1/processes/{process_id}/reports/{entry['number']}",
                                                 headers=api.auth("party"))).content)
            # The figures are those of the day before the issue, counted here from the file.
            expected = sum(1 for when in filed if when.date() <= as_of)
            assert figures["by_channel"]["TOTAL"] == expected, entry
            assert figures["as_of"] == entry["as_of"] and figures["log_position"] == entry["position"] <= head
            assert (entry["changes"] > 0) == (expected != previous_total) or entry["number"] == 1
            previous_total = expected
            # Made again from the event log up to its position alone: the same bytes.
            again_figures = await asyncio.to_thread(figures_at, settings, process, entry["position"], as_of)
            assert hashlib.sha256(render(again_figures, "json")).hexdigest() == entry["sha256"]["json"]
        with pytest.raises(ValueError, match="past the event log"):
            figures_at(settings, process, head + 10, None)  # a report asked for a future position
        assert (await http.get(f"/api/v1/processes/{process_id}/reports/14",
                               headers=api.auth("party"))).status_code == 404
        assert (await http.get(f"/api/v1/processes/{process_id}/reports/1",
                               headers=api.auth("operator"))).status_code == 403


def _live_copy(catalog: ProcessCatalog, schedule: ReportSchedule) -> str:
    base = catalog.get("pel-2020-2021")
    process = base.model_copy(update={"id": f"pel-live-{uuid.uuid4().hex[:10]}", "milestone_mode": "live",
                                      "report_schedule": schedule})
    catalog.add(process)
    return process.id


@pytest.mark.asyncio(loop_scope="session")
# Its subject is the schedule's clock (storage is the replayed process's test's, on both backends).
@pytest.mark.any_backend
async def test_a_live_process_issues_on_its_date_and_catches_up_once_after_downtime(dev_env, settings):
    from lnere.application import reports as schedules
    from tests.conftest import running_stack

    catalog = ProcessCatalog.load()
    now = datetime.now(UTC).astimezone(catalog.get("pel-2020-2021").tz)
    if now.second >= 40:  # the next minute is too close to set up before it: wait for the one after
        await asyncio.sleep(61 - now.second)
        now = datetime.now(UTC).astimezone(catalog.get("pel-2020-2021").tz)
    # Two issues missed while no worker ran (yesterday and the day before), one due in the next
    # minute (at least 20 s away).
    soon = now + timedelta(minutes=1)
    missed = [now.date() - timedelta(days=2), now.date() - timedelta(days=1)]
    days = sorted({d.day for d in missed} | {soon.day})
    process_id = _live_copy(catalog, ReportSchedule(days_of_month=tuple(days), hour=soon.hour, minute=soon.minute,
                                                    first_issue=missed[0], last_issue=soon.date()))
    process = catalog.get(process_id)
    times = process.report_issue_times()
    assert [t.date() for t in times] == [*missed, soon.date()]
    handle = await schedules.ensure_report_schedule(dev_env.client, process, settings.task_queue)
    assert handle is not None
    state = await schedules.schedule_state(dev_env.client, process)
    next_run = datetime.fromisoformat(state["next_runs"][0]).astimezone(process.tz)
    assert (next_run.date(), next_run.hour, next_run.minute) == (soon.date(), soon.hour, soon.minute)
    # The stack was down when the two missed issues' runs came: a supervisor's trigger (twice)
    # queues runs that wait for a worker.
    await schedules.act_on_schedule(dev_env.client, process, "trigger")
    await schedules.act_on_schedule(dev_env.client, process, "trigger")
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        deadline = time.monotonic() + 60
        while len(stack.registry.issued_reports(process)) < 2:
            assert time.monotonic() < deadline, "the missed issues were not caught up"
            await asyncio.sleep(0.5)
        # On its date, the schedule itself runs: the third issue appears with nobody asking.
        deadline = time.monotonic() + 240
        while len(issued := stack.registry.issued_reports(process)) < 3:
            assert time.monotonic() < deadline, "the schedule did not issue on its date"
            await asyncio.sleep(1)
        assert [r.number for r in issued] == [1, 2, 3]
        assert [r.as_of for r in issued] == [(t.date() - timedelta(days=1)).isoformat() for t in times]
        described = await handle.describe()
        assert described.info.num_actions >= 3
    await handle.delete()
