"""What workflows and activities exchange: pydantic models, defined once outside the workflow
modules so the workflow sandbox passes them through (not built anew for every workflow run)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from lnere.domain.commands import JourneyCommand, OutreachCommand, RecordedCommand
from lnere.domain.process import ElectoralProcess, Milestone
from lnere.domain.rules import CommandOutcome, JourneyStatus


class JourneyInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    process: ElectoralProcess
    # The journey as recorded when the sender woke this run (None: no journey yet), when the
    # sender read it (``status_known``); a run that does not know it lets the aggregate decide.
    status: JourneyStatus | None = None
    status_known: bool = False


class JourneyCommandInput(BaseModel):
    """What a journey activity receives: the journey, its process, and one command."""

    workflow_id: str
    process_id: str
    command: RecordedCommand


MAX_BATCH = 200


class CommandBatch(BaseModel):
    """Commands to one journey, in business-time order (a bulk import sends these)."""

    model_config = ConfigDict(frozen=True)

    commands: list[JourneyCommand]


class BatchResult(BaseModel):
    status: JourneyStatus | None
    outcomes: list[CommandOutcome]


class JourneyBatchInput(BaseModel):
    workflow_id: str
    process_id: str
    commands: list[JourneyCommand]


class CalendarInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    process: ElectoralProcess


class FanOutInput(BaseModel):
    process_id: str
    milestone: Milestone
    at: datetime
    shard: int
    shards: int


class BulkMilestoneInput(BaseModel):
    process_id: str
    milestone: Milestone
    at: datetime


class FanOutResult(BaseModel):
    journeys_notified: int = 0
    journeys_changed: int = 0


class CutListInput(BaseModel):
    process_id: str
    kind: str  # review | definitive
    at: datetime


class ListCutReport(BaseModel):
    kind: str
    position: int
    citizens: int


class DeliveryInput(BaseModel):
    process_id: str
    at: datetime


class DeliveryResult(BaseModel):
    postal_sent: int = 0
    internet_access_issued: int = 0


class MilestoneReport(BaseModel):
    milestone: Milestone
    at: datetime
    journeys_notified: int
    journeys_changed: int
    fired_by: str | None = None
    list_cut: ListCutReport | None = None
    deliveries: DeliveryResult | None = None


class OutreachContact(BaseModel):
    journey: str | None = None  # the citizen's journey id (a keyed hash, never the clave); an attention may name none
    command: OutreachCommand


class OutreachBatch(BaseModel):
    """Outreach contacts of one process (a bulk import sends these)."""

    model_config = ConfigDict(frozen=True)

    contacts: list[OutreachContact]


class OutreachBatchInput(BaseModel):
    process_id: str
    contacts: list[OutreachContact]


class OutreachResult(BaseModel):
    outcomes: list[CommandOutcome]


class IssueReportsInput(BaseModel):
    """Issue the progress reports of a process that are due and not issued yet."""

    process_id: str


class IssueReportsResult(BaseModel):
    issued: list[int] = []  # the numbers issued by this run
    already: list[int] = []  # due ones that had been issued before
