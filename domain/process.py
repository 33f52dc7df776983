"""An electoral process as validated configuration data.

A process is a JSON file (``domain/processes/*.json`` or any directory named in the
settings); adding another process needs no code.
"""

from __future__ import annotations

import json
import re
import stat
import time
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BUILTIN_PROCESSES_DIR = Path(__file__).parent / "processes"


class Channel(StrEnum):
    INETEL = "INETEL"
    SRVE = "SRVE"


class Modality(StrEnum):
    POSTAL = "postal"
    INTERNET = "internet"
    IN_PERSON = "in_person"


class AttentionService(StrEnum):
    """What a citizen contacts INETEL about (report section 4.2)."""

    CREDENTIALING_ABROAD = "credentialing_abroad"  # Credencialización en el extranjero
    VMRE = "vmre"  # Voto de las Mexicanas y los Mexicanos Residentes en el Extranjero


class AttentionChannel(StrEnum):
    TELEPHONE = "telephone"
    VOICEMAIL = "voicemail"
    EMAIL = "email"
    FACEBOOK = "facebook"
    TWITTER = "twitter"


class AttentionOrigin(StrEnum):
    """Where the citizen who contacts INETEL is."""

    UNITED_STATES = "united_states"
    ELSEWHERE_ABROAD = "elsewhere_abroad"
    MEXICO = "mexico"


class Milestone(StrEnum):
    """The process calendar's milestones, in the order they happen."""

    REGISTRATION_CLOSED = "registration_closed"
    INCONSISTENCY_NOTICE_DEADLINE = "inconsistency_notice_deadline"
    ANALYSIS_DEADLINE = "analysis_deadline"
    LIST_FOR_REVIEW_ISSUED = "list_for_review_issued"
    OBSERVATIONS_CLOSED = "observations_closed"
    DEFINITIVE_LIST = "definitive_list"


MILESTONE_ORDER: tuple[Milestone, ...] = tuple(Milestone)


