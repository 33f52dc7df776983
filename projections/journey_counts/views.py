"""The view on each backend: the same reads and writes (``queries``, ``writes``), with the
backend's tracking recorder, tables and SQL parameter placeholder."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Composed

from lnere.projections.journey_counts.queries import CountsQueries
from lnere.projections.journey_counts.schema import view_tables
from lnere.projections.journey_counts.writes import CountsWrites


class CountsView(CountsWrites, CountsQueries, TrackingRecorder):
    """The view, whatever its backend (what its readers and writers are typed with)."""

    def _transaction(self, commit: bool):
        return self.datastore.transaction(commit=commit)


class JourneyCountsView(CountsView, SQLiteTrackingRecorder):
    """The materialised view, in its own SQLite file."""

    mark = "?"
    tracking_table = "tracking"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *view_tables()]


class PostgresJourneyCountsView(CountsView, PostgresTrackingRecorder):
    """The materialised view, in tables of a PostgreSQL database."""

    mark = "%s"

    def __init__(self, datastore, **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name="journey_counts_tracking", **kwargs)
        self.tracking_table = f"{datastore.schema}.journey_counts_tracking"
        self.sql_create_statements.extend(Composed([SQL(statement)]) for statement in view_tables(postgres=True))
