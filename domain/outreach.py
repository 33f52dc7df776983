"""Outreach: the contacts an electoral process makes with one citizen — the call centre's
outbound calls and automated notices — whether or not the citizen ever files a request.

One aggregate per citizen and process, beside the citizen's journey (same keyed id, no clave).
Each event carries the process and its timezone so the figures count it on its business day.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from lnere.domain import rules
from lnere.domain.commands import RecordOutboundCall, SendAutomatedNotice, seen
from lnere.domain.identity import outreach_uuid
from lnere.domain.process import ElectoralProcess


class Outreach(Aggregate):
    @staticmethod
    def create_id(workflow_id: str) -> UUID:
        return outreach_uuid(workflow_id)

    class Started(Aggregate.Created):
        process_id: str
        workflow_id: str
        timezone: str

    @event(Started)
    def __init__(self, process_id: str, workflow_id: str, timezone: str) -> None:
        self.process_id = process_id
        self.workflow_id = workflow_id  # the citizen's journey id (a keyed hash)
        self.timezone = timezone
        self.processed_commands: set[str] = set()
        self.deceased = False

    def has_processed(self, command_id: str) -> bool:
        return seen(self.processed_commands, command_id)

    def check_command_id(self, command_id: str) -> None:
        """Another outcome of the same call (the same id, other content) is refused, never counted."""
        rules.check_command_id(self.processed_commands, command_id, "contact with this citizen")

    def record_outbound_call(self, process: ElectoralProcess, cmd: RecordOutboundCall, command_id: str) -> None:
        self._call_recorded(
            at=cmd.at, command_id=command_id, process_id=process.id, timezone=process.timezone,
            campaign=cmd.campaign, outcome=cmd.outcome, request_command_id=cmd.request_command_id,
            recorded_by=cmd.recorded_by,
        )

    class OutboundCallRecorded(Aggregate.Event):
        at: datetime
        command_id: str
        process_id: str
        timezone: str
        campaign: str
        outcome: str
        request_command_id: str | None
        recorded_by: str | None = None

    @event(OutboundCallRecorded)
    def _call_recorded(
        self, at: datetime, command_id: str, process_id: str, timezone: str, campaign: str, outcome: str,
        request_command_id: str | None, recorded_by: str | None = None,
    ) -> None:
        self.processed_commands.add(command_id)
        if outcome == "citizen_deceased":
            self.deceased = True  # never called again, in any campaign

    def send_automated_notice(self, process: ElectoralProcess, cmd: SendAutomatedNotice, command_id: str) -> None:
        self._notice_sent(
            at=cmd.at, command_id=command_id, process_id=process.id, timezone=process.timezone,
            campaign=cmd.campaign, channel=cmd.channel, recorded_by=cmd.recorded_by,
        )

    class AutomatedNoticeSent(Aggregate.Event):
        at: datetime
        command_id: str
        process_id: str
        timezone: str
        campaign: str
        channel: str
        recorded_by: str | None = None

    @event(AutomatedNoticeSent)
    def _notice_sent(
        self, at: datetime, command_id: str, process_id: str, timezone: str, campaign: str, channel: str,
        recorded_by: str | None = None,
    ) -> None:
        self.processed_commands.add(command_id)