class StateOfReference(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^\d{2}$", description="INEGI state code")
    name: str


class ConsularOffice(BaseModel):
    """An embassy or consulate where a CPVE is requested."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    kind: Literal["embassy", "consulate"]
    country: str = Field(pattern=r"^[A-Z]{2}$")
    city: str = Field(min_length=1)


class VotingSite(BaseModel):
    """A consular site where citizens abroad vote in person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    city: str = Field(min_length=1)


class MediaType(StrEnum):
    """The kinds of file a document may be: read from the file's own bytes, never from its name."""

    JPEG = "image/jpeg"
    PNG = "image/png"
    PDF = "application/pdf"


class DocumentKind(BaseModel):
    """One kind of document of a request's expediente (a credential's front, a signature, a
    proof of address abroad…): what files it takes, how large, and when it is required."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str = Field(min_length=1, max_length=200, description="as INE names it")
    media_types: tuple[MediaType, ...] = Field(min_length=1)
    max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024)
    max_pages: int = Field(default=10, ge=1, le=100, description="a PDF's pages at most")
    required_for: tuple[str, ...] = Field(
        default=(), description="the requests that must carry it, as CREDENTIAL/CHANNEL (e.g. CPVE/SRVE)")
    subsane_for: tuple[str, ...] = Field(
        default=(), description="inconsistency reasons it corrects: a subsane for one of them carries it")

    @field_validator("required_for")
    @classmethod
    def _requests(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            kind, _, channel = value.partition("/")
            if kind not in ("CPVE", "CPV") or channel not in {c.value for c in Channel}:
                raise ValueError(f"{value!r}: write CREDENTIAL/CHANNEL, e.g. CPVE/SRVE")
        return values


class ReportSchedule(BaseModel):
    """When INE issues the list's progress report to the parties and the states' electoral
    bodies: on these days of the month at this local time of the process, from ``first_issue``
    to ``last_issue`` (days; default: from registration opening to the definitive list). Each
    issue reports the figures as of the end of the day before it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days_of_month: tuple[int, ...] = Field(min_length=1, description="e.g. [1, 16]")
    hour: int = Field(default=9, ge=0, le=23)
    minute: int = Field(default=0, ge=0, le=59)
    first_issue: date | None = None
    last_issue: date | None = None

    @field_validator("days_of_month")
    @classmethod
    def _days_of_a_month(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= day <= 31 for day in days):
            raise ValueError("a day of the month is 1 to 31")
        if len(set(days)) != len(days):
            raise ValueError("a day of the month is named twice")
        return tuple(sorted(days))

    @model_validator(mode="after")
    def _ordered(self) -> ReportSchedule:
        if self.first_issue and self.last_issue and self.last_issue < self.first_issue:
            raise ValueError("last_issue is before first_issue")
        return self


class ElectoralProcess(BaseModel):
    """One electoral process with vote from abroad (e.g. PEL 2020-2021)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")
    name: str
    timezone: str
    states: tuple[StateOfReference, ...] = Field(min_length=1)
    channels: tuple[Channel, ...] = Field(min_length=1)
    modalities: tuple[Modality, ...] = Field(min_length=1)
    modality_labels: dict[Modality, str] = Field(
        default_factory=dict, description="each modality's label as INE prints it in reports and lists")
    registration_opens: datetime
    milestones: dict[Milestone, datetime]
    clarification_window_closes: datetime
    election_day: date
    milestone_mode: Literal["live", "on_command"] = "on_command"
    inconsistency_reasons: dict[str, str] = Field(min_length=1)
    rejection_reasons: dict[str, str] = Field(min_length=1)
    exclusion_reasons: dict[str, str] = Field(min_length=1)
    consular_offices: dict[str, ConsularOffice] = Field(
        default_factory=dict, description="embassies and consulates where a CPVE is requested: code -> office")
    voting_sites: dict[str, VotingSite] = Field(
        default_factory=dict, description="in-person voting: the consular sites, code -> site")
    cpve_safekeeping_days: int = Field(
        default=730, ge=1, description="a CPVE not collected within this many days of its request is cancelled")
    attention_topics: dict[AttentionService, dict[str, str]] = Field(
        default_factory=dict, description="INETEL's attention topics per service: code -> label as INE prints it")
    business_time_lead_days: int = Field(
        default=3660, ge=0, le=7320,
        description="how long before registration opens a command's business time may lie (a credential is "
                    "recorded when issued: a CPVE is valid ten years)")
    clock_skew_seconds: int = Field(
        default=300, ge=0, le=86_400,
        description="live mode: how far past the clock a command's business time may lie")
    business_time_tail_days: int = Field(
        default=366, ge=0, le=3660,
        description="how long after election day and the retention period a command's business time may lie")
    personal_data_retention_days: int = Field(
        default=0, ge=0, description="days after a journey ends before its personal data may be erased"
    )
    report_schedule: ReportSchedule | None = Field(
        default=None, description="when the progress report is issued to parties and electoral bodies")
    documents_required: bool = Field(
        default=False, description="requests and subsanes are refused without the documents their kinds require "
                                   "(false: a process replayed from figures that carry no documents)")
    documents: dict[str, DocumentKind] = Field(
        default_factory=dict, description="the expediente's document kinds: code -> kind (what a request and a "
                                          "subsane carry)")
    notes: str = ""

    @property
    def business_time_bounds(self) -> tuple[datetime, datetime]:
        """The earliest and latest business time a command of this process may carry."""
        from datetime import timedelta

        last_day = datetime.combine(self.election_day, datetime.max.time(), self.tz)
        return (self.localize(self.registration_opens) - timedelta(days=self.business_time_lead_days),
                last_day + timedelta(days=self.personal_data_retention_days + self.business_time_tail_days))

    @property
    def cpve_time_bound(self) -> datetime:
        """The latest business time of a CPVE's own calendar: a CPVE requested up to the close
        of registration is kept ``cpve_safekeeping_days`` before it is cancelled, which may
        fall after the process's other bounds."""
        from datetime import timedelta

        closes = self.milestone_at(Milestone.REGISTRATION_CLOSED)
        return max(self.business_time_bounds[1],
                   closes + timedelta(days=self.cpve_safekeeping_days + self.business_time_tail_days))

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown timezone {value!r}") from error
        return value

    def incomplete(self) -> list[str]:
        """What a process file must say and this one does not (checked when a file is loaded:
        processes carried in workflows' histories from before these fields still read)."""
        problems = []
        missing = [m.value for m in self.modalities if not self.modality_labels.get(m, "").strip()]
        if missing:
            problems.append(f"modality_labels: no label for {', '.join(missing)}")
        if Modality.IN_PERSON in self.modalities and not self.voting_sites:
            problems.append("voting_sites: a process with in-person voting lists its voting sites")
        return problems

    def required_documents(self, credential_kind: str, channel: str) -> tuple[str, ...]:
        """The document kinds a request of this credential and channel must carry."""
        if not self.documents_required:
            return ()
        return tuple(code for code, kind in self.documents.items() if f"{credential_kind}/{channel}" in
                     kind.required_for)

    def subsane_documents(self, reason: str) -> tuple[str, ...]:
        """The document kinds a subsane for an inconsistency reason must carry (one of them),
        when the process requires documents."""
        return self.correcting_documents(reason) if self.documents_required else ()

    def correcting_documents(self, reason: str) -> tuple[str, ...]:
        """The document kinds that correct an inconsistency reason (what the citizen is told)."""
        return tuple(code for code, kind in self.documents.items() if reason in kind.subsane_for)

    def modality_label(self, modality: Modality) -> str:
        return self.modality_labels.get(modality) or modality.value

    @model_validator(mode="after")
    def _calendar_is_complete_and_ordered(self) -> ElectoralProcess:
        missing = [m.value for m in MILESTONE_ORDER if m not in self.milestones]
        if missing:
            raise ValueError(f"milestones missing: {', '.join(missing)}")
        previous = self.localize(self.registration_opens)
        for milestone in MILESTONE_ORDER:
            moment = self.milestone_at(milestone)
            if moment < previous:
                raise ValueError(f"milestone {milestone.value} comes before the previous one")
            previous = moment
        if self.localize(self.clarification_window_closes) < self.localize(self.registration_opens):
            raise ValueError("clarification_window_closes is before registration opens")
        codes = [s.code for s in self.states]
        if len(codes) != len(set(codes)):
            raise ValueError("states: duplicated state code")
        for code, kind in self.documents.items():
            if not re.fullmatch(r"[A-Z0-9_]{1,60}", code):
                raise ValueError(f"documents: {code!r} is not a code (A-Z, 0-9, _)")
            unknown = [r for r in kind.subsane_for if r not in self.inconsistency_reasons]
            if unknown:
                raise ValueError(f"documents.{code}.subsane_for: {', '.join(unknown)} are not inconsistency reasons")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def localize(self, moment: datetime) -> datetime:
        """Naive datetimes in the file are local times of the process."""
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.tz)
        return moment

    def milestone_at(self, milestone: Milestone) -> datetime:
        return self.localize(self.milestones[milestone])

    @property
    def registration_window(self) -> tuple[datetime, datetime]:
        return self.localize(self.registration_opens), self.milestone_at(Milestone.REGISTRATION_CLOSED)

    @property
    def clarification_closes_at(self) -> datetime:
        return self.localize(self.clarification_window_closes)

    def report_issue_times(self) -> list[datetime]:
        """Every issue of the progress report, in order (local times of the process)."""
        schedule = self.report_schedule
        if schedule is None:
            return []
        first = schedule.first_issue or self.localize(self.registration_opens).date()
        last = schedule.last_issue or self.milestone_at(Milestone.DEFINITIVE_LIST).date()
        times, day = [], first
        while day <= last:
            if day.day in schedule.days_of_month:
                times.append(datetime(day.year, day.month, day.day, schedule.hour, schedule.minute, tzinfo=self.tz))
            day = day.fromordinal(day.toordinal() + 1)
        return times

    def state(self, code: str) -> StateOfReference | None:
        return next((s for s in self.states if s.code == code), None)

    def business_day(self, moment: datetime) -> date:
        """The calendar day of a business time in the process's timezone."""
        return moment.astimezone(self.tz).date()


