"""The journey counts projection: the figures of report section 4.1, as of any business day,
and each journey's current stage.

Counts are kept as per-day deltas: a request adds +1 to each of its dimensions on the day it
was filed, and a change of analysis status or stage moves one unit from the old key to the new
one on the day it happened. A report as of day D sums the deltas up to D, so its cost grows
with days × keys, not with journeys; the same changes also go to running totals, so the live
figures (as of now) read one row per key. Each journey's row carries what the review inbox
filters and sorts on (no personal data). A batch of events is applied in memory (each journey
row read once, each count key's net change summed) and written in one transaction with the
tracking record of its last event (``batch``; a single event is a batch of one), so a
restarted runner never counts an event twice, and a rebuild writes each key once per batch.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import lru_cache, wraps
from typing import Any
from zoneinfo import ZoneInfo

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import get_topic
from psycopg.sql import SQL

from domain.journey import Journey
from domain.lists import ListKind
from domain.outreach import Outreach
from domain.rules import AnalysisStatus, Stage

AGE_RANGES: tuple[str, ...] = (
    "18", "19", "20-24", "25-29", "30-34", "35-39", "40-44", "45-49", "50-54", "55-59", "60-64", "65 o más",
)


def age_range(age: int) -> str:
    """INE's age ranges. Ages under 18 at filing (citizens who come of age by election day)
    count in the first range."""
    if age <= 18:
        return "18"
    if age == 19:
        return "19"
    if age >= 65:
        return "65 o más"
    low = (age // 5) * 5
    return f"{low}-{low + 4}"


_POSITION_COLUMN = {Stage.LISTED_FOR_REVIEW: "listed_position", Stage.INCLUDED: "included_position"}

# What the review inbox filters on, besides the process and stage.
INBOX_FILTERS = ("state_of_reference", "country", "modality", "channel")


def view_tables(postgres: bool = False) -> list[str]:
    """The view's tables (SQLite, or PostgreSQL)."""
    without_rowid = "" if postgres else " WITHOUT ROWID"
    position = "BIGINT" if postgres else "INTEGER"
    return [
        "CREATE TABLE IF NOT EXISTS journeys ("
        " journey_id TEXT PRIMARY KEY,"
        " process_id TEXT NOT NULL,"
        " workflow_id TEXT NOT NULL,"
        " timezone TEXT NOT NULL,"
        " stage TEXT,"
        " analysis_status TEXT,"
        " filed_day TEXT,"
        " state_of_reference TEXT,"
        " country TEXT,"
        " modality TEXT,"
        " channel TEXT,"
        " credential_kind TEXT,"
        " in_review_since TEXT,"  # business time (UTC ISO) it last entered review
        " reviews INTEGER NOT NULL DEFAULT 0,"  # times it entered review: >1 is a re-review
        # Event-log positions of entering the list for review and the definitive list, so a
        # list can be cut as it stood at any position; why a journey was excluded.
        f" listed_position {position},"
        f" included_position {position},"
        " excluded_reason TEXT)",
        "CREATE INDEX IF NOT EXISTS journeys_by_stage ON journeys (process_id, stage, journey_id)",
        "CREATE INDEX IF NOT EXISTS journeys_in_review ON journeys (process_id, stage, in_review_since, journey_id)",
        # A list's part (state, modality) is read without scanning the process's other journeys.
        "CREATE INDEX IF NOT EXISTS journeys_by_part ON journeys (process_id, state_of_reference, modality)",
        "CREATE TABLE IF NOT EXISTS counts ("
        " process_id TEXT NOT NULL,"
        " day TEXT NOT NULL,"
        " dimension TEXT NOT NULL,"
        " key TEXT NOT NULL,"
        " n INTEGER NOT NULL,"
        f" PRIMARY KEY (process_id, dimension, key, day)){without_rowid}",
        # An event the projection could not apply: it stopped before it, with the reason.
        "CREATE TABLE IF NOT EXISTS projection_halt ("
        f" position {position} PRIMARY KEY,"
        " originator_id TEXT NOT NULL,"
        f" originator_version {position} NOT NULL,"
        " topic TEXT NOT NULL,"
        " error TEXT NOT NULL,"
        " halted_at TEXT NOT NULL)",
        # Events an operator chose to pass over (lnere projections skip): the figures say so.
        "CREATE TABLE IF NOT EXISTS projection_skips ("
        f" position {position} PRIMARY KEY,"
        " reason TEXT NOT NULL,"
        " skipped_by TEXT NOT NULL,"
        " skipped_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS totals ("
        " process_id TEXT NOT NULL,"
        " dimension TEXT NOT NULL,"
        " key TEXT NOT NULL,"
        " n INTEGER NOT NULL,"
        f" PRIMARY KEY (process_id, dimension, key)){without_rowid}",
    ]


