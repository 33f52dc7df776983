"""Report section 4.1 ("Avances en la conformación de la LNERE") from the journey counts view,
as of a business day: JSON in the shape of INE's published figures, and Markdown tables as the
report prints them."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from lnere.domain.commands import CallOutcome, CpveStep, DeliveryStatus
from lnere.domain.process import (
    AttentionChannel,
    AttentionOrigin,
    AttentionService,
    ElectoralProcess,
)
from lnere.domain.rules import Stage
from lnere.domain.values import country_name_es
from lnere.projections.journey_counts import AGE_RANGES, CountsView
from lnere.projections.journey_counts.writes import state_scope

SEX_LABELS = {"H": "Hombres", "M": "Mujeres"}
CREDENTIAL_KINDS = ("CPVE", "CPV")
ANALYSIS_KEYS = ("received", "meets_requirements", "inconsistencies", "in_review", "rejected")
# Report table 4.2.1: outbound call outcomes, and 4.2.2: automated notices, as INE labels them.
OUTBOUND_CALL_OUTCOMES = {
    CallOutcome.REGISTERED: "Registrado",
    CallOutcome.INFORMED: "Informado",
    CallOutcome.NO_INTENTION_TO_VOTE: "Sin intención de voto",
    CallOutcome.VOICEMAIL_OR_THIRD_PARTY: "Buzón de voz / Mensaje con tercera persona",
    CallOutcome.NO_ANSWER: "No contestó",
    CallOutcome.WILL_CALL_BACK: "Llamará posteriormente",
    CallOutcome.CITIZEN_DECEASED: "Ciudadano fallecido",
}
AUTOMATED_NOTICES = {
    "email": "Avisos por Correo Electrónico Automatizado Internacional",
    "automated_call": "Campaña Extranjero avisos de llamada automatizada de salida",
}


# Report section 4.2, INETEL's attention: services, channels and origins as INE labels them (the
# topics' labels are the process's catalogue).
ATTENTION_SERVICE_LABELS = {
    AttentionService.CREDENTIALING_ABROAD: "Credencialización en el extranjero",
    AttentionService.VMRE: "Voto de las Mexicanas y los Mexicanos Residentes en el Extranjero",
}
ATTENTION_CHANNEL_LABELS = {
    AttentionChannel.FACEBOOK: "Facebook",
    AttentionChannel.TWITTER: "Twitter",
    AttentionChannel.TELEPHONE: "Vía telefónica",
    AttentionChannel.VOICEMAIL: "Buzones de voz",
    AttentionChannel.EMAIL: "Correos electrónicos",
}
ATTENTION_ORIGIN_LABELS = {
    AttentionOrigin.UNITED_STATES: "Estados Unidos de América",
    AttentionOrigin.ELSEWHERE_ABROAD: "Diversas partes del mundo",
    AttentionOrigin.MEXICO: "México",
}

DELIVERY_LABELS = {
    DeliveryStatus.POSTAL_SENT: "Paquetes Electorales Postales enviados",
    DeliveryStatus.POSTAL_DELIVERED: "Paquetes Electorales Postales entregados",
    DeliveryStatus.POSTAL_RETURNED: "Paquetes Electorales Postales devueltos",
    DeliveryStatus.INTERNET_ACCESS_ISSUED: "Accesos para votar por internet emitidos",
}


def _with_total(values: dict[str, int]) -> dict[str, int]:
    return {**values, "TOTAL": sum(values.values())}


def build_report(view: CountsView, process: ElectoralProcess, as_of: date | None,
                 state: str | None = None) -> dict[str, Any]:
    """The report as of the end of business day ``as_of``, or of everything recorded (None);
    with ``state``, that state's own: its journeys' figures only, its column only (what a
    state's electoral body may read: nothing of another state is in it)."""
    if state is None:
        position, counts = view.counts_and_position(process.id, as_of)
        return report_from_counts(process, as_of, position, counts)
    position, counts = view.counts_and_position(state_scope(process.id, state), as_of)
    return {**report_from_counts(state_process(process, state), as_of, position, counts), "state": state}


def build_reports(view: CountsView, process: ElectoralProcess, as_of: date | None
                  ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The report and each state's own (``build_report`` with ``state``), all at one position."""
    scopes = {s.code: state_scope(process.id, s.code) for s in process.states}
    position, counts = view.counts_and_position_of([process.id, *scopes.values()], as_of)
    whole = report_from_counts(process, as_of, position, counts[process.id])
    return whole, {code: {**report_from_counts(state_process(process, code), as_of, position, counts[scope]),
                          "state": code} for code, scope in scopes.items()}


def state_process(process: ElectoralProcess, state: str) -> ElectoralProcess:
    """The process as one of its states sees it: that state alone."""
    found = process.state(state)
    if found is None:
        raise KeyError(f"state: {process.id} has no state {state!r}")
    return process.model_copy(update={"states": (found,)})


def report_from_counts(
    process: ElectoralProcess, as_of: date | None, position: int, counts: dict[str, dict[str, int]]
) -> dict[str, Any]:
    states = process.states
    state_names = {s.code: s.name for s in states}
    channels = [c.value for c in process.channels]

    per_country: dict[str, dict[str, int]] = {}
    for key, n in counts.get("country_state", {}).items():
        country, state = key.split("|")
        per_country.setdefault(country, {s.code: 0 for s in states})[state] = n
    by_country_entity: list[dict[str, Any]] = [
        {
            "country_code": country,
            "country": country_name_es(country),
            "total": sum(by_state.values()),
            "by_entity": {state_names[code]: by_state[code] for code in (s.code for s in states)},
        }
        for country, by_state in per_country.items()
    ]
    by_country_entity.sort(key=lambda row: (-row["total"], row["country"]))
    by_entity = {s.name: sum(row["by_entity"][s.name] for row in by_country_entity) for s in states}

    credential_channel = counts.get("credential_channel", {})
    by_credential_channel = {
        kind: _with_total({ch: credential_channel.get(f"{kind}|{ch}", 0) for ch in channels})
        for kind in CREDENTIAL_KINDS
    }
    by_channel = _with_total({ch: sum(by_credential_channel[k][ch] for k in CREDENTIAL_KINDS) for ch in channels})
    by_credential_channel["TOTAL"] = by_channel

    sex = counts.get("sex", {})
    ages = counts.get("age", {})
    modality = counts.get("modality", {})
    analysis = counts.get("analysis", {})
    stage = counts.get("stage", {})
    return {
        "process": process.name,
        "as_of": as_of.isoformat() if as_of is not None else None,
        "source": f"lnere journey_counts projection at event-log position {position}",
        "entities": [{"code": s.code, "name": s.name} for s in states],
        "by_channel": by_channel,
        "by_country_entity": by_country_entity,
        "by_entity": _with_total(by_entity),
        "by_credential_channel": by_credential_channel,
        "by_sex": _with_total({label: sex.get(code, 0) for code, label in SEX_LABELS.items()}),
        "by_age_range": _with_total({r: ages.get(r, 0) for r in AGE_RANGES}),
        "by_modality": _with_total({process.modality_label(m): modality.get(m.value, 0) for m in process.modalities}),
        "by_voting_site": _with_total({site.name: counts.get("voting_site", {}).get(code, 0)
                                       for code, site in process.voting_sites.items()}),
        "analysis_status": {
            "received": by_channel["TOTAL"],
            **{k: analysis.get(k, 0) for k in ANALYSIS_KEYS[1:]},
        },
        "inetel_outbound_calls": _with_total(
            {label: counts.get("call_outcome", {}).get(code, 0) for code, label in OUTBOUND_CALL_OUTCOMES.items()}),
        "automated_outbound": _with_total(
            {label: counts.get("notice", {}).get(code, 0) for code, label in AUTOMATED_NOTICES.items()}),
        "inetel_attention": _attention(process, counts),
        "credentialing": _credentialing(process, counts.get("cpve", {})),
        "campaigns": _campaigns(counts),
        "stages": {s.value: stage.get(s.value, 0) for s in Stage},
        "deliveries": {label: counts.get("delivery", {}).get(code, 0) for code, label in DELIVERY_LABELS.items()},
        "definitive_by_entity_modality": _definitive(process, counts.get("definitive", {})),
        "exclusions_by_reason": _with_total({
            process.exclusion_reasons.get(code, code): n for code, n in sorted(counts.get("exclusion", {}).items())}),
        "log_position": position,
    }


def _attention(process: ElectoralProcess, counts: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    """Report section 4.2, INETEL's attention: per service its total, and by origin, topic and
    channel (every label of the catalogue, zero or not)."""
    def of(dimension: str, service: AttentionService, labels: dict[str, str]) -> dict[str, int]:
        found = counts.get(dimension, {})
        return {label: found.get(f"{service.value}|{code}", 0) for code, label in labels.items()}

    out = {}
    for service, label in ATTENTION_SERVICE_LABELS.items():
        by_topic = of("attention_topic", service, process.attention_topics.get(service, {}))
        out[service.value] = {
            "label": label,
            "total": sum(by_topic.values()),
            "by_origin": of("attention_origin", service, {o.value: n for o, n in ATTENTION_ORIGIN_LABELS.items()}),
            "by_topic": by_topic,
            "by_channel": of("attention_channel", service, {c.value: n for c, n in ATTENTION_CHANNEL_LABELS.items()}),
        }
    return out


CPVE_STEP_LABELS = {
    CpveStep.REQUESTED: "Tramitadas", CpveStep.PRODUCED: "Producidas", CpveStep.SHIPPED: "Enviadas",
    CpveStep.DELIVERED: "Entregadas", CpveStep.ACTIVATED: "Activadas", CpveStep.CANCELLED: "Canceladas",
}


# A call campaign's progress (issue 17): its calls, and the citizens called, reached, registered.
CAMPAIGN_LABELS = {"campaign_calls": "Llamadas realizadas", "campaign_called": "Ciudadanos llamados",
                   "campaign_reached": "Ciudadanos contactados", "campaign_registered": "Registrados"}


def _campaigns(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    codes = sorted({code for dimension in CAMPAIGN_LABELS for code in counts.get(dimension, {})})
    return {code: {label: counts.get(dimension, {}).get(code, 0) for dimension, label in CAMPAIGN_LABELS.items()}
            for code in codes}


def _credentialing(process: ElectoralProcess, counts: dict[str, int]) -> dict[str, dict[str, dict[str, int]]]:
    """CPVE by step, by state of reference and by embassy or consulate (each with a total row):
    the fortnightly statistics INE sends parties and the states' electoral bodies."""
    def table(names: dict[str, str], part: int) -> dict[str, dict[str, int]]:
        rows = {name: dict.fromkeys(CPVE_STEP_LABELS.values(), 0) for name in names.values()}
        for key, n in counts.items():
            step, *where = key.split("|")
            name = names.get(where[part])
            if name is not None and step in CPVE_STEP_LABELS:
                rows[name][CPVE_STEP_LABELS[CpveStep(step)]] += n
        rows["TOTAL"] = {label: sum(row[label] for row in rows.values()) for label in CPVE_STEP_LABELS.values()}
        return rows

    return {
        "by_state": table({s.code: s.name for s in process.states}, 0),
        "by_office": table({code: office.name for code, office in process.consular_offices.items()}, 1),
    }


def _definitive(process: ElectoralProcess, counts: dict[str, int]) -> dict[str, dict[str, int]]:
    """The definitive list by state × modality, with totals."""
    table = {
        s.name: _with_total({process.modality_label(m): counts.get(f"{s.code}|{m.value}", 0)
                             for m in process.modalities})
        for s in process.states
    }
    labels = [process.modality_label(m) for m in process.modalities]
    table["TOTAL"] = _with_total({label: sum(row[label] for row in table.values()) for label in labels})
    return table


def dashboard_figures(view: CountsView, process: ElectoralProcess, as_of: date | None,
                      state: str | None = None) -> dict[str, Any]:
    """What the dashboard draws: the report, the sex × age pyramid, requests per day (with
    ``state``, that state's own, as ``build_report``)."""
    scope = process.id if state is None else state_scope(process.id, state)
    seen_as = process if state is None else state_process(process, state)
    position, counts = view.counts_and_position(scope, as_of)
    sex_age = counts.get("sex_age", {})
    return {
        "report": {**report_from_counts(seen_as, as_of, position, counts), **({"state": state} if state else {})},
        "by_sex_age": {
            age: {label: sex_age.get(f"{code}|{age}", 0) for code, label in SEX_LABELS.items()} for age in AGE_RANGES
        },
        "filed_per_day": view.filed_per_day(scope, as_of),
        "log_position": position,
    }


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(value: int, total: int) -> str:
    return f"{100 * value / total:.2f}%" if total else "0.00%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _share_table(title: str, values: dict[str, int]) -> str:
    total = values["TOTAL"]
    rows = [[k, _n(v), _pct(v, total)] for k, v in values.items() if k != "TOTAL"]
    rows.append(["TOTAL", _n(total), "100%"])
    return _table([title, "TOTAL", "%"], rows)


def render_markdown(report: dict[str, Any]) -> str:
    channels = [k for k in report["by_channel"] if k != "TOTAL"]
    states = [e["name"] for e in report["entities"]]
    parts = [
        f"# Avances en la conformación de la LNERE — {report['process']}",
        f"Cifras al **{report['as_of'] or 'momento (todo lo registrado)'}** ({report['source']}).",
        "## 4.1.1. SIILNERE recibidas",
        _table(["", *channels, "TOTAL"], [["SIILNERE", *(_n(report["by_channel"][c]) for c in channels),
                                            _n(report["by_channel"]["TOTAL"])]]),
        "## 4.1.2. Recepción de SIILNERE por país de residencia y entidad",
        _table(
            ["País", "Total", *states],
            [
                [f"{rank} {row['country']}", _n(row["total"]), *(_n(row["by_entity"][s]) for s in states)]
                for rank, row in enumerate(report["by_country_entity"], start=1)
            ]
            + [["Total", _n(report["by_entity"]["TOTAL"]), *(_n(report["by_entity"][s]) for s in states)]],
        ),
        "## 4.1.3. SIILNERE recibidas por tipo de Credencial",
        _table(
            ["TIPO DE CREDENCIAL", *channels, "TOTAL"],
            [
                [label, *(_n(report["by_credential_channel"][kind][c]) for c in [*channels, "TOTAL"])]
                for kind, label in (("CPVE", "Con CPVE"), ("CPV", "Con CPV emitida en territorio nacional"),
                                    ("TOTAL", "TOTAL"))
            ],
        ),
        "## 4.1.4. SIILNERE por sexo y rangos de edad",
        _share_table("SEXO", report["by_sex"]),
        _share_table("RANGO DE EDAD (AÑOS)", report["by_age_range"]),
        "## 4.1.5. SIILNERE por modalidad de voto",
        _share_table("MODALIDAD", report["by_modality"]),
        *([_share_table("SEDE DE VOTACIÓN PRESENCIAL", report["by_voting_site"])]
          if len(report["by_voting_site"]) > 1 else []),
        "## 4.1.6. Análisis de las SIILNERE recibidas",
        _table(
            ["", "TOTAL"],
            [
                ["Total de SIILNERE recibidas", _n(report["analysis_status"]["received"])],
                ["SIILNERE que cumplen los requisitos", _n(report["analysis_status"]["meets_requirements"])],
                ["SIILNERE con inconsistencias", _n(report["analysis_status"]["inconsistencies"])],
                ["SIILNERE en revisión", _n(report["analysis_status"]["in_review"])],
                ["SIILNERE improcedentes", _n(report["analysis_status"]["rejected"])],
            ],
        ),
        "## 4.2.1. Llamadas de salida",
        _table(["LLAMADAS INETEL", "TOTAL"], [[k, _n(v)] for k, v in report["inetel_outbound_calls"].items()]),
        "## Campañas de llamadas de salida",
        _table(["CAMPAÑA", *CAMPAIGN_LABELS.values()],
               [[code, *(_n(n) for n in row.values())] for code, row in report["campaigns"].items()]),
        "## 4.2.2. Servicios de salida automatizado",
        _table(["SERVICIOS DE SALIDA AUTOMATIZADO", "TOTAL"],
               [[k, _n(v)] for k, v in report["automated_outbound"].items()]),
        "## Credencialización en el extranjero: CPVE por entidad de referencia",
        _credentialing_table("ENTIDAD", report["credentialing"]["by_state"]),
        "## Credencialización en el extranjero: CPVE por embajada o consulado",
        _credentialing_table("EMBAJADA O CONSULADO", report["credentialing"]["by_office"]),
        "## 4.2. Atención ciudadana (INETEL)",
        *(_attention_tables(service) for service in report["inetel_attention"].values()),
        "## LNERE Definitiva por entidad y modalidad",
        _table(
            ["ENTIDAD", *modality_labels(report), "TOTAL"],
            [[state, *(_n(v) for v in row.values())] for state, row in report["definitive_by_entity_modality"].items()],
        ),
        "## Exclusiones de la LNERE Definitiva por motivo",
        _table(["MOTIVO", "TOTAL"], [[k, _n(v)] for k, v in report["exclusions_by_reason"].items()]),
        "## Envío de paquetes y accesos para votar",
        _table(["", "TOTAL"], [[k, _n(v)] for k, v in report["deliveries"].items()]),
        "## Etapas de los trámites",
        _table(["Etapa", "TOTAL"], [[k, _n(v)] for k, v in report["stages"].items()]),
    ]
    return "\n\n".join(parts) + "\n"


def _credentialing_table(title: str, rows: dict[str, dict[str, int]]) -> str:
    return _table([title, *CPVE_STEP_LABELS.values()], [[name, *(_n(n) for n in row.values())]
                                                         for name, row in rows.items()])


def _attention_tables(service: dict[str, Any]) -> str:
    rows = [["Total", _n(service["total"])]]
    for title, key in (("Origen", "by_origin"), ("Tema", "by_topic"), ("Medio", "by_channel")):
        rows += [[f"{title}: {label}", _n(n)] for label, n in service[key].items()]
    return f"### {service['label']}\n\n" + _table(["", "TOTAL"], rows)


def modality_labels(report: dict[str, Any]) -> list[str]:
    """The process's modalities, by their labels, as the report's definitive table names them."""
    return [k for k in report["definitive_by_entity_modality"]["TOTAL"] if k != "TOTAL"]


def report_rows(report: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """Every figure of the report as (table, row, column, value)."""
    rows: list[tuple[str, str, str, int]] = []
    for key, value in report["by_channel"].items():
        rows.append(("by_channel", "SIILNERE", key, value))
    for row in report["by_country_entity"]:
        rows.append(("by_country_entity", row["country_code"], "TOTAL", row["total"]))
        for state, value in row["by_entity"].items():
            rows.append(("by_country_entity", row["country_code"], state, value))
    for state, value in report["by_entity"].items():
        rows.append(("by_entity", "TOTAL", state, value))
    for kind, channels in report["by_credential_channel"].items():
        for channel, value in channels.items():
            rows.append(("by_credential_channel", kind, channel, value))
    for state, modalities in report["definitive_by_entity_modality"].items():
        for modality, value in modalities.items():
            rows.append(("definitive_by_entity_modality", state, modality, value))
    for part in ("by_state", "by_office"):
        for name, steps in report["credentialing"][part].items():
            for step, value in steps.items():
                rows.append((f"credentialing_{part}", name, step, value))
    for code, service in report["inetel_attention"].items():
        rows.append(("inetel_attention", code, "TOTAL", service["total"]))
        for key in ("by_origin", "by_topic", "by_channel"):
            for label, value in service[key].items():
                rows.append((f"inetel_attention_{key.removeprefix('by_')}", code, label, value))
    for code, row in report["campaigns"].items():
        for label, value in row.items():
            rows.append(("campaigns", code, label, value))
    for table in ("by_sex", "by_age_range", "by_modality", "by_voting_site", "analysis_status", "inetel_outbound_calls",
                  "automated_outbound", "exclusions_by_reason", "deliveries", "stages"):
        for key, value in report[table].items():
            rows.append((table, key, "TOTAL", value))
    return rows


# The tables' titles for a person reading the CSV in a spreadsheet (INE's words).
TABLE_TITLES_ES = {
    "by_channel": "SIILNERE recibidas por medio",
    "by_country_entity": "SIILNERE por país de residencia y entidad",
    "by_entity": "SIILNERE por entidad de referencia",
    "by_credential_channel": "SIILNERE por tipo de credencial y medio",
    "definitive_by_entity_modality": "LNERE Definitiva por entidad y modalidad de voto",
    "credentialing_by_state": "CPVE por entidad de referencia",
    "credentialing_by_office": "CPVE por embajada o consulado",
    "inetel_attention": "Atención ciudadana INETEL",
    "inetel_attention_origin": "Atención ciudadana INETEL por origen",
    "inetel_attention_topic": "Atención ciudadana INETEL por tema",
    "inetel_attention_channel": "Atención ciudadana INETEL por medio",
    "by_sex": "SIILNERE por sexo",
    "by_age_range": "SIILNERE por rango de edad",
    "by_modality": "SIILNERE por modalidad de voto",
    "by_voting_site": "SIILNERE por sede de votación presencial",
    "analysis_status": "Estatus de análisis de las SIILNERE",
    "inetel_outbound_calls": "Llamadas de salida INETEL",
    "campaigns": "Campañas de llamadas de salida INETEL",
    "automated_outbound": "Servicios de salida automatizado",
    "exclusions_by_reason": "Exclusiones de la LNERE Definitiva por motivo",
    "deliveries": "Paquetes y accesos para votar",
    "stages": "SIILNERE por etapa",
}


def render_csv_for_spreadsheets(report: dict[str, Any]) -> bytes:
    """The report's figures for Excel and its peers: UTF-8 with a byte-order mark (so
    "Michoacán" opens as written), INE's words as headers and table names, countries by name,
    the cut-off as a Spanish date. ``render_csv`` is the machine's version."""
    import io

    from defusedcsv import csv

    countries = {row["country_code"]: row["country"] for row in report["by_country_entity"]}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Proceso electoral", "Cifras al", "Cuadro", "Renglón", "Columna", "Valor"])
    as_of = date.fromisoformat(report["as_of"]).strftime("%d/%m/%Y") if report["as_of"] else "todo lo registrado"
    for table, row, column, value in report_rows(report):
        if table == "by_country_entity":
            row = countries.get(row, row)
        writer.writerow([report["process"], as_of, TABLE_TITLES_ES.get(table, table), row, column, value])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def render_csv(report: dict[str, Any]) -> str:
    import io

    from defusedcsv import csv  # labels come from process files: formula prefixes neutralised

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["process", "as_of", "table", "row", "column", "value"])
    for table, row, column, value in report_rows(report):
        writer.writerow([report["process"], report["as_of"], table, row, column, value])
    return out.getvalue()


# Every rendering of a report, said once: its bytes (the same for the same figures, so a digest
# names them) and its media type. The CLI, the API and the issued reports use these.
REPORT_MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8",
                      "md": "text/markdown; charset=utf-8", "excel": "text/csv; charset=utf-8"}


def render_report(report: dict[str, Any], rendering: str) -> bytes:
    """json (indented, as issued), csv (for programs), md (as INE prints it), excel (CSV for
    spreadsheets: byte-order mark, INE's words)."""
    if rendering == "json":
        return (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode()
    if rendering == "csv":
        return render_csv(report).encode()
    if rendering == "md":
        return render_markdown(report).encode()
    if rendering == "excel":
        return render_csv_for_spreadsheets(report)
    raise ValueError(f"no rendering {rendering!r} (one of {', '.join(REPORT_MEDIA_TYPES)})")
