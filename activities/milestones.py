"""Applying a fired milestone to every journey it concerns.

``apply_milestone_in_bulk`` (the calendar's path since the ``bulk-milestones`` patch): waits
until the journey projection has caught up with the event log, pages through the journeys in
the stages the milestone can change, and records the milestone's event of a whole page of
journeys in one event-store transaction (no Temporal round trip per journey: journey workflows
end when idle and a later command wakes a new run from the recorded state). After each page it
heartbeats ``(cursor, result)``, so a retried attempt resumes where the last one stopped; the
milestone's command id makes a page applied twice a no-op. When the pass ends it waits for the
projection again and makes another pass, until one finds nothing to change: a journey the
projection had not shown yet is not left behind.

``fan_out_milestone`` is the earlier path (one ``apply_milestone`` Update per journey), kept
for calendars that fired a milestone before the patch.
"""

from __future__ import annotations

import asyncio
import time

from eventsourcing.persistence import IntegrityError
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

import logs
from domain.commands import ApplyMilestone
from domain.process import ProcessCatalog
from domain.registry import JourneyRegistry
from domain.rules import MILESTONE_STAGES
from projections.journey_counts import JourneyCountsView
from projections.lists import cut_parts
from workflows.messages import BulkMilestoneInput, CutListInput, FanOutInput, FanOutResult, ListCutReport
from workflows.journey import JourneyWorkflow

log = logs.get_logger("lnere.activities.milestones")

PAGE_SIZE = 500
# Journeys per event-store transaction in a bulk milestone.
BULK_PAGE_SIZE = 1000
# A page that keeps meeting concurrent writers is read again this many times, then the attempt fails.
CONFLICT_RETRIES = 20


def shard_bounds(shard: int, shards: int) -> tuple[str, str]:
    """[low, high) bounds of a shard over journey ids (UUID strings, uniformly distributed)."""
    low = "" if shard == 0 else f"{(shard * 256) // shards:02x}"
    high = "g" if shard == shards - 1 else f"{((shard + 1) * 256) // shards:02x}"
    return low, high


class MilestoneActivities:
    def __init__(
        self, client: Client, registry: JourneyRegistry, view: JourneyCountsView, processes: ProcessCatalog,
        concurrency: int = 32,
    ) -> None:
        self._client = client
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
        details = activity.info().heartbeat_details
        if len(details) == 3:  # resumed: (pass, cursor, result)
            sweep, cursor, result = int(details[0]), str(details[1]), FanOutResult.model_validate(details[2])
        else:
            sweep, cursor, result = 0, "", FanOutResult()
        if not stages:
            return result
        process = self._processes.get(input.process_id)
        command = ApplyMilestone(at=input.at, milestone=input.milestone, command_id=f"milestone:{input.milestone.value}")
        started = time.monotonic()
        while True:
            await self._wait_for_projection(sweep, cursor, result.model_dump())
            changed_in_sweep = 0
            while True:
                page = await asyncio.to_thread(
                    self._view.journeys_in_stages, input.process_id, stages, cursor, "g", BULK_PAGE_SIZE
                )
                if not page:
                    break
                outcomes = await self._apply_page(process, [w for _, w in page], command,
                                                  (sweep, cursor, result.model_dump()))
                # Changed by this milestone: now, or by an attempt that died before its heartbeat.
                changed = sum(o.accepted and not o.unchanged for o in outcomes)
                refused = [o for o in outcomes if not o.accepted]
                for outcome in refused:  # a journey the milestone cannot apply to is named, not hidden
                    log.warning("milestone refused by a journey", milestone=input.milestone.value, rule=outcome.rule)
                result.journeys_notified += len(page)
                result.journeys_changed += changed
                changed_in_sweep += sum(o.accepted and not o.unchanged and not o.already_recorded for o in outcomes)
                cursor = page[-1][0]
                activity.heartbeat(sweep, cursor, result.model_dump())
                elapsed = time.monotonic() - started
                log.info("milestone progress", milestone=input.milestone.value, process_id=input.process_id,
                         sweep=sweep, journeys=result.journeys_notified, changed=result.journeys_changed,
                         journeys_per_second=round(result.journeys_notified / elapsed, 1) if elapsed else None)
            if changed_in_sweep == 0:
                break
            sweep, cursor = sweep + 1, ""
            activity.heartbeat(sweep, cursor, result.model_dump())
        log.info("milestone applied", milestone=input.milestone.value, process_id=input.process_id,
                 journeys=result.journeys_notified, changed=result.journeys_changed,
                 seconds=round(time.monotonic() - started, 1))
        return result

    async def _apply_page(self, process, workflow_ids: list[str], command: ApplyMilestone, progress: tuple):
        """One transaction for the page; read again when another writer changed one of its
        journeys in between (optimistic concurrency)."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                return await asyncio.to_thread(
                    self._registry.record_for_many, process, [(w, command) for w in workflow_ids]
                )
            except IntegrityError:
                log.info("milestone page met a concurrent writer; reading it again", attempt=attempt + 1)
                activity.heartbeat(*progress)
                await asyncio.sleep(0.05 * (attempt + 1))
        raise RuntimeError(f"a page of {len(workflow_ids)} journeys kept changing under the milestone")

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
        command = ApplyMilestone(at=input.at, milestone=input.milestone, command_id=f"milestone:{input.milestone.value}")
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
