"""The process calendar: one workflow per electoral process that fires its milestones.

In live mode each milestone fires at its configured date from a durable timer; in replay mode
(``on_command``) it fires when an administrator says so. Either way the calendar applies the
milestone to the journeys it concerns in bulk: one activity records the milestone's events of a
page of journeys per event-store transaction (``activities/milestones.py``); calendars that
fired before the ``bulk-milestones`` patch replay their per-journey fan-out. After the list for
review and the definitive list, it cuts that list (position, sizes, export hashes); after the
definitive list, it sends each included citizen the postal package or the internet access.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from lnere.domain import rules
    from lnere.domain.commands import FireMilestone
    from lnere.domain.lists import ListKind
    from lnere.domain.process import MILESTONE_ORDER, Milestone
    from lnere.domain.refusals import RefusalKind
    from lnere.workflows.messages import (
        BulkMilestoneInput,
        CalendarInput,
        CutListInput,
        DeliveryInput,
        DeliveryResult,
        FanOutInput,
        FanOutResult,
        ListCutReport,
        MilestoneReport,
    )
    from lnere.workflows.refusals import refusal_failure

FAN_OUT_SHARDS = 4
# The lists cut when these milestones have been applied to every journey.
LIST_CUTS = {Milestone.LIST_FOR_REVIEW_ISSUED: ListKind.REVIEW, Milestone.DEFINITIVE_LIST: ListKind.DEFINITIVE}


@workflow.defn
class ProcessCalendarWorkflow:
    @workflow.init
    def __init__(self, input: CalendarInput) -> None:
        self._process = input.process
        self._fired: dict[Milestone, MilestoneReport] = {}
        self._requested: dict[Milestone, datetime] = {}
        self._fired_by: dict[Milestone, str] = {}  # milestones an administrator fired early

    def _is_requested(self, milestone: Milestone) -> Callable[[], bool]:
        return lambda: milestone in self._requested

    @workflow.run
    async def run(self, input: CalendarInput) -> list[MilestoneReport]:
        for milestone in MILESTONE_ORDER:
            configured = self._process.milestone_at(milestone)
            if self._process.milestone_mode == "live":
                delay = configured - workflow.now()
                if delay > timedelta(0):
                    try:
                        await workflow.wait_condition(self._is_requested(milestone), timeout=delay)
                    except TimeoutError:
                        pass
                at = self._requested.get(milestone, configured)
            else:
                await workflow.wait_condition(self._is_requested(milestone))
                at = self._requested[milestone]
            report = await self._fan_out(milestone, at)
            if milestone in LIST_CUTS and workflow.patched("list-cuts"):
                cut = await workflow.execute_activity(
                    "cut_list",
                    CutListInput(process_id=self._process.id, kind=LIST_CUTS[milestone], at=at),
                    result_type=ListCutReport,
                    start_to_close_timeout=timedelta(hours=12),
                    heartbeat_timeout=timedelta(seconds=60),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
                )
                report = report.model_copy(update={"list_cut": cut})
            if milestone is Milestone.DEFINITIVE_LIST and workflow.patched("deliveries"):
                delivered = await workflow.execute_activity(
                    "deliver_definitive_list",
                    DeliveryInput(process_id=self._process.id, at=at),
                    result_type=DeliveryResult,
                    start_to_close_timeout=timedelta(hours=24),
                    heartbeat_timeout=timedelta(seconds=120),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
                )
                report = report.model_copy(update={"deliveries": delivered})
            self._fired[milestone] = report
        await workflow.wait_condition(workflow.all_handlers_finished)
        return list(self._fired.values())

    async def _fan_out(self, milestone: Milestone, at: datetime) -> MilestoneReport:
        workflow.logger.info("milestone fired", extra={"milestone": milestone.value, "process_id": self._process.id})
        if workflow.patched("bulk-milestones"):
            # Heartbeats after every page (and while it waits for the projection): an attempt
            # that stops is retried from its last page, with a back-off up to 30 s.
            results = [await workflow.execute_activity(
                "apply_milestone_in_bulk",
                BulkMilestoneInput(process_id=self._process.id, milestone=milestone, at=at),
                result_type=FanOutResult,
                start_to_close_timeout=timedelta(hours=12),
                heartbeat_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )]
            return self._report(milestone, at, results)
        results = await asyncio.gather(
            *(
                workflow.execute_activity(
                    "fan_out_milestone",
                    FanOutInput(process_id=self._process.id, milestone=milestone, at=at, shard=i,
                                shards=FAN_OUT_SHARDS),
                    result_type=FanOutResult,
                    start_to_close_timeout=timedelta(hours=12),
                    heartbeat_timeout=timedelta(seconds=60),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
                )
                for i in range(FAN_OUT_SHARDS)
            )
        )
        return self._report(milestone, at, results)

    def _report(self, milestone: Milestone, at: datetime, results: list[FanOutResult]) -> MilestoneReport:
        return MilestoneReport(
            milestone=milestone,
            at=at,
            journeys_notified=sum(r.journeys_notified for r in results),
            journeys_changed=sum(r.journeys_changed for r in results),
            fired_by=self._fired_by.get(milestone),
        )

    @workflow.query
    def fired(self) -> list[MilestoneReport]:
        return list(self._fired.values())

    @workflow.update
    async def fire(self, command: FireMilestone) -> MilestoneReport:
        """Fires a milestone and answers once every journey it concerns has applied it."""
        if command.milestone not in self._requested:
            self._requested[command.milestone] = command.at or self._process.milestone_at(command.milestone)
            if command.recorded_by is not None:
                self._fired_by[command.milestone] = command.recorded_by
        await workflow.wait_condition(lambda: command.milestone in self._fired)
        return self._fired[command.milestone]

    @fire.validator
    def _validate_fire(self, command: FireMilestone) -> None:
        if command.milestone in self._fired or command.milestone in self._requested:
            return  # repeated: answered with the report of the first firing
        try:
            rules.check_business_time(self._process, command)
        except rules.DomainError as error:
            raise refusal_failure(error) from None
        position = MILESTONE_ORDER.index(command.milestone)
        missing = [m.value for m in MILESTONE_ORDER[:position] if m not in self._requested]
        if missing:
            raise refusal_failure(rules.DomainError(
                "milestone", "milestone-order", f"{command.milestone.value} cannot fire before {', '.join(missing)}",
                RefusalKind.INVALID))
        previous_at = max(self._requested.values(), default=None)
        at = command.at or self._process.milestone_at(command.milestone)
        if previous_at is not None and at < previous_at:
            raise refusal_failure(rules.DomainError(
                "at", "milestone-time-order",
                f"{at.isoformat()} is before the previous milestone at {previous_at.isoformat()}"))