JOURNEY_COLUMNS = (
    "journey_id", "process_id", "workflow_id", "timezone", "stage", "analysis_status", "filed_day",
    "state_of_reference", "country", "modality", "channel", "credential_kind", "in_review_since", "reviews",
    "listed_position", "included_position", "excluded_reason",
)


class _Batch:
    """A batch's changes before they are written: the journey rows it touched (read once) and
    the net change of each count key."""

    def __init__(self) -> None:
        self.cursor: Any = None
        self.tracking: Tracking | None = None
        self.journeys: dict[str, dict[str, Any]] = {}
        self.inserted: dict[str, None] = {}  # in the order the journeys started
        self.updated: set[str] = set()
        self.counts: Counter[tuple[str, str, str, str]] = Counter()

    def add(self, process_id: str, day: str, dimension: str, key: str, delta: int) -> None:
        self.counts[(process_id, day, dimension, key)] += delta


def _in_batch(write):
    """A write of one event (its tracking record first): applied to the open batch, or to a
    batch of its own, and the event's position becomes the batch's."""

    @wraps(write)
    def in_batch(view: _Queries, tracking: Tracking, *args: Any, **kwargs: Any) -> None:
        if view._batch is None:
            with view.batch():
                return in_batch(view, tracking, *args, **kwargs)
        write(view, tracking, *args, **kwargs)
        view._batch.tracking = tracking

    return in_batch


