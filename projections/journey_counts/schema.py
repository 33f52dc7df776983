"""The view's tables and the vocabularies its rows hold (INE's age ranges)."""

from __future__ import annotations

from lnere.domain.rules import Stage

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


POSITION_COLUMN = {Stage.LISTED_FOR_REVIEW: "listed_position", Stage.INCLUDED: "included_position"}

# What the review inbox filters on, besides the process and stage.
INBOX_FILTERS = ("state_of_reference", "country", "modality", "channel", "credential_kind")


def inbox_group(row: dict) -> tuple | None:
    """The inbox group a journey row counts in (its process, filter values, and whether it is a
    re-review), or None when it awaits no decision. An unknown value is '' (a key column)."""
    if row["stage"] != Stage.IN_REVIEW:
        return None
    return (row["process_id"], *(row[name] or "" for name in INBOX_FILTERS), 1 if row["reviews"] > 1 else 0)


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
        # The requests awaiting a decision, counted by their filter values and round: the desk's
        # counts per filter and backlog per state read these few rows, not the journeys.
        "CREATE TABLE IF NOT EXISTS inbox_groups ("
        " process_id TEXT NOT NULL, state_of_reference TEXT NOT NULL, country TEXT NOT NULL,"
        " modality TEXT NOT NULL, channel TEXT NOT NULL, credential_kind TEXT NOT NULL,"
        " re_review INTEGER NOT NULL, n INTEGER NOT NULL,"
        " PRIMARY KEY (process_id, state_of_reference, country, modality, channel, credential_kind, re_review))"
        f"{without_rowid}",
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
