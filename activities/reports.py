"""Issuing the progress reports: every issue of the process's schedule that is due (its date
has come: by the clock for a live process, by the business days recorded for a replayed one)
and not yet issued is issued in order — figures as of the day before the issue, and each state's own,
frozen at one position the projection has reached once it has caught up with the event log — and recorded
once (``IssuedReport``), with the SHA-256 of each rendering and the changes since the previous
issue. Idempotent: a retried or repeated run issues nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from temporalio import activity

from lnere import logs
from lnere.domain.process import ElectoralProcess, ProcessCatalog
from lnere.domain.reports import IssuedReport
from lnere.projections.issued import changes, digests
from lnere.projections.journey_counts import CountsView
from lnere.projections.report import build_reports
from lnere.projections.runner import wait_for_position
from lnere.store.registry import JourneyRegistry
from lnere.workflows.messages import IssueReportsInput, IssueReportsResult

log = logs.get_logger("lnere.reports")


class ReportActivities:
    def __init__(self, registry: JourneyRegistry, view: CountsView, processes: ProcessCatalog,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._registry = registry
        self._view = view
        self._processes = processes
        self._clock = clock

    def business_now(self, process: ElectoralProcess) -> datetime | None:
        """When the process is: the clock for a live process; for a replayed one, the end of
        the latest business day a journey moved on (``CountsView.last_business_day``; None
        before any did)."""
        if process.milestone_mode == "live":
            return self._clock()
        day = self._view.last_business_day(process.id)
        return datetime.combine(day, time.max, process.tz) if day else None

    @activity.defn(name="issue_due_reports")
    def issue_due_reports(self, input: IssueReportsInput) -> IssueReportsResult:
        process = self._processes.get(input.process_id)
        result = IssueReportsResult()
        previous: IssuedReport | None = None
        caught_up = False
        now = self.business_now(process)
        for number, moment in enumerate(process.report_issue_times(), start=1):
            if now is None or moment > now:
                break
            existing = self._registry.issued_report(process.id, moment)
            if existing is not None:
                previous = existing
                result.already.append(number)
                continue
            if not caught_up:  # the figures include everything recorded before the issue
                head = self._registry.head()
                wait_for_position(self._view, head, timeout=1500, report=lambda *_: activity.heartbeat())
                caught_up = True
            as_of = moment.date() - timedelta(days=1)
            figures, by_state = build_reports(self._view, process, as_of)
            report = self._registry.record_issued_report(IssuedReport(
                process_id=process.id, number=number, scheduled_for=moment, as_of=as_of.isoformat(),
                position=figures["log_position"], figures=figures, sha256=digests(figures),
                changes=changes(previous.figures if previous else None, figures), state_figures=by_state,
                state_sha256={state: digests(slice_) for state, slice_ in by_state.items()}))
            previous = report
            result.issued.append(number)
            activity.heartbeat(number)
            log.info("progress report issued", process_id=process.id, number=number, as_of=as_of.isoformat(),
                     position=report.position, changes=len(report.changes))
        return result
