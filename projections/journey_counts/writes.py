"""Writing the view: a batch of events applied in memory and written in one transaction with
the tracking record of its last event; halts and skips."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache, wraps
from typing import Any
from zoneinfo import ZoneInfo

from eventsourcing.persistence import IntegrityError, Tracking

from lnere.domain.rules import AnalysisStatus, Stage
from lnere.projections.journey_counts.schema import INBOX_FILTERS, JOURNEY_COLUMNS, POSITION_COLUMN, inbox_group
from lnere.projections.journey_counts.storage import ViewStorage


def state_scope(process_id: str, state: str) -> str:
    """Where a state's own figures are counted, beside the process's: every fact of a journey
    whose state of reference is known is counted under both (a state electoral body reads only
    its own)."""
    return f"{process_id}@{state}"


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
        self.inbox_before: dict[str, tuple | None] = {}  # each touched journey's inbox group as it was

    def add(self, process_id: str, day: str, dimension: str, key: str, delta: int) -> None:
        self.counts[(process_id, day, dimension, key)] += delta

    def add_scoped(self, process_id: str, state: str | None, day: str, dimension: str, key: str,
                   delta: int) -> None:
        """Counts under the process and, when the state is known, under the state's scope."""
        self.counts[(process_id, day, dimension, key)] += delta
        if state:
            self.counts[(state_scope(process_id, state), day, dimension, key)] += delta


def _in_batch(write):
    """A write of one event (its tracking record first): applied to the open batch, or to a
    batch of its own, and the event's position becomes the batch's."""

    @wraps(write)
    def in_batch(view: CountsWrites, tracking: Tracking, *args: Any, **kwargs: Any) -> None:
        if view._batch is None:
            with view.batch():
                return in_batch(view, tracking, *args, **kwargs)
        write(view, tracking, *args, **kwargs)
        view._batch.tracking = tracking

    return in_batch



