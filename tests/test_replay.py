"""Determinism: journey histories replay against the current workflow code.

The journey workflow runs outside Temporal's sandbox (see workflows/journey.py), so these
replays are what checks it stays deterministic. ``tests/histories/`` keeps histories recorded
by an earlier version of the code: a change that would break journeys already running fails
here. Record them anew (only when a break is intended and running journeys are migrated) with
``LNERE_RECORD_HISTORIES=1 scripts/test.sh tests/test_replay.py``.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from lnere.domain.commands import CommandEnvelope, FireMilestone
from lnere.domain.process import MILESTONE_ORDER, ProcessCatalog
from lnere.worker import WORKFLOWS, workflow_runner
from tests.citizens import at, credential, request
from tests.conftest import DATA_CONVERTER, running_stack

HISTORIES = Path(__file__).parent / "histories"
RECORD = os.environ.get("LNERE_RECORD_HISTORIES") == "1"


def replayer() -> Replayer:
    return Replayer(workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER,
                    workflow_runner=workflow_runner())


@pytest.mark.asyncio(loop_scope="session")
async def test_journeys_run_now_replay(dev_env, settings):
    catalog = ProcessCatalog.load()
    process = catalog.get("pel-2020-2021").model_copy(update={"id": f"pel-test-{uuid.uuid4().hex[:12]}"})
    catalog.add(process)
    rng = random.Random(5)
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        # One command per Update, as the CLI sends them.
        one = credential(rng)
        status = await stack.journeys.send(CommandEnvelope.model_validate(
            {"process": process.id, "clave": one["clave"], "command": request(one, when=at("2020-10-01 10:00"))}))
        for command in (
            {"kind": "decide_review", "at": at("2020-10-05 10:00").isoformat(), "reviewer": "r",
             "outcome": "inconsistencies", "reasons": ["ID_IMAGE_ILLEGIBLE"]},
            {"kind": "send_subsane_documents", "at": at("2020-10-06 10:00").isoformat(), "documents": ["ID_IMAGE"]},
            {"kind": "decide_review", "at": at("2020-10-07 10:00").isoformat(), "reviewer": "r",
             "outcome": "meets_requirements"},
        ):
            await stack.journeys.send(CommandEnvelope.model_validate(
                {"process": process.id, "journey": status.workflow_id, "command": command}))
        # A bulk import's batch, with a refused command among accepted ones.
        two = credential(rng, kind="CPV", activated=False)
        batch_id = stack.journeys.workflow_id(CommandEnvelope.model_validate(
            {"process": process.id, "clave": two["clave"],
             "command": request(two, when=at("2020-10-02 10:00"), channel="SRVE")}))
        commands = [
            CommandEnvelope.model_validate({"process": process.id, "clave": two["clave"], "command": c}).command
            for c in (
                request(two, when=at("2020-10-02 10:00"), channel="SRVE"),
                {"kind": "send_subsane_documents", "at": at("2020-10-03 10:00").isoformat(), "documents": ["X"]},
                {"kind": "decide_review", "at": at("2020-10-04 10:00").isoformat(), "reviewer": "r",
                 "outcome": "meets_requirements"},
            )
        ]
        result = await stack.journeys.send_batch(process.id, batch_id, commands)
        assert [o.accepted for o in result.outcomes] == [True, False, True]
        # Inconsistencies never corrected, and a credential never followed by a request.
        three = credential(rng)
        expired = await stack.journeys.send(CommandEnvelope.model_validate(
            {"process": process.id, "clave": three["clave"], "command": request(three, when=at("2020-10-03 10:00"))}))
        await stack.journeys.send(CommandEnvelope.model_validate({"process": process.id, "journey": expired.workflow_id,
                                  "command": {"kind": "decide_review", "at": at("2020-10-08 10:00").isoformat(),
                                              "reviewer": "r", "outcome": "inconsistencies",
                                              "reasons": ["SIGNATURE_MISSING"]}}))
        four = credential(rng)
        four_id = stack.journeys.workflow_id(CommandEnvelope.model_validate(
            {"process": process.id, "clave": four["clave"],
             "command": {"kind": "record_credential", "at": at("2020-10-04 10:00").isoformat(), "credential": four}}))
        only_credential = await stack.journeys.send(CommandEnvelope.model_validate(
            {"process": process.id, "clave": four["clave"],
             "command": {"kind": "record_credential", "at": at("2020-10-04 10:00").isoformat(), "credential": four}}))
        # Outreach: the call that registered the first citizen, and a notice.
        from lnere.domain.commands import RecordOutboundCall, SendAutomatedNotice
        from lnere.workflows.messages import OutreachContact

        filed = CommandEnvelope.model_validate(
            {"process": process.id, "clave": one["clave"], "command": request(one, when=at("2020-10-01 10:00"))})
        outreach = await stack.journeys.send_outreach(process.id, [
            OutreachContact(journey=status.workflow_id, command=RecordOutboundCall(
                at=at("2020-10-01 10:00"), campaign="C", outcome="registered",
                request_command_id=filed.command.effective_id())),
            OutreachContact(journey=four_id, command=SendAutomatedNotice(
                at=at("2020-10-02 10:00"), campaign="N", channel="email")),
        ])
        assert [o.accepted for o in outreach.outcomes] == [True, True]
        # The calendar takes each to the end: included, excluded, closed without request.
        stack.wait_for_projection()
        for milestone in MILESTONE_ORDER:
            await stack.journeys.fire_milestone(process.id, FireMilestone(milestone=milestone))
        # The progress reports due (all thirteen: the business days passed March).
        from lnere.application.reports import issue_due_reports

        stack.wait_for_projection()
        assert len((await issue_due_reports(dev_env.client, process, settings.task_queue)).issued) == 13
        ids = (status.workflow_id, batch_id, expired.workflow_id, only_credential.workflow_id,
               f"calendar-{process.id}", f"outreach-{process.id}", f"lnere-reports-{process.id}-now")
        stages = [(await stack.journeys.status(wid)).stage for wid in ids[:4]]
        assert stages == ["included", "included", "excluded", "closed_without_request"]
        names = ("journey_one_command_per_update_to_included", "journey_batch_to_included",
                 "journey_subsane_expired_to_excluded", "journey_credential_only_closed", "calendar_every_milestone",
                 "outreach_batch", "reports_issue_due")
        # Every run: an included journey's delivery comes to a new run of its workflow.
        histories: dict[str, object] = {}
        for name, wid in zip(names, ids, strict=True):
            runs = [run async for run in dev_env.client.list_workflows(f"WorkflowId = '{wid}'")]
            runs.sort(key=lambda run: run.start_time)
            for index, run in enumerate(runs):
                label = name if index == 0 else f"{name}_then_run_{index + 1}"
                histories[label] = await dev_env.client.get_workflow_handle(wid, run_id=run.run_id).fetch_history()
    assert "journey_one_command_per_update_to_included_then_run_2" in histories  # the delivery's run
    for history in histories.values():
        await replayer().replay_workflow(history)
    if RECORD:
        HISTORIES.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d")
        for name, history in histories.items():
            path = HISTORIES / f"{name}-{stamp}.json"
            if not path.exists():  # histories are added beside the old ones, never replaced
                path.write_text(history.to_json(), encoding="utf-8")


@pytest.mark.fast
@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
@pytest.mark.asyncio(loop_scope="session")
async def test_saved_history_replays(path: Path):
    history = WorkflowHistory.from_json(f"saved-{path.stem}", path.read_text(encoding="utf-8"))
    await replayer().replay_workflow(history)


@pytest.mark.fast
def test_saved_histories_exist():
    # Each kind of workflow the worker runs has saved histories that replay.
    from lnere.worker import WORKFLOWS

    saved = {json.loads(p.read_text(encoding="utf-8"))["events"][0]["workflowExecutionStartedEventAttributes"]
             ["workflowType"]["name"] for p in HISTORIES.glob("*.json")}
    assert saved == {w.__temporal_workflow_definition.name for w in WORKFLOWS}  # type: ignore[attr-defined], "record them: LNERE_RECORD_HISTORIES=1"


@workflow.defn(name="ProcessCalendarWorkflow")
class ChangedCalendar:
    """A calendar whose code changed without a patch: it waits on a timer where the saved run
    fired its milestones."""

    @workflow.run
    async def run(self, *args: object) -> None:
        await workflow.sleep(timedelta(days=400))


@pytest.mark.fast
@pytest.mark.asyncio(loop_scope="session")
async def test_a_workflow_changed_without_a_patch_fails_replay():
    """The negative control of the replays above: they can fail."""
    path = sorted(HISTORIES.glob("calendar_every_milestone-*.json"))[0]
    history = WorkflowHistory.from_json(f"saved-{path.stem}", path.read_text(encoding="utf-8"))
    # Unsandboxed: the sandbox would import this test module again (it is not a workflow module).
    changed = Replayer(workflows=[ChangedCalendar], data_converter=DATA_CONVERTER,
                       workflow_runner=UnsandboxedWorkflowRunner())
    with pytest.raises(NondeterminismError):
        await changed.replay_workflow(history)
