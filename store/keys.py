"""Where citizens' keys are kept (see ``domain.vault``): wrapped keys in their own SQLite file
beside an SQLite event store, or in a table of the PostgreSQL event store's database."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class SQLiteKeyStore:
    """Wrapped keys in their own SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS citizen_keys (journey_id TEXT PRIMARY KEY, wrapped BLOB, erased_at TEXT)"
        )

    def get(self, journey_id: str) -> tuple[bytes | None, str | None] | None:
        row = self._db.execute("SELECT wrapped, erased_at FROM citizen_keys WHERE journey_id = ?",
                               (journey_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def get_many(self, journey_ids: list[str]) -> dict[str, tuple[bytes | None, str | None]]:
        found = {}
        for start in range(0, len(journey_ids), 900):
            chunk = journey_ids[start:start + 900]
            rows = self._db.execute(f"SELECT journey_id, wrapped, erased_at FROM citizen_keys WHERE journey_id IN "
                                    f"({','.join('?' * len(chunk))})", chunk).fetchall()
            found.update({row[0]: (row[1], row[2]) for row in rows})
        return found

    def add(self, journey_id: str, wrapped: bytes) -> None:
        """Adds a key unless one exists (another writer's wins)."""
        self._db.execute("INSERT OR IGNORE INTO citizen_keys (journey_id, wrapped) VALUES (?, ?)",
                         (journey_id, wrapped))

    def erase(self, journey_id: str, at: str) -> None:
        self._db.execute(
            "INSERT INTO citizen_keys (journey_id, wrapped, erased_at) VALUES (?, NULL, ?) "
            "ON CONFLICT (journey_id) DO UPDATE SET wrapped = NULL, erased_at = excluded.erased_at",
            (journey_id, at),
        )

    def close(self) -> None:
        self._db.close()


class PostgresKeyStore:
    """Wrapped keys in a table of the PostgreSQL event store's database."""

    def __init__(self, conninfo: str) -> None:
        import psycopg

        self._db = psycopg.connect(conninfo, autocommit=True)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS citizen_keys (journey_id TEXT PRIMARY KEY, wrapped BYTEA, erased_at TEXT)"
        )

    def get(self, journey_id: str) -> tuple[bytes | None, str | None] | None:
        row = self._db.execute("SELECT wrapped, erased_at FROM citizen_keys WHERE journey_id = %s",
                               (journey_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def get_many(self, journey_ids: list[str]) -> dict[str, tuple[bytes | None, str | None]]:
        rows = self._db.execute("SELECT journey_id, wrapped, erased_at FROM citizen_keys WHERE journey_id = ANY(%s)",
                                (journey_ids,)).fetchall()
        return {row[0]: (row[1], row[2]) for row in rows}

    def add(self, journey_id: str, wrapped: bytes) -> None:
        self._db.execute("INSERT INTO citizen_keys (journey_id, wrapped) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                         (journey_id, wrapped))

    def erase(self, journey_id: str, at: str) -> None:
        self._db.execute(
            "INSERT INTO citizen_keys (journey_id, wrapped, erased_at) VALUES (%s, NULL, %s) "
            "ON CONFLICT (journey_id) DO UPDATE SET wrapped = NULL, erased_at = excluded.erased_at",
            (journey_id, at),
        )

    def close(self) -> None:
        self._db.close()
