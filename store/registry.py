"""The journey registry: the eventsourcing application that records journeys' events.

One method per use case. Each is idempotent: a command whose id the journey has already
processed changes nothing and returns the journey's status, so an activity retried after
its commit never appends twice.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from lnere.domain import rules
from lnere.domain.attention import Attention, given_id
from lnere.domain.campaigns import CallList, Campaign
from lnere.domain.commands import (
    ApplyMilestone,
    CallOutcome,
    spec_of,
)
from lnere.domain.identity import journey_uuid, outreach_uuid, process_of
from lnere.domain.journey import Journey
from lnere.domain.lists import ListCut
from lnere.domain.milestone_run import MilestoneRun
from lnere.domain.outreach import Outreach
from lnere.domain.process import ElectoralProcess
from lnere.domain.refusals import RefusalKind
from lnere.domain.reports import IssuedReport
from lnere.domain.rules import CommandOutcome, DomainError, JourneyStatus
from lnere.domain.vault import CitizenVault
from lnere.store.events import select_events_of
from lnere.store.keys import PostgresKeyStore, SQLiteKeyStore
from lnere.store.topics import topics_of


def process_of_or_none(workflow_id: str) -> str | None:
    try:
        return process_of(workflow_id)
    except ValueError:
        return None


def find(app: Application[UUID], aggregate_id: UUID) -> Any:
    """The aggregate with this id in an application's store, or None when it was never recorded."""
    try:
        return app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None


def key_store(env: Mapping[str, str]) -> SQLiteKeyStore | PostgresKeyStore:
    """Where the citizens' keys are kept: beside the event store, in the same kind of store."""
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres":
        return PostgresKeyStore(postgres_conninfo(env))
    dbname = env.get("SQLITE_DBNAME") or ":memory:"
    return SQLiteKeyStore(":memory:" if dbname == ":memory:" else
                          str(Path(dbname).with_name(Path(dbname).stem + ".keys.sqlite")))


def postgres_conninfo(env: Mapping[str, str]) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                         port=env.get("POSTGRES_PORT", "5432"), user=env["POSTGRES_USER"],
                         password=env.get("POSTGRES_PASSWORD", ""))


def event_rows(events: Sequence[Aggregate.Event]) -> list[dict[str, Any]]:
    """A journey's events as rows: name, version, when recorded, and their fields except the
    sealed personal data."""
    rows = []
    for event in events:
        fields = {
            k: v
            for k, v in event.__dict__.items()
            if k not in ("originator_id", "originator_version", "timestamp") and not k.endswith("_sealed")
        }
        rows.append(
            {
                "version": event.originator_version,
                "event": type(event).__qualname__.split(".")[-1],
                "recorded_at": event.timestamp.isoformat(),
                **fields,
            }
        )
    return rows


