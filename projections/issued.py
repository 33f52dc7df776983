"""The issued progress reports' bytes: each rendering made the same way every time (so its
SHA-256 identifies it), the changes from the previous issue, and the figures made again at an
issue's log position from the event log alone (a view rebuilt up to that position), which is
how a party or an auditor checks that an issue says what the registry held."""

from __future__ import annotations

import hashlib
import tempfile
from datetime import date
from pathlib import Path
from typing import Any, cast

from eventsourcing.sqlite import SQLiteDatastore

from lnere.domain.process import ElectoralProcess
from lnere.domain.reports import RENDERINGS
from lnere.projections.report import build_report, render_report, report_rows
from lnere.settings import Settings


def render(figures: dict[str, Any], rendering: str) -> bytes:
    """One rendering of an issued report's figures, byte for byte the same for the same figures."""
    if rendering not in RENDERINGS:
        raise ValueError(f"no rendering {rendering!r} (one of {', '.join(RENDERINGS)})")
    return render_report(figures, rendering)


def digests(figures: dict[str, Any]) -> dict[str, str]:
    return {rendering: hashlib.sha256(render(figures, rendering)).hexdigest() for rendering in RENDERINGS}


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure that differs from the previous issue's (all of them, for the first)."""
    old = {(t, r, c): v for t, r, c, v in report_rows(before)} if before else {}
    return [{"table": t, "row": r, "column": c, "before": old.get((t, r, c), 0), "after": v}
            for t, r, c, v in report_rows(after) if old.get((t, r, c), 0) != v]


def figures_at(settings: Settings, process: ElectoralProcess, position: int, as_of: date | None,
               state: str | None = None) -> dict[str, Any]:
    """The report as of ``as_of`` (with ``state``: that state's own) made from the events up to
    ``position`` only: a view of its own, built from the event log in a temporary folder (the
    live view is not read)."""
    from lnere.projections.journey_counts import JourneyCountsProjection, JourneyCountsView
    from lnere.projections.polling import RowSource
    from lnere.projections.runner import BATCH_SIZE, EventDecoder, apply_rows, create_tables, runner_env
    from lnere.store.registry import JourneyRegistry

    app = JourneyRegistry(env=runner_env(settings))
    try:
        head = app.head()
        if position > head:
            raise ValueError(f"position {position} is past the event log's head ({head})")
        with tempfile.TemporaryDirectory(prefix="lnere-rederive-") as folder:
            view = JourneyCountsView(SQLiteDatastore(str(Path(folder) / "view.sqlite"), lock_timeout=30))
            try:
                create_tables(view)
                projection = JourneyCountsProjection(view=view)
                decode = EventDecoder(app.mapper)
                rows_of = cast(RowSource, app.recorder)
                start = 1
                while start <= position:
                    rows = [row for row in rows_of.select_rows(start, BATCH_SIZE, projection.topics)
                            if row.id <= position]
                    if not rows:
                        break
                    apply_rows(view, projection, decode, app.name, rows)
                    start = rows[-1].id + 1
                return build_report(view, process, as_of, state)
            finally:
                view.datastore.close()
    finally:
        app.close()
