"""Reading the view: counts as of a day, the review inbox, list members, pages of a stage."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from lnere.domain.lists import ListKind
from lnere.domain.rules import Stage
from lnere.projections.journey_counts.schema import INBOX_FILTERS
from lnere.projections.journey_counts.storage import ViewStorage


class CountsQueries(ViewStorage):
    """The view's reads, for SQLite and PostgreSQL alike (see ``views``)."""

    def position(self, application_name: str = "journeys") -> int:
        return self.max_tracking_id(application_name) or 0

    def counts_as_of(self, process_id: str, as_of: date | None) -> dict[str, dict[str, int]]:
        """{dimension: {key: n}} summed over days up to ``as_of`` (the running totals when None)."""
        return self.counts_and_position(process_id, as_of)[1]

    def counts_and_position(self, process_id: str, as_of: date | None) -> tuple[int, dict[str, dict[str, int]]]:
        """The counts and the event-log position they reflect, read in one transaction."""
        position, counts = self.counts_and_position_of([process_id], as_of)
        return position, counts[process_id]

    def counts_and_position_of(
        self, scopes: list[str], as_of: date | None
    ) -> tuple[int, dict[str, dict[str, dict[str, int]]]]:
        """The counts of several scopes (a process, its states' scopes) and the event-log
        position they all reflect, read in one transaction."""
        m = self.mark
        results: dict[str, dict[str, dict[str, int]]] = {}
        with self._transaction(commit=False) as c:
            c.execute(f"SELECT MAX(notification_id) AS n FROM {self.tracking_table} WHERE application_name = {m}",
                      ("journeys",))
            position = c.fetchone()["n"] or 0
            for scope in scopes:
                if as_of is None:
                    sql, params = f"SELECT dimension, key, n FROM totals WHERE process_id = {m}", [scope]
                else:
                    sql = (f"SELECT dimension, key, SUM(n) AS n FROM counts WHERE process_id = {m} AND day <= {m} "
                           "GROUP BY dimension, key")
                    params = [scope, as_of.isoformat()]
                result: dict[str, dict[str, int]] = defaultdict(dict)
                c.execute(sql, params)
                for row in c.fetchall():
                    if row["n"]:
                        result[row["dimension"]][row["key"]] = row["n"]
                results[scope] = result
        return position, results

    def last_business_day(self, process_id: str) -> date | None:
        """The latest business day a journey of the process moved on — a credential recorded, a
        request filed, a decision, a milestone (a replayed process's "today"). Outreach,
        attentions, campaigns and deliveries do not move it: one of them dated by mistake past
        the rest must not make the process's "today" jump (and issue every report at once)."""
        m = self.mark
        with self._transaction(commit=False) as c:
            c.execute(f"SELECT MAX(day) AS day FROM counts WHERE process_id = {m} AND dimension IN ({m}, {m})",
                      (process_id, "stage", "analysis"))
            row = c.fetchone()
        return date.fromisoformat(row["day"]) if row and row["day"] else None

    def journeys_per_process(self) -> dict[str, int]:
        """How many journeys each process holds (its stage totals), for the processes with any."""
        with self._transaction(commit=False) as c:
            c.execute("SELECT process_id, SUM(n) AS n FROM totals WHERE dimension = 'stage' GROUP BY process_id")
            return {row["process_id"]: row["n"] for row in c.fetchall() if row["n"]}

    def filed_per_day(self, process_id: str, as_of: date | None) -> dict[str, int]:
        """Requests filed on each business day (every request counts once in ``sex``)."""
        m = self.mark
        sql = f"SELECT day, SUM(n) AS n FROM counts WHERE process_id = {m} AND dimension = 'sex'"
        params: list[Any] = [process_id]
        if as_of is not None:
            sql += f" AND day <= {m}"
            params.append(as_of.isoformat())
        with self._transaction(commit=False) as c:
            c.execute(sql + " GROUP BY day ORDER BY day", params)
            return {row["day"]: row["n"] for row in c.fetchall() if row["n"]}

    def list_members(
        self, process_id: str, kind: str, position: int, state: str | None = None, modality: str | None = None
    ) -> list[dict[str, Any]]:
        """The journeys of a list ("review" or "definitive") as it stood at log ``position``."""
        m = self.mark
        column = {ListKind.REVIEW: "listed_position", ListKind.DEFINITIVE: "included_position"}[ListKind(kind)]
        sql = (f"SELECT journey_id, workflow_id, state_of_reference, country, modality, stage, excluded_reason "
               f"FROM journeys WHERE process_id = {m} AND {column} <= {m}")
        params: list[Any] = [process_id, position]
        for name, value in (("state_of_reference", state), ("modality", modality)):
            if value is not None:
                sql += f" AND {name} = {m}"
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
        m = self.mark
        sql = ("SELECT journey_id, workflow_id, in_review_since, reviews, state_of_reference, country, modality,"
               f" channel, credential_kind FROM journeys WHERE process_id = {m} AND stage = {m}")
        params: list[Any] = [process_id, Stage.IN_REVIEW.value]
        for name, value in filters.items():
            assert name in INBOX_FILTERS
            sql += f" AND {name} = {m}"
            params.append(value)
        if re_review is not None:
            sql += " AND reviews > 1" if re_review else " AND reviews = 1"
        if after is not None:
            sql += f" AND (in_review_since, journey_id) > ({m}, {m})"
            params.extend(after)
        sql += f" ORDER BY in_review_since, journey_id LIMIT {m}"
        params.append(limit)
        with self._transaction(commit=False) as c:
            c.execute(sql, params)
            return [dict(row) for row in c.fetchall()]

    def inbox_counts(self, process_id: str, filters: dict[str, str], re_review: bool | None
                     ) -> dict[str, dict[str, int]]:
        """The requests awaiting a decision counted by each filter's values under the other
        filters (and by round: "first", "re_review"), and "total" under all of them ({"": n}),
        from the groups the projection keeps: a few thousand rows at most, summed in SQL."""
        m = self.mark
        dimensions = {**{name: name for name in INBOX_FILTERS}, "round": "re_review"}
        counts: dict[str, dict[str, int]] = {}
        with self._transaction(commit=False) as c:
            for name, column in (*dimensions.items(), ("total", "''")):
                where: list[str] = [f"process_id = {m}"]
                params: list[Any] = [process_id]
                for other, value in filters.items():
                    if other != name:
                        where.append(f"{other} = {m}")
                        params.append(value)
                if re_review is not None and name != "round":
                    where.append(f"re_review = {m}")
                    params.append(1 if re_review else 0)
                grouped = f" GROUP BY {column}" if name != "total" else ""
                c.execute(f"SELECT {column} AS value, SUM(n) AS n FROM inbox_groups WHERE {' AND '.join(where)}"
                          f"{grouped}", params)
                tally = {}
                for row in c.fetchall():
                    if row["n"]:
                        key = ({0: "first", 1: "re_review"}[row["value"]] if name == "round" else row["value"])
                        if key != "" or name == "total":
                            tally[key] = int(row["n"])
                counts[name] = dict(sorted(tally.items()))
        return counts

    def review_backlog(self, process_id: str) -> tuple[dict[str, dict[str, int]], str | None]:
        """The requests awaiting a decision by state of reference and round ({state: {"first": n,
        "re_review": n}}), and when the oldest of them entered review."""
        m = self.mark
        by_state: dict[str, dict[str, int]] = {}
        with self._transaction(commit=False) as c:
            c.execute(f"SELECT state_of_reference, re_review, SUM(n) AS n FROM inbox_groups WHERE process_id = {m} "
                      "GROUP BY state_of_reference, re_review", (process_id,))
            for row in c.fetchall():
                if row["n"]:
                    state = by_state.setdefault(row["state_of_reference"] or "—", {"first": 0, "re_review": 0})
                    state["re_review" if row["re_review"] else "first"] += int(row["n"])
            c.execute(f"SELECT MIN(in_review_since) AS oldest FROM journeys WHERE process_id = {m} AND stage = {m}",
                      (process_id, Stage.IN_REVIEW.value))
            row = c.fetchone()
        return dict(sorted(by_state.items())), (row["oldest"] if row else None)

    def journeys_in_stages(
        self, process_id: str, stages: list[str], after: str, below: str, limit: int
    ) -> list[tuple[str, str]]:
        """A page of (journey_id, workflow_id) in the given stages, in id order within [after, below)."""
        m = self.mark
        marks = ",".join([m] * len(stages))
        with self._transaction(commit=False) as c:
            c.execute(
                f"SELECT journey_id, workflow_id FROM journeys WHERE process_id = {m} AND stage IN ({marks}) "
                f"AND journey_id > {m} AND journey_id < {m} ORDER BY journey_id LIMIT {m}",
                (process_id, *stages, after, below, limit),
            )
            return [(row["journey_id"], row["workflow_id"]) for row in c.fetchall()]
