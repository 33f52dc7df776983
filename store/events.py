"""Reading many aggregates' stored events in one query, on either backend.

eventsourcing's recorders read one aggregate per query; a milestone or a delivery run over a
page of a thousand journeys would make a thousand round trips. This reads the page at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder

# SQLite allows 32,766 bound parameters; PostgreSQL takes the ids as one array.
MAX_IDS = 5000


def select_events_of(recorder: AggregateRecorder, originator_ids: Sequence[UUID],
                     topics: Sequence[str] = ()) -> list[StoredEvent]:
    """Every stored event of the given aggregates (of these topics, if given), ordered by
    aggregate then version."""
    events: list[StoredEvent] = []
    for start in range(0, len(originator_ids), MAX_IDS):
        chunk = list(originator_ids[start:start + MAX_IDS])
        if isinstance(recorder, PostgresAggregateRecorder):
            events.extend(_select_postgres(recorder, chunk, topics))
        elif isinstance(recorder, SQLiteAggregateRecorder):
            events.extend(_select_sqlite(recorder, chunk, topics))
        else:  # another recorder (POPO in memory): one query each
            for originator_id in chunk:
                events.extend(e for e in recorder.select_events(originator_id) if not topics or e.topic in topics)
    return events


def _select_sqlite(recorder: SQLiteAggregateRecorder, ids: list[UUID], topics: Sequence[str]) -> list[StoredEvent]:
    marks = ",".join("?" * len(ids))
    of_topics = f" AND topic IN ({','.join('?' * len(topics))})" if topics else ""
    statement = (f"SELECT originator_id, originator_version, topic, state FROM {recorder.events_table_name} "
                 f"WHERE originator_id IN ({marks}){of_topics} "
                 "ORDER BY originator_id, originator_version")
    with recorder.datastore.transaction(commit=False) as c:
        c.sqlite_cursor.row_factory = None
        c.execute(statement, [i.hex for i in ids] + list(topics))
        return [StoredEvent(originator_id=UUID(row[0]), originator_version=row[1], topic=row[2], state=row[3])
                for row in c.fetchall()]


def _select_postgres(recorder: PostgresAggregateRecorder, ids: list[UUID], topics: Sequence[str]) -> list[StoredEvent]:
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
        "WHERE originator_id = ANY(%s)" + (" AND topic = ANY(%s)" if topics else "") +
        " ORDER BY originator_id, originator_version"
    ).format(schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))
    as_text = recorder.datastore.originator_id_type == "text"
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, [[str(i) for i in ids] if as_text else ids, *([list(topics)] if topics else [])])
        return [StoredEvent(originator_id=row["originator_id"], originator_version=row["originator_version"],
                            topic=row["topic"], state=bytes(row["state"])) for row in curs.fetchall()]
