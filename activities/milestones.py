"""Applying a fired milestone to every journey it concerns.

``apply_milestone_in_bulk`` (the calendar's path since the ``bulk-milestones`` patch): waits
until the journey projection has caught up with the event log, pages through the journeys in
the stages the milestone can change, and records the milestone's event of a whole page of
journeys in one event-store transaction (no Temporal round trip per journey: journey workflows
end when idle and a later command wakes a new run from the recorded state). Each page is saved
with the run's progress (``domain/milestone_run.py``), so a retried attempt resumes where the
last committed page left it, whatever killed the one before; heartbeats only show it is alive.
The milestone's command id makes a page applied twice a no-op. When the pass ends it waits for
the projection again and makes another pass, until one finds nothing to change: a journey the
projection had not shown yet is not left behind.

``fan_out_milestone`` is the earlier path (one ``apply_milestone`` Update per journey), kept
for calendars that fired a milestone before the patch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from eventsourcing.persistence import IntegrityError
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from lnere import logs, metrics
from lnere.domain.commands import ApplyMilestone
from lnere.domain.process import Milestone, ProcessCatalog
from lnere.domain.rules import MILESTONE_STAGES
from lnere.projections.journey_counts import CountsView
from lnere.projections.lists import cut_parts
from lnere.store.registry import JourneyRegistry
from lnere.workflows.journey import JourneyWorkflow
from lnere.workflows.messages import BulkMilestoneInput, CutListInput, FanOutInput, FanOutResult, ListCutReport

log = logs.get_logger("lnere.activities.milestones")

PAGE_SIZE = 500
# Journeys per event-store transaction in a bulk milestone.
BULK_PAGE_SIZE = 1000
# A page that keeps meeting concurrent writers is read again this many times, then the attempt fails.
CONFLICT_RETRIES = 20


def _count_page(process_id: str, milestone: str, seen: int, changed: int, seconds: float) -> None:
    metrics.MILESTONE_JOURNEYS.labels(process=process_id, milestone=milestone, result="seen").inc(max(seen, 0))
    metrics.MILESTONE_JOURNEYS.labels(process=process_id, milestone=milestone, result="changed").inc(max(changed, 0))
    metrics.MILESTONE_PAGES.labels(milestone=milestone).observe(seconds)


def shard_bounds(shard: int, shards: int) -> tuple[str, str]:
    """[low, high) bounds of a shard over journey ids (UUID strings, uniformly distributed)."""
    low = "" if shard == 0 else f"{(shard * 256) // shards:02x}"
    high = "g" if shard == shards - 1 else f"{((shard + 1) * 256) // shards:02x}"
    return low, high


class MilestoneActivities:
    def __init__(
        self, client: Client, registry: JourneyRegistry, view: CountsView, processes: ProcessCatalog,
        concurrency: int = 32, page_size: int = BULK_PAGE_SIZE,
        after_page: Callable[[Milestone, int, tuple[str, str]], None] | None = None,
    ) -> None:
        self._client = client
        self._page_size = page_size
        # Called after each page's commit and heartbeat (with the journeys changed so far and the
        # page's first and last journey); lets the fault tests fail an attempt there.
        self._after_page = after_page
        self._processes = processes
        self._registry = registry
        self._view = view
        self._concurrency = concurrency

    async def _wait_for_projection(self, *progress: object) -> None:
        """Waits until the projection holds every event recorded so far; heartbeats ``progress``
        (what a retried attempt resumes from) while it waits."""
        head = await asyncio.to_thread(self._registry.recorder.max_notification_id) or 0
        logged = 0.0
        while (position := await asyncio.to_thread(self._view.position)) < head:
            activity.heartbeat(*progress)
            if time.monotonic() - logged > 5:
                log.info("waiting for the journey projection", position=position, head=head)
                logged = time.monotonic()
            await asyncio.sleep(0.1)

    @activity.defn(name="apply_milestone_in_bulk")
    async def apply_milestone_in_bulk(self, input: BulkMilestoneInput) -> FanOutResult:
        stages = sorted(s.value for s in MILESTONE_STAGES[input.milestone])
        process = self._processes.get(input.process_id)
        command = ApplyMilestone(at=input.at, milestone=input.milestone,
                                 command_id=f"milestone:{input.milestone.value}")
        # Where the run stands is read from the event store (recorded with each page), not from
        # heartbeats, which a killed worker may not have sent: a resumed run skips nothing.
        # Its firing is recorded before any page: from then on it closes the doors it closes.
        run = await asyncio.to_thread(self._registry.start_milestone_run, process, input.milestone.value, input.at)
        if not stages and not run.completed:
            run.complete()
            await asyncio.to_thread(self._registry.save_milestone_run, run)
        started = time.monotonic()
        seen_at_start = run.journeys_seen
        while not run.completed:
            await self._wait_for_projection(run.sweep, run.cursor)
            while True:
                page = await asyncio.to_thread(
                    self._view.journeys_in_stages, input.process_id, stages, run.cursor, "g", self._page_size
                )
                if not page:
                    break
                page_started, seen_before, changed_before = time.monotonic(), run.journeys_seen, run.journeys_changed
                run, outcomes = await self._apply_page(process, run, command, page)
                _count_page(input.process_id, input.milestone.value, run.journeys_seen - seen_before,
                            run.journeys_changed - changed_before, time.monotonic() - page_started)
                for outcome in outcomes:  # a journey the milestone cannot apply to is named, not hidden
                    if not outcome.accepted:
                        log.warning("milestone refused by a journey", milestone=input.milestone.value,
                                    rule=outcome.rule)
                activity.heartbeat(run.sweep, run.cursor)
                if self._after_page is not None:
                    self._after_page(input.milestone, run.journeys_changed, (page[0][0], page[-1][0]))
                elapsed = time.monotonic() - started
                rate = round((run.journeys_seen - seen_at_start) / elapsed, 1) if elapsed else None
                log.info("milestone progress", milestone=input.milestone.value, process_id=input.process_id,
                         sweep=run.sweep, journeys=run.journeys_seen, changed=run.journeys_changed,
                         journeys_per_second=rate)
            # A pass that changed nothing ends the run; otherwise another pass finds journeys
            # the projection had not shown yet.
            if run.changed_in_sweep == 0:
                run.complete()
            else:
                run.pass_ended()
            await asyncio.to_thread(self._registry.save_milestone_run, run)
        log.info("milestone applied", milestone=input.milestone.value, process_id=input.process_id,
                 journeys=run.journeys_seen, changed=run.journeys_changed, seconds=round(time.monotonic() - started, 1))
        return FanOutResult(journeys_notified=run.journeys_seen, journeys_changed=run.journeys_changed)

    async def _apply_page(self, process, run, command: ApplyMilestone, page: list[tuple[str, str]]):
        """One transaction for the page and the run's progress; on a conflict (another writer
        changed a journey of the page, or another attempt moved the run) both are read again."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                outcomes = await asyncio.to_thread(
                    self._registry.apply_milestone_page, process, run, command, [w for _, w in page], page[-1][0]
                )
                return run, outcomes
            except IntegrityError:
                log.info("milestone page met a concurrent writer; reading it again", attempt=attempt + 1)
                activity.heartbeat(run.sweep, run.cursor)
                await asyncio.sleep(0.05 * (attempt + 1))
                fresh = await asyncio.to_thread(self._registry.milestone_run, process, run.milestone, run.at)
                if fresh.cursor != run.cursor or fresh.sweep != run.sweep:
                    raise RuntimeError("another attempt is applying this milestone") from None
                run = fresh
        raise RuntimeError(f"a page of {len(page)} journeys kept changing under the milestone")

    @activity.defn(name="cut_list")
    async def cut_list(self, input: CutListInput) -> ListCutReport:
        """Cuts a list at its milestone, once the fan-out's events are all in the projection:
        records the position and each part's size and export hash."""
        process = self._processes.get(input.process_id)
        existing = await asyncio.to_thread(self._registry.list_cut, process.id, input.kind)
        if existing is None:
            await self._wait_for_projection()
            position = await asyncio.to_thread(self._view.position)
            parts = await asyncio.to_thread(cut_parts, self._view, self._registry, process, input.kind, position)
            existing = await asyncio.to_thread(
                self._registry.record_list_cut, process, input.kind, input.at, position, parts
            )
        log.info("list cut", process_id=process.id, kind=input.kind, position=existing.position,
                 citizens=sum(p["citizens"] for p in existing.parts))
        return ListCutReport(kind=input.kind, position=existing.position,
                             citizens=sum(p["citizens"] for p in existing.parts))

    @activity.defn(name="fan_out_milestone")
    async def fan_out_milestone(self, input: FanOutInput) -> FanOutResult:
        stages = sorted(s.value for s in MILESTONE_STAGES[input.milestone])
        result = FanOutResult()
        if not stages:
            return result
        details = activity.info().heartbeat_details
        low, high = shard_bounds(input.shard, input.shards)
        cursor = details[0] if len(details) == 2 else low
        if len(details) == 2:
            result = FanOutResult.model_validate(details[1])
        await self._wait_for_projection(cursor, result.model_dump())
        command = ApplyMilestone(at=input.at, milestone=input.milestone,
                                 command_id=f"milestone:{input.milestone.value}")
        semaphore = asyncio.Semaphore(self._concurrency)

        async def notify(workflow_id: str) -> bool:
            async with semaphore:
                handle = self._client.get_workflow_handle(workflow_id)
                try:
                    status = await handle.execute_update(
                        JourneyWorkflow.apply_milestone, command, id=f"milestone:{input.milestone.value}"
                    )
                except RPCError as error:
                    if error.status == RPCStatusCode.NOT_FOUND:  # the journey has already ended
                        return False
                    raise
                except WorkflowUpdateFailedError as error:
                    log.warning("milestone refused by a journey", workflow_id=workflow_id, error=str(error.cause))
                    return False
                return status is not None and status.stage not in MILESTONE_STAGES[input.milestone]

        while True:
            page = await asyncio.to_thread(
                self._view.journeys_in_stages, input.process_id, stages, cursor, high, PAGE_SIZE
            )
            if not page:
                break
            changed = await asyncio.gather(*(notify(workflow_id) for _, workflow_id in page))
            result.journeys_notified += len(page)
            result.journeys_changed += sum(changed)
            cursor = page[-1][0]
            activity.heartbeat(cursor, result.model_dump())
            log.info(
                "milestone fan-out progress",
                milestone=input.milestone.value,
                shard=input.shard,
                notified=result.journeys_notified,
            )
        return result
