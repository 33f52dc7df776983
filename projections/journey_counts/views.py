"""The view on each backend: the same writes and reads, and the backend's own tracking recorder
and tables. SQL is written once with ``?`` placeholders; the PostgreSQL cursor takes them."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL

from projections.journey_counts.queries import CountsQueries
from projections.journey_counts.schema import view_tables
from projections.journey_counts.writes import CountsWrites


class CountsView(CountsWrites, CountsQueries):
    """The view, whatever its backend (what its readers and writers are typed with): its reads
    and writes, written once for SQLite and PostgreSQL: SQL with ``?``
    placeholders, run through ``_transaction`` (which adapts them for PostgreSQL)."""

    # A view whose tables change gets a new file, rebuilt from the event log by the runner.
    VERSION = 2
    tracking_table = "tracking"

    if TYPE_CHECKING:
        datastore: Any  # the backend's, given by its tracking recorder

    def _transaction(self, commit: bool):
        return self.datastore.transaction(commit=commit)

    @staticmethod
    def _raw(c):
        return getattr(c, "raw", c)


class JourneyCountsView(CountsView, SQLiteTrackingRecorder):
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


class PostgresJourneyCountsView(CountsView, PostgresTrackingRecorder):
    """The materialised view, in tables of a PostgreSQL database."""

    def __init__(self, datastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name="journey_counts_tracking", **kwargs)
        self.tracking_table = f"{datastore.schema}.journey_counts_tracking"
        self.sql_create_statements.extend(SQL(statement) for statement in view_tables(postgres=True))

    @contextmanager
    def _transaction(self, commit: bool):
        with self.datastore.transaction(commit=commit) as raw:
            yield _PostgresCursor(raw)
