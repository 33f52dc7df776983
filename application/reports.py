"""The progress reports' schedules in Temporal, one per process that has a report schedule
(``ElectoralProcess.report_schedule``): a live process's schedule starts ``IssueReportsWorkflow``
on the report's dates (the process's time zone); a replayed process's has no dates of its own —
it is triggered (after an import, or by a supervisor) and issues the reports whose dates the
business days recorded have passed. A supervisor may pause, resume or trigger either."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from lnere.domain.process import ElectoralProcess
from lnere.workflows.messages import IssueReportsInput, IssueReportsResult
from lnere.workflows.reports import IssueReportsWorkflow

# A run missed while the stack was down is made when it is back, within this window (the
# run then issues every issue due: nothing is lost beyond it either, only later).
CATCHUP_WINDOW = timedelta(days=30)
SCHEDULE_ACTIONS = ("pause", "resume", "trigger")


def schedule_id(process: ElectoralProcess) -> str:
    return f"lnere-reports-{process.id}"


def report_schedule(process: ElectoralProcess, task_queue: str) -> Schedule:
    """The process's schedule: its report dates (live), or none (replayed: triggered)."""
    plan = process.report_schedule
    assert plan is not None, "a process without a report schedule has none in Temporal"
    spec = ScheduleSpec()
    if process.milestone_mode == "live":
        times = process.report_issue_times()
        spec = ScheduleSpec(
            calendars=[ScheduleCalendarSpec(day_of_month=[ScheduleRange(day) for day in plan.days_of_month],
                                            hour=[ScheduleRange(plan.hour)], minute=[ScheduleRange(plan.minute)],
                                            second=[ScheduleRange(0)], comment="progress report")],
            time_zone_name=process.timezone,
            start_at=times[0] - timedelta(minutes=1) if times else None,
            end_at=times[-1] + timedelta(minutes=1) if times else None,
        )
    return Schedule(
        action=ScheduleActionStartWorkflow(IssueReportsWorkflow.run, IssueReportsInput(process_id=process.id),
                                           id=f"lnere-reports-{process.id}", task_queue=task_queue),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE, catchup_window=CATCHUP_WINDOW),
        state=ScheduleState(note=f"progress reports of {process.name}"),
    )


async def ensure_report_schedule(client: Client, process: ElectoralProcess, task_queue: str) -> ScheduleHandle | None:
    """The process's schedule, created if missing (None: the process has no report schedule)."""
    if process.report_schedule is None:
        return None
    try:
        return await client.create_schedule(schedule_id(process), report_schedule(process, task_queue))
    except ScheduleAlreadyRunningError:
        return client.get_schedule_handle(schedule_id(process))


async def schedule_state(client: Client, process: ElectoralProcess) -> dict[str, Any]:
    """What a supervisor sees of the schedule: paused and why, next runs, recent runs."""
    described = await client.get_schedule_handle(schedule_id(process)).describe()
    info, state = described.info, described.schedule.state
    return {"schedule": schedule_id(process), "paused": state.paused, "note": state.note,
            "next_runs": [moment.isoformat() for moment in info.next_action_times[:5]],
            "recent_runs": [{"scheduled": action.scheduled_at.isoformat(), "started": action.started_at.isoformat()}
                            for action in info.recent_actions[-5:]],
            "runs": info.num_actions, "missed_runs": info.num_actions_missed_catchup_window}


async def act_on_schedule(client: Client, process: ElectoralProcess, action: str, note: str | None = None) -> None:
    handle = client.get_schedule_handle(schedule_id(process))
    if action == "pause":
        await handle.pause(note=note or "paused by a supervisor")
    elif action == "resume":
        await handle.unpause(note=note or "resumed by a supervisor")
    elif action == "trigger":
        await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
    else:
        raise ValueError(f"no schedule action {action!r} (one of {', '.join(SCHEDULE_ACTIONS)})")


async def issue_due_reports(client: Client, process: ElectoralProcess, task_queue: str) -> IssueReportsResult:
    """Issues the due reports now and waits for them (what a triggered run does, answered)."""
    return await client.execute_workflow(
        IssueReportsWorkflow.run, IssueReportsInput(process_id=process.id), id=f"lnere-reports-{process.id}-now",
        task_queue=task_queue, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
