"""Exports of the final lists, per state (and, for the definitive list, per modality), and the
difference between the list for review and the definitive one.

An export holds only what a party needs to check a citizen: the journey id (to file an
observation), the clave de elector, the names, the country of residence and the state (and the
modality, in the definitive list). Rows are in a fixed order and the CSV in a fixed form, so the
same list always hashes the same and a change to one citizen changes the hash. The personal
data come from the citizens' sealed records at the time of the export; exports are written
where the caller says, never kept by lnere.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from defusedcsv import csv

from lnere.domain.lists import ListKind
from lnere.domain.process import ElectoralProcess
from lnere.domain.values import country_name_es
from lnere.projections.journey_counts import CountsView
from lnere.store.registry import JourneyRegistry

READ_BATCH = 1000
COLUMNS = ["journey", "clave_elector", "apellido_paterno", "apellido_materno", "nombre", "pais_residencia", "entidad"]


def parts(process: ElectoralProcess, kind: str) -> list[tuple[str, str | None]]:
    """The parts of a list: (state, None) for the list for review, (state, modality) for the
    definitive one."""
    if kind == ListKind.REVIEW:
        return [(s.code, None) for s in process.states]
    return [(s.code, m.value) for s in process.states for m in process.modalities]


def export_rows(view: CountsView, registry: JourneyRegistry, process: ElectoralProcess, kind: str,
                position: int, state: str, modality: str | None = None) -> list[list[str]]:
    names = {s.code: s.name for s in process.states}
    rows = []
    members = view.list_members(process.id, kind, position, state, modality)
    credentials: dict[str, Any] = {}
    for start in range(0, len(members), READ_BATCH):  # the part's credentials read a batch at a time
        credentials.update(registry.credentials_of([m["workflow_id"] for m in members[start:start + READ_BATCH]]))
    for member in members:
        credential = credentials.get(member["workflow_id"]) or {}
        holder = credential.get("holder", {})
        row = [
            member["workflow_id"],
            credential.get("clave", "[suprimido]"),
            holder.get("paternal_surname", "[suprimido]"),
            holder.get("maternal_surname") or "",
            holder.get("given_names", "[suprimido]"),
            country_name_es(member["country"]),
            names[member["state_of_reference"]],
        ]
        if kind == ListKind.DEFINITIVE:
            row.append(member["modality"])
        rows.append(row)
    rows.sort(key=lambda r: (r[2], r[3], r[4], r[1], r[0]))
    return rows


def render(rows: list[list[str]], kind: str) -> bytes:
    """Every field quoted (a carriage return in a name cannot make a row) and formula
    prefixes neutralised (defusedcsv: OWASP's CSV-injection rules); the hash is over these bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS + (["modalidad"] if kind == ListKind.DEFINITIVE else []))
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def export(view: CountsView, registry: JourneyRegistry, process: ElectoralProcess, kind: str, position: int,
           state: str, modality: str | None = None) -> tuple[bytes, int]:
    """The part's CSV and how many citizens it holds."""
    rows = export_rows(view, registry, process, kind, position, state, modality)
    return render(rows, kind), len(rows)


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def cut_parts(view: CountsView, registry: JourneyRegistry, process: ElectoralProcess, kind: str,
              position: int) -> list[dict[str, Any]]:
    """Each part of the list at ``position``: state, modality, citizens, SHA-256 of its export."""
    out = []
    for state, modality in parts(process, kind):
        content, citizens = export(view, registry, process, kind, position, state, modality)
        out.append({"state": state, "modality": modality, "citizens": citizens, "sha256": digest(content)})
    return out


def departures(view: CountsView, process: ElectoralProcess, review_position: int,
               definitive_position: int) -> list[dict[str, Any]]:
    """Who was in the list for review and is not in the definitive list, and why (no personal
    data: journey ids, states, reasons)."""
    definitive = {m["journey_id"] for m in view.list_members(process.id, ListKind.DEFINITIVE, definitive_position)}
    names = {s.code: s.name for s in process.states}
    out = [
        {"journey": m["workflow_id"], "entidad": names[m["state_of_reference"]], "reason": m["excluded_reason"],
         "motivo": process.exclusion_reasons.get(m["excluded_reason"] or "", m["excluded_reason"] or "")}
        for m in view.list_members(process.id, ListKind.REVIEW, review_position)
        if m["journey_id"] not in definitive
    ]
    out.sort(key=lambda d: (d["entidad"], d["reason"] or "", d["journey"]))
    return out
