"""The outreach workflow: one per process, records the call centre's outbound calls and the
automated notices in batches. It only orchestrates: each batch is one local activity and one
event-store transaction. Idle for a while, it ends; the next batch starts a new run."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from lnere.domain.rules import DomainError
    from lnere.workflows.messages import MAX_BATCH, OutreachBatch, OutreachBatchInput, OutreachResult
    from lnere.workflows.refusals import refusal_failure

IDLE = timedelta(minutes=1)


@workflow.defn
class OutreachWorkflow:
    @workflow.init
    def __init__(self, process_id: str) -> None:
        self._process_id = process_id
        self._busy = False
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, process_id: str) -> None:
        while True:
            self._busy = False
            try:
                await workflow.wait_condition(lambda: self._busy, timeout=IDLE)
            except TimeoutError:
                break
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(process_id)
        await workflow.wait_condition(workflow.all_handlers_finished)

    @workflow.update
    async def record_outreach(self, batch: OutreachBatch) -> OutreachResult:
        self._busy = True
        async with self._lock:
            return await workflow.execute_local_activity(
                "record_outreach",
                OutreachBatchInput(process_id=self._process_id, contacts=batch.contacts),
                result_type=OutreachResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10),
                                         non_retryable_error_types=["DomainError"]),
            )

    @record_outreach.validator
    def _validate(self, batch: OutreachBatch) -> None:
        if not 1 <= len(batch.contacts) <= MAX_BATCH:
            raise refusal_failure(DomainError(
                "contacts", "batch-size", f"a batch holds 1 to {MAX_BATCH} contacts, got {len(batch.contacts)}"))
