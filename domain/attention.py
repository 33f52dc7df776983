"""INETEL's attention: one aggregate per contact a citizen made with the call centre (inbound).
It may name the citizen's journey (a keyed hash, never the clave) or nobody; each event carries
the process and its timezone so the figures count it on its business day."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from lnere.domain import rules
from lnere.domain.commands import RecordAttention
from lnere.domain.process import ElectoralProcess


class Attention(Aggregate):
    @staticmethod
    def create_id(process_id: str, given_id: str) -> UUID:
        """One attention per command id as given: the same id sent again is the same attention
        (with other content, a reused id)."""
        return uuid5(NAMESPACE_URL, f"lnere:attention:{process_id}:{given_id}")

    class Recorded(Aggregate.Created):
        process_id: str
        given_id: str
        command_id: str
        timezone: str
        at: datetime
        service: str
        topic: str
        channel: str
        origin: str
        journey: str | None
        recorded_by: str | None

    @event(Recorded)
    def __init__(self, process_id: str, given_id: str, command_id: str, timezone: str, at: datetime, service: str,
                 topic: str, channel: str, origin: str, journey: str | None, recorded_by: str | None) -> None:
        self.process_id = process_id
        self.command_id = command_id
        self.service = service
        self.topic = topic

    @classmethod
    def record(cls, process: ElectoralProcess, cmd: RecordAttention, command_id: str, journey: str | None) -> Attention:
        rules.check_record_attention(process, cmd)
        return cls(process_id=process.id, given_id=given_id(command_id), command_id=command_id,
                   timezone=process.timezone, at=cmd.at, service=cmd.service.value, topic=cmd.topic,
                   channel=cmd.channel.value, origin=cmd.origin.value, journey=journey, recorded_by=cmd.recorded_by)


def given_id(command_id: str) -> str:
    """The id as given, without the digest of the content it names (``id#digest`` -> ``id``)."""
    return command_id.partition("#")[0]
