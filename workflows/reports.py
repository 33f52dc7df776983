"""The progress reports' workflow: a Temporal Schedule per process starts it on the report's
dates (``ElectoralProcess.report_schedule``; for a replayed process, when triggered); it only
orchestrates — one activity issues every issue that is due and not yet issued, so a run after
downtime catches up, and a second run issues nothing twice."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from lnere.workflows.messages import IssueReportsInput, IssueReportsResult


@workflow.defn
class IssueReportsWorkflow:
    @workflow.run
    async def run(self, input: IssueReportsInput) -> IssueReportsResult:
        return await workflow.execute_activity(
            "issue_due_reports",
            input,
            result_type=IssueReportsResult,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
        )