class CountsWrites(ViewStorage):
    """The view's writes, for SQLite and PostgreSQL alike (see ``views``)."""

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
        m = self.mark
        if batch.inserted:
            c.executemany(f"INSERT INTO journeys ({', '.join(JOURNEY_COLUMNS)}) "
                          f"VALUES ({', '.join([m] * len(JOURNEY_COLUMNS))})",
                          [tuple(batch.journeys[j][k] for k in JOURNEY_COLUMNS) for j in batch.inserted])
        updated = batch.updated - batch.inserted.keys()
        if updated:
            c.executemany(f"UPDATE journeys SET {', '.join(f'{k} = {m}' for k in JOURNEY_COLUMNS[1:])} "
                          f"WHERE journey_id = {m}",
                          [(*(batch.journeys[j][k] for k in JOURNEY_COLUMNS[1:]), j) for j in sorted(updated)])
        counts = [(process_id, day, dimension, str(key), n)
                  for (process_id, day, dimension, key), n in batch.counts.items() if n]
        totals_of: Counter[tuple[str, str, str]] = Counter()
        for process_id, _, dimension, key, n in counts:
            totals_of[(process_id, dimension, key)] += n
        if counts:
            c.executemany(
                f"INSERT INTO counts (process_id, day, dimension, key, n) VALUES ({m}, {m}, {m}, {m}, {m}) "
                "ON CONFLICT (process_id, dimension, key, day) DO UPDATE SET n = counts.n + excluded.n", counts)
        inbox: Counter[tuple] = Counter()
        for journey_id, row in batch.journeys.items():
            before, after = batch.inbox_before.get(journey_id), inbox_group(row)
            if before != after:
                if before is not None:
                    inbox[before] -= 1
                if after is not None:
                    inbox[after] += 1
        groups = [(*key, n) for key, n in inbox.items() if n]
        if groups:
            c.executemany(
                f"INSERT INTO inbox_groups (process_id, {', '.join(INBOX_FILTERS)}, re_review, n) "
                f"VALUES ({', '.join([m] * 8)}) ON CONFLICT (process_id, {', '.join(INBOX_FILTERS)}, re_review) "
                "DO UPDATE SET n = inbox_groups.n + excluded.n", groups)
        totals = [(*key, n) for key, n in totals_of.items() if n]
        if totals:
            c.executemany(
                f"INSERT INTO totals (process_id, dimension, key, n) VALUES ({m}, {m}, {m}, {m}) "
                "ON CONFLICT (process_id, dimension, key) DO UPDATE SET n = totals.n + excluded.n", totals)
        if batch.tracking is not None:
            # The tracking recorder's own statement, in this transaction: the position moves
            # with the figures, and only forward (a position already passed is an IntegrityError).
            c.execute(self.insert_tracking_statement, {"application_name": batch.tracking.application_name,
                                                       "notification_id": batch.tracking.notification_id})
            if self.datastore.single_row_tracking and c.fetchone() is None:
                raise IntegrityError(f"position {batch.tracking.notification_id} was already passed")

    def _journey(self, batch: _Batch, journey_id: str) -> dict[str, Any]:
        m = self.mark
        row = batch.journeys.get(journey_id)
        if row is None:
            assert batch.cursor is not None
            batch.cursor.execute(f"SELECT {', '.join(JOURNEY_COLUMNS)} FROM journeys WHERE journey_id = {m}",
                                 (journey_id,))
            found = batch.cursor.fetchone()
            assert found is not None, f"journey {journey_id} has events before it started"
            row = batch.journeys[journey_id] = {k: found[k] for k in JOURNEY_COLUMNS}
            batch.inbox_before[journey_id] = inbox_group(row)
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
        stage: Stage | None = None,
        analysis: AnalysisStatus | None = None,
        reason: str | None = None,
    ) -> None:
        """Applies one event's changes, on the business day of ``at`` in the journey's process
        timezone: ``start`` (process_id, workflow_id, timezone); ``filed`` ({dimension: key});
        ``request`` (the journey's inbox columns); ``stage``/``analysis`` (the new value); ``reason``
        (of an exclusion)."""
        b = self._batch
        assert b is not None  # _in_batch opened it
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
        known_state = row["state_of_reference"]
        if request is not None:
            row.update(request)
        state = row["state_of_reference"]
        if state and not known_state:  # from now on counted in its state's scope too: what it is so far
            scope = state_scope(process_id, state)
            if old_stage is not None:
                b.add(scope, day, "stage", old_stage, +1)
            if old_analysis is not None:
                b.add(scope, day, "analysis", old_analysis, +1)
        if filed is not None:
            for dimension, key in filed.items():
                b.add_scoped(process_id, state, day, dimension, key, +1)
            row["filed_day"] = day
        if stage == Stage.IN_REVIEW and old_stage != Stage.IN_REVIEW:
            row["in_review_since"] = _utc(at)
            row["reviews"] += 1
        if stage in POSITION_COLUMN and stage != old_stage:
            row[POSITION_COLUMN[stage]] = tracking.notification_id
        if stage == Stage.INCLUDED and old_stage != Stage.INCLUDED:
            b.add_scoped(process_id, state, day, "definitive", f"{row['state_of_reference']}|{row['modality']}", +1)
        if stage == Stage.EXCLUDED and old_stage != Stage.EXCLUDED:
            row["excluded_reason"] = reason
            b.add_scoped(process_id, state, day, "exclusion", reason or "UNKNOWN", +1)
        if stage is not None and stage != old_stage:
            if old_stage is not None:
                b.add_scoped(process_id, state, day, "stage", old_stage, -1)
            b.add_scoped(process_id, state, day, "stage", stage, +1)
            row["stage"] = str(stage)
        if analysis is not None and analysis != old_analysis:
            if old_analysis is not None:
                b.add_scoped(process_id, state, day, "analysis", old_analysis, -1)
            b.add_scoped(process_id, state, day, "analysis", analysis, +1)
            row["analysis_status"] = str(analysis)

    @_in_batch
    def count(self, tracking: Tracking, process_id: str | None, timezone: str | None, at: datetime,
              keys: dict[str, str], journey_id: str | None = None, state: str | None = None) -> None:
        """Counts one fact that moves no stage, under each {dimension: key} (an outreach contact,
        an attention; a journey's delivery, whose process and timezone are the journey's), and in
        the scope of ``state`` (default: the journey's state of reference) when there is one."""
        b = self._batch
        assert b is not None  # _in_batch opened it
        if not keys:
            return  # nothing to count: the event only advances the position
        if journey_id is not None:
            row = self._journey(b, journey_id)
            process_id, timezone = row["process_id"], row["timezone"]
            state = state or row["state_of_reference"]
        assert process_id is not None and timezone is not None, "a count names its process, or its journey"
        day = _business_day(at, timezone)
        for dimension, key in keys.items():
            b.add_scoped(process_id, state, day, dimension, key, +1)

    # -- halts: an event the projection cannot apply ------------------------------------------

    def record_halt(self, position: int, originator_id: str, originator_version: int, topic: str,
                    error: str) -> None:
        m = self.mark
        with self._transaction(commit=True) as c:
            c.execute("DELETE FROM projection_halt")
            c.execute("INSERT INTO projection_halt (position, originator_id, originator_version, topic, error, "
                      f"halted_at) VALUES ({m}, {m}, {m}, {m}, {m}, {m})",
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
        m = self.mark
        with self._transaction(commit=True) as c:
            c.execute(f"DELETE FROM projection_skips WHERE position = {m}", (position,))
            c.execute("INSERT INTO projection_skips (position, reason, skipped_by, skipped_at) "
                      f"VALUES ({m}, {m}, {m}, {m})",
                      (position, reason[:500], skipped_by[:100], datetime.now(UTC).isoformat()))

    def skips(self) -> list[dict[str, Any]]:
        with self._transaction(commit=False) as c:
            c.execute("SELECT position, reason, skipped_by, skipped_at FROM projection_skips ORDER BY position")
            return [dict(row) for row in c.fetchall()]


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _business_day(at: datetime, timezone: str) -> str:
    return at.astimezone(_zone(timezone)).date().isoformat()


def _utc(at: datetime) -> str:
    # One fixed-width form so that text order is time order.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
