"""A polling subscription over the event store, SQLite or PostgreSQL alike, so that a lost
notification never stalls a projection: it reads the stored events after the last one it
handed out, a batch of plain rows at a time.

The recorders here (selected with eventsourcing's ``APPLICATION_RECORDER_TOPIC``) add the one
query it needs, ``select_rows``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection
from typing import NamedTuple, Protocol

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

POLL_INTERVAL_ENV = "LNERE_PROJECTION_POLL_INTERVAL"


class StoredRow(NamedTuple):
    """A stored event as read for a projection (it has the attributes the mapper reads):
    ``state`` is None when the reader did not ask for it."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes | None


def _rows_statement(table: str, id_column: str, placeholder: str, topics: Collection[str]) -> str:
    """Selects stored events after an id, reading the state only of events with one of
    ``topics``: a projection need not fetch (nor decrypt) what it ignores."""
    wanted = ", ".join([placeholder] * len(topics)) or "NULL"
    return (f"SELECT {id_column}, originator_id, originator_version, topic, "
            f"CASE WHEN topic IN ({wanted}) THEN state END AS state FROM {table} "
            f"WHERE {id_column} >= {placeholder} ORDER BY {id_column} LIMIT {placeholder}")


class RowSource(Protocol):
    def select_rows(self, start: int, limit: int, state_topics: Collection[str]) -> list[StoredRow]: ...


class PollingSubscription:
    """Hands out the stored events after ``gt`` in order, a batch at a time; when none are left
    it sleeps for the poll interval and asks again, until stopped."""

    def __init__(self, recorder: RowSource, gt: int | None = None, poll_interval: float | None = None,
                 batch_size: int = 1000) -> None:
        self._recorder = recorder
        self._last_notification_id = gt
        self._poll_interval = float(os.environ.get(POLL_INTERVAL_ENV, "0.2")) if poll_interval is None \
            else poll_interval
        self._batch_size = batch_size
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    @property
    def stopped(self) -> threading.Event:
        """Set once stopped: a halted runner waits on it between its tries."""
        return self._stopped

    def next_rows(self, state_topics: Collection[str], limit: int | None = None) -> list[StoredRow]:
        """The stored events available now, up to ``limit`` (at least one; waits for it), or []
        once stopped: lets a runner apply a batch in one transaction. Only events with one of
        ``state_topics`` carry their state."""
        while True:
            if self._stopped.is_set():
                return []
            start = (self._last_notification_id or 0) + 1
            rows = self._recorder.select_rows(start, limit or self._batch_size, state_topics)
            if rows:
                self._last_notification_id = rows[-1].id
                return rows
            self._stopped.wait(self._poll_interval)


class PollingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def select_rows(self, start: int, limit: int, state_topics: Collection[str]) -> list[StoredRow]:
        topics = sorted(state_topics)
        with self.datastore.transaction(commit=False) as c:
            c.sqlite_cursor.row_factory = None  # plain tuples
            c.execute(_rows_statement(self.events_table_name, "rowid", "?", topics), (*topics, start, limit))
            return list(map(StoredRow._make, c.fetchall()))


class PollingPostgresApplicationRecorder(PostgresApplicationRecorder):
    """PostgreSQL has LISTEN/NOTIFY, but a notification lost (a dropped connection, a restarted
    server) must not stall a projection: polling never depends on one. Inserts lock the table,
    so ids commit in order and reading after the last id misses nothing."""

    def select_rows(self, start: int, limit: int, state_topics: Collection[str]) -> list[StoredRow]:
        topics = sorted(state_topics)
        table = f"{self.datastore.schema}.{self.events_table_name}"
        with self.datastore.transaction(commit=False) as c:
            c.execute(_rows_statement(table, "notification_id", "%s", topics), (*topics, start, limit))
            return [StoredRow(row["notification_id"], str(row["originator_id"]), row["originator_version"],
                              row["topic"], row["state"]) for row in c.fetchall()]


RECORDER_TOPIC = f"{__name__}:PollingSQLiteApplicationRecorder"
POSTGRES_RECORDER_TOPIC = f"{__name__}:PollingPostgresApplicationRecorder"