class _Queries:
    """The view's reads and writes, written once for SQLite and PostgreSQL: SQL with ``?``
    placeholders, run through ``_transaction`` (which adapts them for PostgreSQL)."""

    # A view whose tables change gets a new file, rebuilt from the event log by the runner.
    VERSION = 2
    tracking_table = "tracking"

    def _transaction(self, commit: bool):
        return self.datastore.transaction(commit=commit)

    @staticmethod
    def _raw(c):
        return getattr(c, "raw", c)

    # -- writing (each call is one transaction with its tracking record, or part of a batch) --

    _batch: _Batch | None = None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Applies the events processed inside it in memory, then writes them in one
        transaction with the tracking record of the last one: all of them count, or none (the
        runner resumes before the first). Each journey row and each count key is written once
        per batch, however many of its events the batch holds."""
        if self._batch is not None:
            yield
            return
        self._batch = _Batch()
        try:
            with self._transaction(commit=True) as c:
                self._batch.cursor = c
                yield
                self._flush(c, self._batch)
        finally:
            self._batch = None

    @_in_batch
    def insert_tracking(self, tracking: Tracking) -> None:
        """Advances the position (an event that changes no figure)."""

    def _flush(self, c: Any, batch: _Batch) -> None:
        if batch.inserted:
            c.executemany(f"INSERT INTO journeys ({', '.join(JOURNEY_COLUMNS)}) "
                          f"VALUES ({', '.join('?' * len(JOURNEY_COLUMNS))})",
                          [tuple(batch.journeys[j][k] for k in JOURNEY_COLUMNS) for j in batch.inserted])
        updated = batch.updated - batch.inserted.keys()
        if updated:
            c.executemany(f"UPDATE journeys SET {', '.join(f'{k} = ?' for k in JOURNEY_COLUMNS[1:])} "
                          "WHERE journey_id = ?",
                          [(*(batch.journeys[j][k] for k in JOURNEY_COLUMNS[1:]), j) for j in sorted(updated)])
        counts = [(process_id, day, dimension, str(key), n)
                  for (process_id, day, dimension, key), n in batch.counts.items() if n]
        totals_of: Counter[tuple[str, str, str]] = Counter()
        for process_id, _, dimension, key, n in counts:
            totals_of[(process_id, dimension, key)] += n
        if counts:
            c.executemany(
                "INSERT INTO counts (process_id, day, dimension, key, n) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (process_id, dimension, key, day) DO UPDATE SET n = counts.n + excluded.n", counts)
        totals = [(*key, n) for key, n in totals_of.items() if n]
        if totals:
            c.executemany(
                "INSERT INTO totals (process_id, dimension, key, n) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (process_id, dimension, key) DO UPDATE SET n = totals.n + excluded.n", totals)
        if batch.tracking is not None:
            self._insert_tracking(self._raw(c), batch.tracking)

    def _journey(self, batch: _Batch, journey_id: str) -> dict[str, Any]:
        row = batch.journeys.get(journey_id)
        if row is None:
            assert batch.cursor is not None
            batch.cursor.execute(f"SELECT {', '.join(JOURNEY_COLUMNS)} FROM journeys WHERE journey_id = ?",
                                 (journey_id,))
            found = batch.cursor.fetchone()
            assert found is not None, f"journey {journey_id} has events before it started"
            row = batch.journeys[journey_id] = {k: found[k] for k in JOURNEY_COLUMNS}
        return row

    @_in_batch
    def record(
        self,
        tracking: Tracking,
        journey_id: str,
        *,
        at: datetime,
        start: tuple[str, str, str] | None = None,
        filed: dict[str, str] | None = None,
        request: dict[str, str] | None = None,
        stage: str | None = None,
        analysis: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Applies one event's changes, on the business day of ``at`` in the journey's process
        timezone: ``start`` (process_id, workflow_id, timezone); ``filed`` ({dimension: key});
        ``request`` (the journey's inbox columns); ``stage``/``analysis`` (the new value); ``reason``
        (of an exclusion)."""
        b = self._batch
        if start is not None:
            if journey_id in b.journeys:
                raise ValueError(f"journey {journey_id} started twice")
            b.journeys[journey_id] = dict.fromkeys(JOURNEY_COLUMNS)
            b.journeys[journey_id].update(journey_id=journey_id, process_id=start[0], workflow_id=start[1],
                                          timezone=start[2], reviews=0)
            b.inserted[journey_id] = None
        if filed is None and stage is None and analysis is None:
            return
        row = self._journey(b, journey_id)
        b.updated.add(journey_id)
        process_id, old_stage, old_analysis = row["process_id"], row["stage"], row["analysis_status"]
        day = _business_day(at, row["timezone"])
        if filed is not None:
            for dimension, key in filed.items():
                b.add(process_id, day, dimension, key, +1)
            row["filed_day"] = day
        if request is not None:
            row.update(request)
        if stage == Stage.IN_REVIEW and old_stage != Stage.IN_REVIEW:
            row["in_review_since"] = _utc(at)
            row["reviews"] += 1
        if stage in _POSITION_COLUMN and stage != old_stage:
            row[_POSITION_COLUMN[stage]] = tracking.notification_id
        if stage == Stage.INCLUDED and old_stage != Stage.INCLUDED:
            b.add(process_id, day, "definitive", f"{row['state_of_reference']}|{row['modality']}", +1)
        if stage == Stage.EXCLUDED and old_stage != Stage.EXCLUDED:
            row["excluded_reason"] = reason
            b.add(process_id, day, "exclusion", reason or "UNKNOWN", +1)
        if stage is not None and stage != old_stage:
            if old_stage is not None:
                b.add(process_id, day, "stage", old_stage, -1)
            b.add(process_id, day, "stage", stage, +1)
            row["stage"] = str(stage)
        if analysis is not None and analysis != old_analysis:
            if old_analysis is not None:
                b.add(process_id, day, "analysis", old_analysis, -1)
            b.add(process_id, day, "analysis", analysis, +1)
            row["analysis_status"] = str(analysis)

    @_in_batch
    def count(self, tracking: Tracking, process_id: str | None, timezone: str | None, at: datetime, dimension: str,
              key: str, journey_id: str | None = None) -> None:
        """Counts one fact that moves no stage (an outreach contact; a journey's delivery, whose
        process and timezone are the journey's)."""
        b = self._batch
        if journey_id is not None:
            row = self._journey(b, journey_id)
            process_id, timezone = row["process_id"], row["timezone"]
        b.add(process_id, _business_day(at, timezone), dimension, key, +1)

    # -- halts: an event the projection cannot apply ------------------------------------------

    def record_halt(self, position: int, originator_id: str, originator_version: int, topic: str,
                    error: str) -> None:
        with self._transaction(commit=True) as c:
            c.execute("DELETE FROM projection_halt")
            c.execute("INSERT INTO projection_halt (position, originator_id, originator_version, topic, error, "
                      "halted_at) VALUES (?, ?, ?, ?, ?, ?)",
                      (position, originator_id, originator_version, topic, error[:500],
                       datetime.now(UTC).isoformat()))

    def clear_halt(self) -> None:
        with self._transaction(commit=True) as c:
            c.execute("DELETE FROM projection_halt")

    def halt(self) -> dict[str, Any] | None:
        """Where and why the projection stopped, if it did."""
        with self._transaction(commit=False) as c:
            c.execute("SELECT position, originator_id, originator_version, topic, error, halted_at "
                      "FROM projection_halt ORDER BY position LIMIT 1")
            row = c.fetchone()
        return dict(row) if row is not None else None

    def skip(self, position: int, reason: str, skipped_by: str) -> None:
        """Records that the event at ``position`` is to be passed over (the runner does it)."""
        with self._transaction(commit=True) as c:
            c.execute("DELETE FROM projection_skips WHERE position = ?", (position,))
            c.execute("INSERT INTO projection_skips (position, reason, skipped_by, skipped_at) VALUES (?, ?, ?, ?)",
                      (position, reason[:500], skipped_by[:100], datetime.now(UTC).isoformat()))

    def skips(self) -> list[dict[str, Any]]:
        with self._transaction(commit=False) as c:
            c.execute("SELECT position, reason, skipped_by, skipped_at FROM projection_skips ORDER BY position")
            return [dict(row) for row in c.fetchall()]

    # -- reading -----------------------------------------------------------------------

    def position(self, application_name: str = "journeys") -> int:
        return self.max_tracking_id(application_name) or 0

    def counts_as_of(self, process_id: str, as_of: date | None) -> dict[str, dict[str, int]]:
        """{dimension: {key: n}} summed over days up to ``as_of`` (the running totals when None)."""
        return self.counts_and_position(process_id, as_of)[1]

    def counts_and_position(self, process_id: str, as_of: date | None) -> tuple[int, dict[str, dict[str, int]]]:
        """The counts and the event-log position they reflect, read in one transaction."""
        if as_of is None:
            sql, params = "SELECT dimension, key, n FROM totals WHERE process_id = ?", [process_id]
        else:
            sql = ("SELECT dimension, key, SUM(n) AS n FROM counts WHERE process_id = ? AND day <= ? "
                   "GROUP BY dimension, key")
            params = [process_id, as_of.isoformat()]
        result: dict[str, dict[str, int]] = defaultdict(dict)
        with self._transaction(commit=False) as c:
            c.execute(f"SELECT MAX(notification_id) AS n FROM {self.tracking_table} WHERE application_name = ?",
                      ("journeys",))
            position = c.fetchone()["n"] or 0
            c.execute(sql, params)
            for row in c.fetchall():
                if row["n"]:
                    result[row["dimension"]][row["key"]] = row["n"]
        return position, result

    def filed_per_day(self, process_id: str, as_of: date | None) -> dict[str, int]:
        """Requests filed on each business day (every request counts once in ``sex``)."""
        sql = "SELECT day, SUM(n) AS n FROM counts WHERE process_id = ? AND dimension = 'sex'"
        params: list[Any] = [process_id]
        if as_of is not None:
            sql += " AND day <= ?"
            params.append(as_of.isoformat())
        with self._transaction(commit=False) as c:
            c.execute(sql + " GROUP BY day ORDER BY day", params)
            return {row["day"]: row["n"] for row in c.fetchall() if row["n"]}

    def list_members(
        self, process_id: str, kind: str, position: int, state: str | None = None, modality: str | None = None
    ) -> list[dict[str, Any]]:
        """The journeys of a list ("review" or "definitive") as it stood at log ``position``."""
        column = {ListKind.REVIEW: "listed_position", ListKind.DEFINITIVE: "included_position"}[ListKind(kind)]
        sql = (f"SELECT journey_id, workflow_id, state_of_reference, country, modality, stage, excluded_reason "
               f"FROM journeys WHERE process_id = ? AND {column} <= ?")
        params: list[Any] = [process_id, position]
        for name, value in (("state_of_reference", state), ("modality", modality)):
            if value is not None:
                sql += f" AND {name} = ?"
                params.append(value)
        with self._transaction(commit=False) as c:
            c.execute(sql, params)
            return [dict(row) for row in c.fetchall()]

    def review_inbox(
        self,
        process_id: str,
        *,
        filters: dict[str, str],
        re_review: bool | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Journeys awaiting a review decision, oldest first: a page of at most ``limit``
        after the (in_review_since, journey_id) ``after``."""
        sql = ("SELECT journey_id, workflow_id, in_review_since, reviews, state_of_reference, country, modality,"
               " channel, credential_kind FROM journeys WHERE process_id = ? AND stage = ?")
        params: list[Any] = [process_id, Stage.IN_REVIEW.value]
        for name, value in filters.items():
            assert name in INBOX_FILTERS
            sql += f" AND {name} = ?"
            params.append(value)
        if re_review is not None:
            sql += " AND reviews > 1" if re_review else " AND reviews = 1"
        if after is not None:
            sql += " AND (in_review_since, journey_id) > (?, ?)"
            params.extend(after)
        sql += " ORDER BY in_review_since, journey_id LIMIT ?"
        params.append(limit)
        with self._transaction(commit=False) as c:
            c.execute(sql, params)
            return [dict(row) for row in c.fetchall()]

    def journeys_in_stages(
        self, process_id: str, stages: list[str], after: str, below: str, limit: int
    ) -> list[tuple[str, str]]:
        """A page of (journey_id, workflow_id) in the given stages, in id order within [after, below)."""
        marks = ",".join("?" * len(stages))
        with self._transaction(commit=False) as c:
            c.execute(
                f"SELECT journey_id, workflow_id FROM journeys WHERE process_id = ? AND stage IN ({marks}) "
                "AND journey_id > ? AND journey_id < ? ORDER BY journey_id LIMIT ?",
                (process_id, *stages, after, below, limit),
            )
            return [(row["journey_id"], row["workflow_id"]) for row in c.fetchall()]


class JourneyCountsView(_Queries, SQLiteTrackingRecorder):
    """The materialised view, in its own SQLite file."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *view_tables()]


class _PostgresCursor:
    """A psycopg cursor that takes the view's ``?`` placeholders."""

    def __init__(self, raw) -> None:
        self.raw = raw

    def execute(self, sql: str, params=()) -> None:
        self.raw.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, params) -> None:
        self.raw.executemany(sql.replace("?", "%s"), params)

    def fetchone(self):
        return self.raw.fetchone()

    def fetchall(self):
        return self.raw.fetchall()