# A process file is a few kilobytes; anything far larger is not one (and is not read whole).
MAX_PROCESS_FILE_BYTES = 1024 * 1024


class ProcessCatalog:
    """The processes known to this installation, loaded from JSON files. With ``discover``, a
    process asked for and not known is looked for again (at most once a second): a process
    file added to the installation (``lnere simulate``'s instance) is taken by the running
    components without a restart. Known processes never change under them. A file that cannot
    be a process (malformed, not a regular file, too large, or naming a packaged process's id)
    is skipped and named in ``skipped`` with why: the others, older and newer, are served."""

    def __init__(self, processes: dict[str, ElectoralProcess],
                 discover: Callable[[], ProcessCatalog] | None = None,
                 skipped: dict[str, str] | None = None):
        self._processes = processes
        self._discover = discover
        self._discovered_at = -1.0
        self.discover_on_get = True  # False: only ``look_again`` reads the folders (off a request's path)
        self.skipped: dict[str, str] = dict(skipped or {})  # file -> why it is not served

    def discovering(self, discover: Callable[[], ProcessCatalog]) -> ProcessCatalog:
        self._discover = discover
        return self

    def knows(self, process_id: str) -> bool:
        return process_id in self._processes

    def look_again(self) -> None:
        """Reads the folders again (at most once a second) and adds the processes not known."""
        now = time.monotonic()
        if self._discover is None or now - self._discovered_at < 1.0:
            return
        self._discovered_at = now
        try:
            found = self._discover()
        except ValueError:
            return  # a folder that cannot be read now: the processes known stay served
        for process in found:
            self._processes.setdefault(process.id, process)
        self.skipped = found.skipped

    @classmethod
    def load(cls, *directories: Path, strict: bool = False) -> ProcessCatalog:
        """The packaged processes and those of ``directories`` (later folders win). ``strict``:
        the first file that cannot be a process raises ValueError naming it (``lnere up``'s
        check), else it is skipped."""
        processes = {p.id: p for p in map(load_process_file, sorted(BUILTIN_PROCESSES_DIR.glob("*.json")))}
        packaged = frozenset(processes)
        skipped: dict[str, str] = {}
        for directory in directories:
            for path in sorted(Path(directory).glob("*.json")):
                try:
                    process = load_process_file(path)
                    if process.id in packaged:
                        raise ValueError(f"{path}: id {process.id!r} is a packaged process; a file does not "
                                         f"replace it (give it an id of its own)")
                except ValueError as error:
                    if strict:
                        raise
                    skipped[str(path)] = str(error)
                    continue
                processes[process.id] = process
        return cls(processes, skipped=skipped)

    def get(self, process_id: str) -> ElectoralProcess:
        if process_id not in self._processes and self.discover_on_get:
            self.look_again()
        try:
            return self._processes[process_id]
        except KeyError:
            known = ", ".join(sorted(self._processes)) or "none"
            raise KeyError(f"unknown electoral process {process_id!r} (known: {known})") from None

    def add(self, process: ElectoralProcess) -> None:
        self._processes[process.id] = process

    def __iter__(self):
        return iter(self._processes.values())


def load_process_file(path: Path) -> ElectoralProcess:
    """A process file, or ValueError naming the file, each field and the reason. Only a regular
    file of at most ``MAX_PROCESS_FILE_BYTES`` is read (a FIFO or a device would block)."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path}: not a regular file")
        if info.st_size > MAX_PROCESS_FILE_BYTES:
            raise ValueError(f"{path}: {info.st_size:,} bytes; a process file has at most {MAX_PROCESS_FILE_BYTES:,}")
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror or type(error).__name__})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from error
    try:
        process = ElectoralProcess.model_validate(data)
    except ValidationError as error:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'process'}: {e['msg']}" for e in error.errors())
        raise ValueError(f"{path}: {reasons}") from None
    if problems := process.incomplete():
        raise ValueError(f"{path}: {'; '.join(problems)}")
    return process