class JourneyRegistry(Application[UUID]):
    name = "journeys"

    def __init__(self, env: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(env=env, **kwargs)
        # Per-citizen keys live beside the event store, wrapped under its cipher key.
        master = self.env.get("CIPHER_KEY")
        if not master:
            raise ValueError("CIPHER_KEY: the journey registry needs a cipher key (event state and citizen keys)")
        self.vault = CitizenVault(key_store(self.env), base64.b64decode(master))
        self._fired: dict[str, set[str]] = {}

    def close(self) -> None:
        self.vault.close()
        super().close()

    def head(self) -> int:
        """The position of the last event recorded (0: none yet): what a projection must reach."""
        return self.recorder.max_notification_id() or 0

    def personal_data(self, workflow_id: str) -> dict[str, Any] | None:
        """The citizen's credential, address and contact, or None once erased."""
        journey = self._get(workflow_id)
        return self.personal_data_of(journey) if journey is not None else None

    def personal_data_of(self, journey: Journey) -> dict[str, Any] | None:
        """The same, of a journey already read."""
        if journey.credential_sealed is None:
            return None
        credential = self.vault.open(str(journey.id), journey.credential_sealed)
        request = self.vault.open(str(journey.id), journey.request_sealed) if journey.request_sealed else None
        if credential is None:
            return None
        return {"credential": credential, **(request or {})}

    def journey(self, workflow_id: str) -> Journey | None:
        """The journey aggregate as recorded (None: no such journey)."""
        return self._get(workflow_id)

    def status(self, workflow_id: str) -> JourneyStatus | None:
        journey = self._get(workflow_id)
        return journey.status() if journey is not None else None

    def precheck(
        self, process: ElectoralProcess, workflow_id: str, commands: list[Any]
    ) -> tuple[JourneyStatus | None, list[CommandOutcome] | None]:
        """What the journey would answer, when that can be told without recording anything:
        each command already recorded, or refused by a rule against the recorded journey. None
        for the outcomes when one of them would be recorded: the journey's workflow takes them
        then. A sender checks here first, so a refusal or a resend neither starts nor wakes a run.
        (Refused and resent commands leave the journey as it is, so each is judged against it.)"""
        self._check_process(process, workflow_id)
        journey = self._get(workflow_id)
        status = journey.status() if journey is not None else None
        outcomes: list[CommandOutcome] = []
        for cmd in commands:
            command_id = cmd.effective_id()
            if journey is not None and journey.has_processed(command_id):
                if (spec := spec_of(cmd)) is not None and spec.erases:
                    return status, None  # recorded: the activity deletes the key again (a crash between)
                outcomes.append(CommandOutcome(command_id=command_id, accepted=True, already_recorded=True))
                continue
            try:
                self._admit(process, workflow_id, journey, cmd, command_id)
                rules.check(process, status or JourneyStatus.not_started(workflow_id, process.id), cmd)
            except DomainError as error:
                outcomes.append(CommandOutcome.refused(command_id, error))
                continue
            return status, None
        return status, outcomes

    def history(self, workflow_id: str) -> list[Aggregate.Event]:
        """A journey's events, in order ([] for no such journey)."""
        return [e for e in self.events.get(journey_uuid(workflow_id)) if isinstance(e, Aggregate.Event)]

    def record_commands(
        self, process: ElectoralProcess, workflow_id: str, commands: list[Any]
    ) -> tuple[JourneyStatus | None, list[CommandOutcome]]:
        """Applies commands to one journey in their order, each accepted or refused on its
        own, and saves what was accepted in one transaction: a bulk import's unit of work."""
        self._check_process(process, workflow_id)
        journey = self._get(workflow_id)
        outcomes: list[CommandOutcome] = []
        changed = False
        for cmd in commands:
            command_id = cmd.effective_id()
            if journey is not None and journey.has_processed(command_id):
                outcomes.append(CommandOutcome(command_id=command_id, accepted=True, already_recorded=True))
                continue
            try:
                journey = self._apply(process, workflow_id, journey, cmd, command_id)
            except DomainError as error:
                outcomes.append(CommandOutcome.refused(command_id, error))
                continue
            changed = True
            outcomes.append(CommandOutcome(command_id=command_id, accepted=True))
        if changed:
            assert journey is not None
            self.save(journey)
        for cmd, outcome in zip(commands, outcomes, strict=True):
            if outcome.accepted:
                self._shred_if_erased(workflow_id, cmd)
        return (journey.status() if journey is not None else None), outcomes

    def journeys(self, workflow_ids: list[str]) -> dict[str, Journey]:
        """Many journeys at once, their events read in one query (a page of a milestone or of
        the deliveries); ids with no journey are left out."""
        by_uuid = {journey_uuid(w): w for w in workflow_ids}
        return {by_uuid[i]: a for i, a in self._aggregates(list(by_uuid)).items() if isinstance(a, Journey)}

    def credentials_of(self, workflow_ids: list[str]) -> dict[str, dict[str, Any] | None]:
        """Many citizens' credentials (names, clave) at once: only their ``CredentialRecorded``
        events are read and decrypted (a list's export needs nothing else); None once erased."""
        by_uuid = {journey_uuid(w): w for w in workflow_ids}
        sealed: dict[str, str] = {}
        for stored in select_events_of(self.recorder, list(by_uuid), topics_of(Journey.CredentialRecorded)):
            recorded = self.mapper.to_domain_event(stored)
            assert isinstance(recorded, Journey.CredentialRecorded)
            sealed[str(UUID(str(stored.originator_id)))] = recorded.credential_sealed
        opened = self.vault.open_many(sealed)  # the citizens' keys in one query
        return {by_uuid[UUID(journey_id)]: data for journey_id, data in opened.items()}

    def _aggregates(self, ids: list[UUID]) -> dict[UUID, Any]:
        """Many aggregates at once, their events read in one query."""
        grouped: dict[UUID, list[Any]] = {}
        for event in select_events_of(self.recorder, ids):
            grouped.setdefault(UUID(str(event.originator_id)), []).append(event)
        return {i: project_aggregate(None, (self.mapper.to_domain_event(e) for e in events))
                for i, events in grouped.items()}

    def milestone_fired(self, process_id: str, milestone: str) -> bool:
        """Whether the calendar has fired the milestone (its run is recorded when it starts).
        Once fired, always fired: that answer is kept."""
        fired = self._fired.setdefault(process_id, set())
        if milestone not in fired:
            try:
                self.repository.get(MilestoneRun.create_id(process_id, milestone))
            except AggregateNotFoundError:
                return False
            fired.add(milestone)
        return True

    def milestone_run(self, process: ElectoralProcess, milestone: str, at: datetime) -> MilestoneRun:
        """Where the application of a milestone stands (a new run if it has not started)."""
        try:
            return self.repository.get(MilestoneRun.create_id(process.id, milestone))
        except AggregateNotFoundError:
            return MilestoneRun(process_id=process.id, milestone=milestone, at=at)

    def start_milestone_run(self, process: ElectoralProcess, milestone: str, at: datetime) -> MilestoneRun:
        """The milestone's run, recorded now if it was not (two attempts at once: one records it)."""
        try:
            return self.repository.get(MilestoneRun.create_id(process.id, milestone))
        except AggregateNotFoundError:
            pass
        try:
            self.save(MilestoneRun(process_id=process.id, milestone=milestone, at=at))
        except IntegrityError:
            pass
        return self.repository.get(MilestoneRun.create_id(process.id, milestone))

    def apply_milestone_page(self, process: ElectoralProcess, run: MilestoneRun, cmd: ApplyMilestone,
                             workflow_ids: list[str], cursor: str) -> list[CommandOutcome]:
        """Applies the milestone to a page of journeys and records the page in the run, all in
        one transaction."""
        outcomes, changed = self._apply_to_many(process, [(w, cmd) for w in workflow_ids])
        run.page_applied(cursor=cursor, seen=len(workflow_ids),
                         changed=sum(o.accepted and not o.unchanged and not o.already_recorded for o in outcomes))
        self.save(*changed, run)
        return outcomes

    def save_milestone_run(self, run: MilestoneRun) -> None:
        self.save(run)

    def record_on_read(self, process: ElectoralProcess, journeys: dict[str, Journey],
                       commands: list[tuple[str, Any]]) -> list[CommandOutcome]:
        """Applies one command to each of many journeys the caller has just read (``journeys``)
        and saves every change in one transaction: a delivery page's unit of work. Each command
        is accepted or refused on its own; one that changes nothing is answered ``unchanged``.
        A journey changed meanwhile by another writer fails the whole transaction
        (``IntegrityError``): the caller reads the page again."""
        outcomes, changed = self._apply_to_many(process, commands, journeys)
        if changed:
            self.save(*changed)
        return outcomes

    def request_contact_of(self, journey: Journey) -> dict[str, Any]:
        """The address and contact of a journey's request (only that record is opened)."""
        if journey.request_sealed is None:
            return {}
        return self.vault.open(str(journey.id), journey.request_sealed) or {}

    def _apply_to_many(self, process: ElectoralProcess, commands: list[tuple[str, Any]],
                       journeys: dict[str, Journey] | None = None) -> tuple[list[CommandOutcome], list[Journey]]:
        if journeys is None:
            journeys = self.journeys([w for w, _ in commands])
        changed: list[Journey] = []
        outcomes: list[CommandOutcome] = []
        for workflow_id, cmd in commands:
            command_id = cmd.effective_id()
            journey = journeys.get(workflow_id)
            try:
                self._check_process(process, workflow_id)
                if journey is None:
                    raise DomainError("journey", "journey-exists", f"no journey {workflow_id}", RefusalKind.NOT_FOUND)
                if journey.has_processed(command_id):
                    outcomes.append(CommandOutcome(command_id=command_id, accepted=True, already_recorded=True))
                    continue
                version = journey.version
                self._apply(process, workflow_id, journey, cmd, command_id, by_calendar=True)
            except DomainError as error:
                outcomes.append(CommandOutcome.refused(command_id, error))
                continue
            if journey.version == version:
                outcomes.append(CommandOutcome(command_id=command_id, accepted=True, unchanged=True))
                continue
            changed.append(journey)
            outcomes.append(CommandOutcome(command_id=command_id, accepted=True))
        return outcomes, changed

    def record_outreach(self, process: ElectoralProcess,
                        contacts: Sequence[tuple[str | None, Any]]) -> list[CommandOutcome]:
        """Records outreach contacts (citizen journey id, command) and attentions (which may
        name no citizen), each accepted or refused on its own, in one transaction. Idempotent
        like the journeys' commands."""
        records: dict[str, Outreach] = {}
        changed: dict[str, Any] = {}
        outcomes: list[CommandOutcome] = []
        # The batch's records, and the journeys its registering calls name, read at once.
        citizens = {w for w, _ in contacts if w is not None and process_of_or_none(w) == process.id}
        by_uuid = {outreach_uuid(w): w for w in citizens}
        records.update({by_uuid[i]: a for i, a in self._aggregates(list(by_uuid)).items() if isinstance(a, Outreach)})
        linked = self.journeys(sorted(
            {w for w, c in contacts if w in citizens and getattr(c, "request_command_id", None)}))
        attention_ids = {Attention.create_id(process.id, given_id(c.effective_id())): c.effective_id()
                         for _, c in contacts if c.kind == "record_attention"}
        attentions = {a.command_id.partition("#")[0]: a for a in self._aggregates(list(attention_ids)).values()
                      if isinstance(a, Attention)}
        for workflow_id, cmd in contacts:
            command_id = cmd.effective_id()
            if cmd.kind == "record_attention":
                outcomes.append(self._attention(process, workflow_id, cmd, command_id, attentions, changed))
                continue
            try:
                if workflow_id is None:
                    raise DomainError("journey", "journey-exists", "an outreach contact names its citizen")
                self._check_process(process, workflow_id)
                record = records.get(workflow_id)
                if record is None:
                    record = Outreach(process_id=process.id, workflow_id=workflow_id, timezone=process.timezone)
                    records[workflow_id] = record
                if record.has_processed(command_id):
                    outcomes.append(CommandOutcome(command_id=command_id, accepted=True, already_recorded=True))
                    continue
                if cmd.kind == "record_outbound_call" and cmd.request_command_id is not None:
                    journey = linked.get(workflow_id)
                    if journey is None or not journey.has_processed(cmd.request_command_id):
                        raise DomainError("request_command_id", "call-links-request",
                                          "the citizen's journey has no such request recorded")
                record.check_command_id(command_id)
                rules.check_business_time(process, cmd)
                rules.check_not_ahead_of_clock(process, cmd, datetime.now(UTC))
                getattr(record, cmd.kind)(process, cmd, command_id)
            except DomainError as error:
                outcomes.append(CommandOutcome.refused(command_id, error))
                continue
            changed[workflow_id] = record
            outcomes.append(CommandOutcome(command_id=command_id, accepted=True))
        if changed:
            self.save(*changed.values())
        return outcomes

    def _attention(self, process: ElectoralProcess, workflow_id: str | None, cmd: Any, command_id: str,
                   attentions: dict[str, Attention], changed: dict[str, Any]) -> CommandOutcome:
        """One attention of a batch: recorded once per given id (a repeat answers as recorded;
        the same id with other content is refused)."""
        given = given_id(command_id)
        existing = attentions.get(given)
        if existing is not None:
            if existing.command_id != command_id:
                return CommandOutcome.refused(command_id, DomainError(
                    "command_id", "command-id-reused", "this command id already names another attention"))
            return CommandOutcome(command_id=command_id, accepted=True, already_recorded=True)
        try:
            if workflow_id is not None:
                self._check_process(process, workflow_id)
            rules.check_business_time(process, cmd)
            rules.check_not_ahead_of_clock(process, cmd, datetime.now(UTC))
            attention = Attention.record(process, cmd, command_id, workflow_id)
        except DomainError as error:
            return CommandOutcome.refused(command_id, error)
        attentions[given] = changed[f"attention:{given}"] = attention
        return CommandOutcome(command_id=command_id, accepted=True)

    def record_list_cut(
        self, process: ElectoralProcess, kind: str, at: datetime, position: int, parts: list[dict[str, Any]]
    ) -> ListCut:
        """Records a list's cut; a list is cut once (a repeated cut returns the first)."""
        existing = self.list_cut(process.id, kind)
        if existing is not None:
            return existing
        cut = ListCut(process_id=process.id, kind=kind, at=at, position=position, parts=parts)
        self.save(cut)
        return cut

    def list_cut(self, process_id: str, kind: str) -> ListCut | None:
        return self._find(ListCut.create_id(process_id, kind))

    def record_issued_report(self, report: IssuedReport) -> IssuedReport:
        """Records an issue of the progress report; an issue is recorded once (another attempt,
        or another run at the same time, gets the first)."""
        existing = self.issued_report(report.process_id, report.scheduled_for)
        if existing is not None:
            return existing
        try:
            self.save(report)
        except IntegrityError:  # recorded at the same moment by another run
            found = self.issued_report(report.process_id, report.scheduled_for)
            assert found is not None
            return found
        return report

    def issued_report(self, process_id: str, scheduled_for: datetime) -> IssuedReport | None:
        return self._find(IssuedReport.create_id(process_id, scheduled_for))

    def issued_reports(self, process: ElectoralProcess) -> list[IssuedReport]:
        """The issues recorded so far, in the schedule's order."""
        found = (self.issued_report(process.id, moment) for moment in process.report_issue_times())
        return [report for report in found if report is not None]

    # -- call campaigns ---------------------------------------------------------------------

    def build_campaign(self, process: ElectoralProcess, code: str, name: str, source: dict[str, Any], at: datetime,
                       by: str, journeys: list[str], list_size: int) -> Campaign:
        """Records a campaign and its call lists in one transaction; a code names one campaign."""
        rules.check_time_of_act(process, at, datetime.now(UTC))
        if self.campaign(process.id, code) is not None:
            raise DomainError("code", "campaign-exists", f"campaign {code} exists already", RefusalKind.CONFLICT)
        chunks = [journeys[i:i + list_size] for i in range(0, len(journeys), list_size)]
        campaign = Campaign(process_id=process.id, code=code, name=name, source=source, built_at=at, built_by=by,
                            lists=len(chunks), citizens=len(journeys))
        lists = [CallList(process_id=process.id, timezone=process.timezone, campaign=code, number=number,
                          journeys=chunk) for number, chunk in enumerate(chunks, start=1)]
        try:
            self.save(campaign, *lists)
        except IntegrityError:
            raise DomainError("code", "campaign-exists", f"campaign {code} exists already",
                              RefusalKind.CONFLICT) from None
        return campaign

    def campaign(self, process_id: str, code: str) -> Campaign | None:
        return self._find(Campaign.create_id(process_id, code))

    def call_lists(self, campaign: Campaign) -> list[CallList]:
        return [self.repository.get(CallList.create_id(campaign.process_id, campaign.code, number))
                for number in range(1, campaign.lists + 1)]

    def deceased(self, workflow_id: str) -> bool:
        """Whether a call found the citizen deceased (then never called again)."""
        outreach: Outreach | None = self._find(Outreach.create_id(workflow_id))
        return outreach is not None and getattr(outreach, "deceased", False)

    def next_call(self, process: ElectoralProcess, campaign: Campaign, operator: str,
                  at: datetime) -> tuple[CallList, str] | None:
        """The operator's next citizen: on the list they work, else on the first list nobody
        works (taken for them). Two operators asking at once never get one list: the second
        save conflicts, and that operator looks again."""
        rules.check_time_of_act(process, at, datetime.now(UTC))
        for _ in range(20):
            lists = self.call_lists(campaign)
            mine = [lst for lst in lists if lst.operator == operator and (lst.queue or operator in
                                                                            lst.assigned.values())]
            free = [lst for lst in lists if lst.operator is None and lst.queue]
            for call_list in (*mine, *free[:1]):
                journey = call_list.next_call(operator, at)
                if journey is None:
                    continue
                try:
                    self.save(call_list)
                except IntegrityError:
                    break  # someone else moved that list: read the lists again
                return call_list, journey
            else:
                return None
        raise DomainError("campaign", "call-lists-busy", "the call lists kept changing; ask again",
                          RefusalKind.UNAVAILABLE)

    def call_list_of(self, campaign: Campaign, journey: str) -> CallList:
        for call_list in self.call_lists(campaign):
            if journey in call_list.outcomes:
                return call_list
        raise DomainError("journey", "call-not-on-list", "this citizen is not on the campaign's call lists",
                          RefusalKind.NOT_FOUND)

    def complete_call(self, call_list: CallList, journey: str, operator: str, outcome: CallOutcome, at: datetime,
                      call_command_id: str) -> tuple[CallList, bool]:
        """Ends the call on its list; True when this call had already been ended (by the same
        outcome sent again, at once or later). Two ends at once: one saves, the other reads the
        list again and is answered by what it finds, never recorded twice."""
        if call_command_id in call_list.completed_calls:
            return call_list, True
        try:
            call_list.complete(journey, operator, outcome, at, call_command_id)
            self.save(call_list)
        except (IntegrityError, DomainError):
            current: CallList = self.repository.get(call_list.id)
            if call_command_id in current.completed_calls:
                return current, True
            current.check_outcome(journey, operator)  # refuses with why: the call ended otherwise
            raise
        return call_list, False

    def _check_process(self, process: ElectoralProcess, workflow_id: str) -> None:
        if process_of(workflow_id) != process.id:
            raise DomainError("journey", "journey-process", f"journey {workflow_id} is not of process {process.id}")

    def _get(self, workflow_id: str) -> Journey | None:
        return self._find(journey_uuid(workflow_id))

    def _find(self, aggregate_id: UUID) -> Any:
        return find(self, aggregate_id)

    def _apply(
        self, process: ElectoralProcess, workflow_id: str, journey: Journey | None, cmd: Any, command_id: str,
        by_calendar: bool = False,
    ) -> Journey:
        """Applies one command; a journey that does not exist yet is started by a command
        that can start it, and discarded if that command is refused. The calendar's own
        commands (milestones, the deliveries after the definitive list) are dated by its
        schedule, not by the clock."""
        self._admit(process, workflow_id, journey, cmd, command_id, by_calendar)
        if journey is None:
            journey = Journey(
                process_id=process.id,
                workflow_id=workflow_id,
                timezone=process.timezone,
                at=cmd.at,
                command_id=f"start:{command_id}",
            )
        if (spec := spec_of(cmd)) is not None and spec.seals:
            getattr(journey, cmd.kind)(process, cmd, command_id, self.vault)
        else:
            getattr(journey, cmd.kind)(process, cmd, command_id)
        return journey

    def _admit(
        self, process: ElectoralProcess, workflow_id: str, journey: Journey | None, cmd: Any, command_id: str,
        by_calendar: bool = False,
    ) -> None:
        """The checks before a command reaches the journey: its time, the calendar's doors,
        its id, and whether it may start a journey that does not exist yet."""
        rules.check_business_time(process, cmd)
        if not by_calendar and cmd.kind != "apply_milestone":
            rules.check_not_ahead_of_clock(process, cmd, datetime.now(UTC))
        rules.check_doors(process, lambda m: self.milestone_fired(process.id, m), cmd)
        if journey is not None:
            journey.check_command_id(command_id)
        elif (spec := spec_of(cmd)) is None or not spec.starts(cmd):
            raise DomainError("journey", "journey-exists", f"no journey {workflow_id}", RefusalKind.NOT_FOUND)

    def execute(self, process: ElectoralProcess, workflow_id: str, cmd: Any) -> JourneyStatus:
        """Records one command (any of ``domain.commands.JOURNEY_COMMANDS``, or a milestone) on
        its journey: refused by its rule, or recorded with its events; a repeat changes nothing."""
        self._check_process(process, workflow_id)
        command_id = cmd.effective_id()
        journey = self._get(workflow_id)
        if journey is None or not journey.has_processed(command_id):
            journey = self._apply(process, workflow_id, journey, cmd, command_id)
            self.save(journey)
        self._shred_if_erased(workflow_id, cmd)
        return journey.status()

    def _shred_if_erased(self, workflow_id: str, cmd: Any) -> None:
        """An erasure is recorded, then the citizen's key is deleted: again on a repeat, in case
        a crash came between the two."""
        if (spec := spec_of(cmd)) is not None and spec.erases:
            self.vault.erase(str(journey_uuid(workflow_id)), cmd.at)

