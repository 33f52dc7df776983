"""The journey counts projection: the figures of report section 4.1, as of any business day,
and each journey's current stage.

Counts are kept as per-day deltas: a request adds +1 to each of its dimensions on the day it
was filed, and a change of analysis status or stage moves one unit from the old key to the new
one on the day it happened. A report as of day D sums the deltas up to D, so its cost grows
with days × keys, not with journeys. An event's view update and its tracking record are
written in one SQLite transaction (or a batch of events' updates and the last one's tracking
record, see ``JourneyCountsView.batch``), so a restarted runner never counts an event twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteCursor, SQLiteTrackingRecorder

from domain.journey import Journey
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


class JourneyCountsView(SQLiteTrackingRecorder):
    """The materialised view, in its own SQLite file."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS journeys ("
            " journey_id TEXT PRIMARY KEY,"
            " process_id TEXT NOT NULL,"
            " workflow_id TEXT NOT NULL,"
            " timezone TEXT NOT NULL,"
            " stage TEXT,"
            " analysis_status TEXT,"
            " filed_day TEXT)",
            "CREATE INDEX IF NOT EXISTS journeys_by_stage ON journeys (process_id, stage, journey_id)",
            "CREATE TABLE IF NOT EXISTS counts ("
            " process_id TEXT NOT NULL,"
            " day TEXT NOT NULL,"
            " dimension TEXT NOT NULL,"
            " key TEXT NOT NULL,"
            " n INTEGER NOT NULL,"
            " PRIMARY KEY (process_id, dimension, key, day)) WITHOUT ROWID",
        ]

    # -- writing (each call is one transaction with its tracking record, or part of a batch) --

    _batch_cursor: SQLiteCursor | None = None
    _batch_tracking: Tracking | None = None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Writes the events processed inside it in one transaction, with the tracking record
        of the last one: all of them count, or none (the runner resumes before the first)."""
        with self.datastore.transaction(commit=True) as c:
            self._batch_cursor, self._batch_tracking = c, None
            try:
                yield
                if self._batch_tracking is not None:
                    self._insert_tracking(c, self._batch_tracking)
            finally:
                self._batch_cursor, self._batch_tracking = None, None

    def insert_tracking(self, tracking: Tracking) -> None:
        if self._batch_cursor is not None:
            self._batch_tracking = tracking
        else:
            super().insert_tracking(tracking)

    @contextmanager
    def _writing(self, tracking: Tracking) -> Iterator[SQLiteCursor]:
        if self._batch_cursor is not None:
            yield self._batch_cursor
            self._batch_tracking = tracking
        else:
            with self.datastore.transaction(commit=True) as c:
                yield c
                self._insert_tracking(c, tracking)

    def record(
        self,
        tracking: Tracking,
        journey_id: str,
        *,
        at: datetime,
        start: tuple[str, str, str] | None = None,
        filed: dict[str, str] | None = None,
        stage: str | None = None,
        analysis: str | None = None,
    ) -> None:
        """Applies one event's changes, on the business day of ``at`` in the journey's process
        timezone: ``start`` (process_id, workflow_id, timezone); ``filed`` ({dimension: key});
        ``stage``/``analysis`` (the new value)."""
        with self._writing(tracking) as c:
            if start is not None:
                c.execute(
                    "INSERT INTO journeys (journey_id, process_id, workflow_id, timezone) VALUES (?, ?, ?, ?)",
                    (journey_id, *start),
                )
            if filed is not None or stage is not None or analysis is not None:
                c.execute(
                    "SELECT process_id, timezone, stage, analysis_status FROM journeys WHERE journey_id = ?",
                    (journey_id,),
                )
                row = c.fetchone()
                assert row is not None, f"journey {journey_id} has events before it started"
                process_id, old_stage, old_analysis = row["process_id"], row["stage"], row["analysis_status"]
                day = at.astimezone(_zone(row["timezone"])).date().isoformat()
                if filed is not None:
                    for dimension, key in filed.items():
                        self._add(c, process_id, day, dimension, key, +1)
                    c.execute("UPDATE journeys SET filed_day = ? WHERE journey_id = ?", (day, journey_id))
                if stage is not None and stage != old_stage:
                    if old_stage is not None:
                        self._add(c, process_id, day, "stage", old_stage, -1)
                    self._add(c, process_id, day, "stage", stage, +1)
                    c.execute("UPDATE journeys SET stage = ? WHERE journey_id = ?", (stage, journey_id))
                if analysis is not None and analysis != old_analysis:
                    if old_analysis is not None:
                        self._add(c, process_id, day, "analysis", old_analysis, -1)
                    self._add(c, process_id, day, "analysis", analysis, +1)
                    c.execute("UPDATE journeys SET analysis_status = ? WHERE journey_id = ?", (analysis, journey_id))

    @staticmethod
    def _add(c: SQLiteCursor, process_id: str, day: str, dimension: str, key: str, delta: int) -> None:
        c.execute(
            "INSERT INTO counts (process_id, day, dimension, key, n) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (process_id, dimension, key, day) DO UPDATE SET n = n + excluded.n",
            (process_id, day, dimension, key, delta),
        )

    # -- reading -----------------------------------------------------------------------

    def position(self, application_name: str = "journeys") -> int:
        return self.max_tracking_id(application_name) or 0

    def counts_as_of(self, process_id: str, as_of: date | None) -> dict[str, dict[str, int]]:
        """{dimension: {key: n}} summed over days up to ``as_of`` (all days when None)."""
        sql = "SELECT dimension, key, SUM(n) AS n FROM counts WHERE process_id = ?"
        params: list[Any] = [process_id]
        if as_of is not None:
            sql += " AND day <= ?"
            params.append(as_of.isoformat())
        sql += " GROUP BY dimension, key"
        result: dict[str, dict[str, int]] = defaultdict(dict)
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            for row in c.fetchall():
                if row["n"]:
                    result[row["dimension"]][row["key"]] = row["n"]
        return result

    def journeys_in_stages(
        self, process_id: str, stages: list[str], after: str, below: str, limit: int
    ) -> list[tuple[str, str]]:
        """A page of (journey_id, workflow_id) in the given stages, in id order within [after, below)."""
        marks = ",".join("?" * len(stages))
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT journey_id, workflow_id FROM journeys WHERE process_id = ? AND stage IN ({marks}) "
                "AND journey_id > ? AND journey_id < ? ORDER BY journey_id LIMIT ?",
                (process_id, *stages, after, below, limit),
            )
            return [(row["journey_id"], row["workflow_id"]) for row in c.fetchall()]


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


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
            "modality": domain_event.modality,
        }
        self.view.record(
            tracking,
            str(domain_event.originator_id),
            at=domain_event.at,
            filed=dimensions,
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

    process_event.register(Journey.CredentialRecorded, _moves_to(Stage.CREDENTIAL_RECORDED))
    process_event.register(
        Journey.SubsaneDocumentsReceived, _moves_to(Stage.IN_REVIEW, AnalysisStatus.IN_REVIEW)
    )
    process_event.register(Journey.RejectionReopened, _moves_to(Stage.IN_REVIEW, AnalysisStatus.IN_REVIEW))
    process_event.register(Journey.SubsaneExpired, _moves_to(Stage.REJECTED, AnalysisStatus.REJECTED))
    process_event.register(Journey.ListedForReview, _moves_to(Stage.LISTED_FOR_REVIEW))
    process_event.register(Journey.IncludedInDefinitiveList, _moves_to(Stage.INCLUDED))
    process_event.register(Journey.ExcludedFromDefinitiveList, _moves_to(Stage.EXCLUDED))
    process_event.register(Journey.ClosedWithoutRequest, _moves_to(Stage.CLOSED_WITHOUT_REQUEST))
