"""Cell-by-cell comparison of our report with a published one (tables of sections 4.1 and 4.2,
INETEL's attention included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The published tables of sections 4.1 and 4.2 and how their cells are addressed.
FLAT_TABLES = ("by_channel", "by_entity", "by_sex", "by_age_range", "by_modality", "analysis_status",
               "inetel_outbound_calls", "automated_outbound")


@dataclass(frozen=True)
class Cell:
    table: str
    row: str
    column: str
    published: int | None
    ours: int | None

    @property
    def differs(self) -> bool:
        return self.published != self.ours


def cells(published: dict[str, Any], ours: dict[str, Any]) -> list[Cell]:
    """Every cell of the published tables, with our value beside it (None where we have no
    such cell), plus cells only we have in the country table."""
    out: list[Cell] = []
    for table in FLAT_TABLES:
        for key, value in published[table].items():
            out.append(Cell(table, key, "", value, ours.get(table, {}).get(key)))
    for kind, channels in published["by_credential_channel"].items():
        for channel, value in channels.items():
            out.append(Cell("by_credential_channel", kind, channel, value,
                            ours["by_credential_channel"].get(kind, {}).get(channel)))
    our_countries = {row["country_code"]: row for row in ours["by_country_entity"]}
    for row in published["by_country_entity"]:
        mine = our_countries.pop(row["country_code"], None)
        out.append(Cell("by_country_entity", row["country_code"], "total", row["total"],
                        mine["total"] if mine else None))
        for state, value in row["by_entity"].items():
            out.append(Cell("by_country_entity", row["country_code"], state, value,
                            mine["by_entity"].get(state) if mine else None))
    for code, mine in our_countries.items():
        out.append(Cell("by_country_entity", code, "total", None, mine["total"]))
    # INETEL's attention: services matched by INE's label (the published file keys them its way).
    our_services = {s["label"]: s for s in ours.get("inetel_attention", {}).values()}
    for service in published.get("inetel_attention", {}).values():
        mine = our_services.get(service["label"], {})
        out.append(Cell("inetel_attention", service["label"], "total", service["total"], mine.get("total")))
        for breakdown in ("by_origin", "by_topic", "by_channel"):
            for label, value in service[breakdown].items():
                out.append(Cell(f"inetel_attention_{breakdown}", service["label"], label, value,
                                mine.get(breakdown, {}).get(label)))
    return out


def order_differences(published: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """Countries ranked differently, ignoring the order among countries with equal totals."""
    def ranks(report: dict[str, Any]) -> list[tuple[int, frozenset[str]]]:
        groups: dict[int, set[str]] = {}
        order: list[int] = []
        for row in report["by_country_entity"]:
            if row["total"] not in groups:
                order.append(row["total"])
            groups.setdefault(row["total"], set()).add(row["country_code"])
        return [(total, frozenset(groups[total])) for total in order]

    mine, theirs = ranks(ours), ranks(published)
    if mine == theirs:
        return []
    return [f"published order {[(t, sorted(c)) for t, c in theirs]} != ours {[(t, sorted(c)) for t, c in mine]}"]


def render_comparison(published: dict[str, Any], ours: dict[str, Any]) -> tuple[str, int]:
    """Side-by-side tables and the differences; returns the text and the number of differences."""
    all_cells = cells(published, ours)
    differences = [c for c in all_cells if c.differs]
    order = order_differences(published, ours)
    lines = [f"Report as of {ours['as_of']}: published ({published.get('source', 'published')}) vs lnere", ""]
    attention = dict.fromkeys(c.table for c in all_cells if c.table.startswith("inetel_attention"))
    for table in (*FLAT_TABLES[:1], "by_credential_channel", *FLAT_TABLES[2:], *attention):
        lines.append(f"{table}:")
        lines.append(f"  {'':46} {'published':>10} {'lnere':>10}")
        for c in (c for c in all_cells if c.table == table):
            label = (f"{c.row} / {c.column}" if c.column else c.row)[-46:]
            mark = "" if not c.differs else "   <-- differs"
            lines.append(f"  {label:46} {_n(c.published):>10} {_n(c.ours):>10}{mark}")
    country_cells = [c for c in all_cells if c.table == "by_country_entity"]
    by_entity_cells = [c for c in all_cells if c.table == "by_entity"]
    lines.append(f"by_country_entity: {len(country_cells):,} cells ({len(published['by_country_entity'])} countries "
                 f"× total and {len(published['entities'])} states), "
                 f"{sum(c.differs for c in country_cells)} differ")
    lines.append(f"by_entity: {len(by_entity_cells)} cells, {sum(c.differs for c in by_entity_cells)} differ")
    lines.append("")
    if differences or order:
        lines.append(f"DIFFERENCES: {len(differences)} cell(s)" + (", country order differs" if order else ""))
        for c in differences:
            lines.append(f"  {c.table} [{c.row}{' / ' + c.column if c.column else ''}]: "
                         f"published {_n(c.published)}, lnere {_n(c.ours)}")
        lines.extend(f"  {text}" for text in order)
    else:
        lines.append(f"No differences: all {len(all_cells):,} cells equal, countries in the published order "
                     "(ties in any order).")
    return "\n".join(lines) + "\n", len(differences) + len(order)


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"