class PostgresJourneyCountsView(_Queries, PostgresTrackingRecorder):
    """The materialised view, in tables of a PostgreSQL database."""

    def __init__(self, datastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name="journey_counts_tracking", **kwargs)
        self.tracking_table = f"{datastore.schema}.journey_counts_tracking"
        self.sql_create_statements.extend(SQL(statement) for statement in view_tables(postgres=True))

    @contextmanager
    def _transaction(self, commit: bool):
        with self.datastore.transaction(commit=commit) as raw:
            yield _PostgresCursor(raw)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _business_day(at: datetime, timezone: str) -> str:
    return at.astimezone(_zone(timezone)).date().isoformat()


def _utc(at: datetime) -> str:
    # One fixed-width form so that text order is time order.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _moves_to(stage: Stage, analysis: AnalysisStatus | None = None):
    """A handler for an event whose only effect on the figures is a fixed new stage (and
    analysis status)."""

    def handler(projection: JourneyCountsProjection, domain_event: Any, tracking: Tracking) -> None:
        projection.view.record(
            tracking, str(domain_event.originator_id), at=domain_event.at, stage=stage, analysis=analysis
        )

    return handler


class JourneyCountsProjection(Projection[JourneyCountsView]):
    name = "journey_counts"

    @classmethod
    def handlers(cls) -> dict[str, Any]:
        """{topic: handler} for the events that change the view (a handler is called as
        ``handler(projection, event, tracking)``); any other event only advances the view's
        position, and the runner does not decode it."""
        method = cls.__dict__["process_event"]
        method.__get__(None, cls)  # applies eventsourcing's deferred registrations
        return {get_topic(event_class): function for event_class, function in method.dispatcher.registry.items()
                if event_class is not object}

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events that change no figure still advance the tracking position."""
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, domain_event: Journey.Started, tracking: Tracking) -> None:
        self.view.record(
            tracking,
            str(domain_event.originator_id),
            at=domain_event.at,
            start=(domain_event.process_id, domain_event.workflow_id, domain_event.timezone),
        )

    @process_event.register
    def _(self, domain_event: Journey.RequestFiled, tracking: Tracking) -> None:
        dimensions = {
            "country_state": f"{domain_event.country}|{domain_event.state_of_reference}",
            "credential_channel": f"{domain_event.credential_kind}|{domain_event.channel}",
            "sex": domain_event.sex,
            "age": age_range(domain_event.age_at_filing),
            "sex_age": f"{domain_event.sex}|{age_range(domain_event.age_at_filing)}",
            "modality": domain_event.modality,
        }
        request = {
            "state_of_reference": domain_event.state_of_reference,
            "country": domain_event.country,
            "modality": domain_event.modality,
            "channel": domain_event.channel,
            "credential_kind": domain_event.credential_kind,
        }
        self.view.record(
            tracking,
            str(domain_event.originator_id),
            at=domain_event.at,
            filed=dimensions,
            request=request,
            stage=Stage.IN_REVIEW,
            analysis=AnalysisStatus.IN_REVIEW,
        )

    @process_event.register
    def _(self, domain_event: Journey.ReviewDecided, tracking: Tracking) -> None:
        self.view.record(
            tracking,
            str(domain_event.originator_id),
            at=domain_event.at,
            stage=domain_event.outcome,
            analysis=domain_event.outcome,
        )

    @process_event.register
    def _(self, domain_event: Outreach.OutboundCallRecorded, tracking: Tracking) -> None:
        self.view.count(tracking, domain_event.process_id, domain_event.timezone, domain_event.at,
                        "call_outcome", domain_event.outcome)

    @process_event.register
    def _(self, domain_event: Outreach.AutomatedNoticeSent, tracking: Tracking) -> None:
        self.view.count(tracking, domain_event.process_id, domain_event.timezone, domain_event.at,
                        "notice", domain_event.channel)

    @process_event.register
    def _(self, domain_event: Journey.DeliveryRecorded, tracking: Tracking) -> None:
        self.view.count(tracking, None, None, domain_event.at, "delivery", domain_event.status,
                        journey_id=str(domain_event.originator_id))

    process_event.register(Journey.CredentialRecorded, _moves_to(Stage.CREDENTIAL_RECORDED))
    process_event.register(
        Journey.SubsaneDocumentsReceived, _moves_to(Stage.IN_REVIEW, AnalysisStatus.IN_REVIEW)
    )
    process_event.register(Journey.RejectionReopened, _moves_to(Stage.IN_REVIEW, AnalysisStatus.IN_REVIEW))
    process_event.register(Journey.SubsaneExpired, _moves_to(Stage.REJECTED, AnalysisStatus.REJECTED))
    process_event.register(Journey.ListedForReview, _moves_to(Stage.LISTED_FOR_REVIEW))
    process_event.register(Journey.IncludedInDefinitiveList, _moves_to(Stage.INCLUDED))
    @process_event.register
    def _(self, domain_event: Journey.ExcludedFromDefinitiveList, tracking: Tracking) -> None:
        self.view.record(tracking, str(domain_event.originator_id), at=domain_event.at, stage=Stage.EXCLUDED,
                         reason=domain_event.reason)

    process_event.register(Journey.ClosedWithoutRequest, _moves_to(Stage.CLOSED_WITHOUT_REQUEST))
