"""The milestone fan-out: sends a fired milestone to every journey it concerns.

One activity per shard of the journey id space. It first waits until the journey projection
has caught up with the event log as it stood when the milestone fired, then pages through the
journeys in the stages the milestone can change and sends each an ``apply_milestone`` Update
(bounded concurrency). Its cursor is heartbeated, so a retried shard resumes where it stopped;
the Update id makes a repeated delivery a no-op.
"""

from __future__ import annotations

import asyncio

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
from workflows.messages import CutListInput, FanOutInput, FanOutResult, ListCutReport
from workflows.journey import JourneyWorkflow

log = logs.get_logger("lnere.activities.milestones")

PAGE_SIZE = 500


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

    async def _wait_for_projection(self) -> None:
        head = await asyncio.to_thread(self._registry.recorder.max_notification_id) or 0
        while (position := await asyncio.to_thread(self._view.position)) < head:
            activity.heartbeat(None)
            log.info("waiting for the journey projection", position=position, head=head)
            await asyncio.sleep(0.2)

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
        cursor = details[0] if details else low
        if details:
            result = FanOutResult.model_validate(details[1])
        await self._wait_for_projection()
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
