"""Bulk import and the seed scenario on the real stack: the Temporal dev server, a worker,
the SQLite event store and the projection runner.

Expected figures never come from the engine: the seed's are INE's published tables; a random
population's are counted here from its command file by ``count_from_command_file``, which
shares no code with the engine.
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lnere.application.importer import run_import
from lnere.domain.process import ProcessCatalog
from lnere.projections.report import build_report, render_csv
from lnere.projections.runner import wait_for_head
from lnere.simulation import people
from lnere.simulation.population import generate, load_scenario
from tests.conftest import running_stack

session_loop = pytest.mark.asyncio(loop_scope="session")

MEXICO_CITY = ZoneInfo("America/Mexico_City")
SEED = Path(__file__).resolve().parent.parent / "simulation" / "scenarios" / "seed-2020-11-30.report.json"
SHARED_SEED = Path(__file__).resolve().parents[2] / "shared" / "seed" / "lnere_report_2020-11-30.json"
ATTENTION = SEED.with_name("seed-2020-11-30.attention.json")
TABLES = ("by_channel", "by_entity", "by_credential_channel", "by_sex", "by_age_range", "by_modality",
          "inetel_outbound_calls", "automated_outbound")


def own_process() -> tuple[ProcessCatalog, str]:
    """PEL 2020-2021 under a fresh id, so this test's calendar is its own."""
    catalog = ProcessCatalog.load()
    process = catalog.get("pel-2020-2021").model_copy(update={"id": f"pel-test-{uuid.uuid4().hex[:12]}"})
    catalog.add(process)
    return catalog, process.id


def events_in_store(stack) -> int:
    return stack.registry.head()


def assert_same_countries(published: list[dict], ours: list[dict]) -> None:
    """Same rows; order by total descending, countries with equal totals in any order."""
    assert {r["country_code"]: (r["total"], r["by_entity"]) for r in ours} == {
        r["country_code"]: (r["total"], r["by_entity"]) for r in published
    }
    assert [r["total"] for r in ours] == [r["total"] for r in published]


# The SHA-256 of INE's published tables as the seed gives them (../shared/seed): the repository's
# copies are checked against these whether or not the shared folder is beside the clone.
PUBLISHED_SHA256 = {
    "lnere_report_2020-11-30.json": "2b62e4e6b4743c993816e7cde330ef023367fc86f751004ee167ede06cc9176c",
    "inetel_attention_2020-11-30.json": "9ae4902177c0b39c0c6d264d29e4177402f2a578774b0dc9c485aec6d94c8ecb",
}


@pytest.mark.fast
def test_repository_copy_of_the_seed_is_the_published_one():
    import hashlib

    copies = {"lnere_report_2020-11-30.json": SEED, "inetel_attention_2020-11-30.json": ATTENTION}
    for name, copy in copies.items():
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == PUBLISHED_SHA256[name], copy
        shared = SHARED_SEED.with_name(name)
        if shared.exists():  # the seed itself, when beside the clone: still the one these digests name
            assert hashlib.sha256(shared.read_bytes()).hexdigest() == PUBLISHED_SHA256[name], shared


def test_simulated_population_is_deterministic_and_plausible():
    scenario = load_scenario("seed-2020-11-30")
    process = ProcessCatalog.load().get(scenario.process)
    first, second = generate(scenario, process), generate(scenario, process)
    assert first == second
    claves = set()
    for line in first:
        data = json.loads(line)
        command = data["command"]
        credential = command.get("credential")
        if credential:
            claves.add(credential["clave"])
            holder = credential["holder"]
            assert credential["clave"][6:12] == date.fromisoformat(holder["birth_date"]).strftime("%y%m%d")
            assert credential["clave"][14] == holder["sex"]
        if command["kind"] == "file_request":
            assert "2020-09-01" <= command["at"][:10] <= "2020-11-30"
            assert len(command["country"]) == 2 and command["country"] != "MX"
    assert len(claves) == 6574  # one credential per citizen, every clave distinct


# Its subject is the published figures, not storage: run once, on SQLite. PostgreSQL at
# thousands of journeys through every milestone is test_milestones_at_scale's (and this import
# took a third of the PostgreSQL lane).
@pytest.mark.any_backend
@session_loop
async def test_seed_scenario_reproduces_the_published_report(dev_env, settings):
    scenario = load_scenario("seed-2020-11-30")
    published = json.loads(SEED.read_text(encoding="utf-8"))
    async with running_stack(dev_env.client, settings) as stack:
        process = stack.journeys.processes.get(scenario.process)
        path = settings.data_dir / "seed.jsonl"
        path.write_text("\n".join(generate(scenario, process)) + "\n", encoding="utf-8")
        summary = await run_import(path, stack.journeys, settings.data_dir / "imports",
                                   settings.data_dir / "rejects.jsonl", concurrency=64)
        contacts = 61_157 + 17_851 + 5_307 + 263  # calls, notices, attention
        assert (summary.refused, summary.journeys, summary.outreach_contacts) == (0, 6574, contacts)
        wait_for_head(settings, stack.view, timeout=300)
        ours = build_report(stack.view, process, date(2020, 11, 30))

    for table in TABLES:
        assert ours[table] == published[table], table
    assert {k: ours["analysis_status"][k] for k in published["analysis_status"]} == published["analysis_status"]
    assert ours["analysis_status"]["rejected"] == 0
    assert_same_countries(published["by_country_entity"], ours["by_country_entity"])
    # Section 4.2, INETEL's attention: every figure of the published file, service by service.
    attention = json.loads(ATTENTION.read_text(encoding="utf-8"))["inetel_attention"]
    mine = {service["label"]: service for service in ours["inetel_attention"].values()}
    for service in attention.values():
        ours_ = mine[service["label"]]
        assert ours_["total"] == service["total"], service["label"]
        for breakdown in ("by_origin", "by_topic", "by_channel"):
            # Ours lists every label of its catalogue; INE's table, those with contacts.
            assert {label: n for label, n in ours_[breakdown].items() if n or label in service[breakdown]} == \
                service[breakdown], (service["label"], breakdown)


# -- a random population, counted independently ----------------------------------------------


ANALYSIS_MILESTONES = ("registration_closed", "inconsistency_notice_deadline", "analysis_deadline")


def random_population(process_id: str, rng: random.Random, journeys: int,
                      milestones: tuple[str, ...] = ANALYSIS_MILESTONES) -> list[dict]:
    """Command lines (as dicts) of a random population: filed between September and
    November 2020, some decided, some corrected through subsane, some only credentials; the
    calendar fires ``milestones`` at the end (by default up to the subsane deadline)."""
    states = ["03", "08", "09", "06", "12", "14", "16", "18", "22", "24", "32"]
    countries = ["US", "CA", "ES", "GB", "FR", "DE", "AR", "JP", "AU", "CL"]
    lines: list[dict] = []
    claves: set[str] = set()
    for _ in range(journeys):
        sex = rng.choice("HM")
        filed_day = date(2020, 9, 1) + timedelta(days=rng.randrange(90))
        age = rng.choice([18, 19, rng.randint(20, 90)])
        birth = people.birth_date_for_age(age, filed_day, rng)
        while (clave := people.clave_de_elector("Lopez", "Ruiz", "Ana", birth, rng.choice(states), sex, rng)) in claves:
            pass
        claves.add(clave)
        kind = rng.choice(["CPVE", "CPVE", "CPV"])
        channel = "INETEL" if kind == "CPVE" and rng.random() < 0.6 else "SRVE"
        credential = {
            "kind": kind, "clave": clave,
            "holder": {"given_names": "Ana", "paternal_surname": "López", "maternal_surname": "Ruiz",
                       "birth_date": birth.isoformat(), "sex": sex},
            "issued_on": "2019-01-10", "valid_until": "2029-12-31",
            **({"activated_on": "2019-02-01"} if kind == "CPVE" else {}),
        }
        filed_at = datetime.combine(filed_day, datetime.min.time(), MEXICO_CITY) + timedelta(
            minutes=rng.randrange(6 * 60, 23 * 60))

        def line(at: datetime, command: dict) -> None:
            lines.append({"process": process_id, "clave": clave, "command": {"at": at.isoformat(), **command}})

        if rng.random() < 0.1:  # a credential, never a request
            line(filed_at, {"kind": "record_credential", "credential": credential})
            continue
        line(filed_at, {
            "kind": "file_request", "channel": channel, "state_of_reference": rng.choice(states),
            "country": rng.choice(countries), "modality": rng.choice(["postal", "internet"]),
            "address": {"street": "1 Main St", "city": "Springfield"}, "contact": {"email": "a@example.org"},
            "credential": credential,
        })
        fate = rng.random()
        decided_at = filed_at + timedelta(days=rng.randint(1, 20), minutes=rng.randint(1, 600))
        if fate < 0.5:
            line(decided_at, {"kind": "decide_review", "reviewer": "r1", "outcome": "meets_requirements"})
        elif fate < 0.8:
            line(decided_at, {"kind": "decide_review", "reviewer": "r1", "outcome": "inconsistencies",
                              "reasons": ["ID_IMAGE_ILLEGIBLE"]})
            if rng.random() < 0.5:
                sent = decided_at + timedelta(days=rng.randint(1, 15))
                line(sent, {"kind": "send_subsane_documents", "documents": ["ID_IMAGE"]})
                line(sent + timedelta(days=2), {"kind": "decide_review", "reviewer": "r2",
                                                "outcome": "meets_requirements"})
    for milestone in milestones:
        lines.append({"process": process_id, "command": {"kind": "fire_milestone", "milestone": milestone}})
    rng.shuffle(lines)  # the importer puts them in business-time order
    return lines


def count_from_command_file(lines: list[dict], as_of: date) -> dict[str, Counter]:
    """The report's figures as of a day, from the command lines alone."""
    def day(text: str) -> date:
        return datetime.fromisoformat(text).astimezone(MEXICO_CITY).date()

    def bucket(age: int) -> str:
        if age <= 19:
            return str(max(age, 18))
        return "65 o más" if age >= 65 else f"{age - age % 5}-{age - age % 5 + 4}"

    deadline = date(2021, 3, 20)
    by_citizen: dict[str, list[dict]] = defaultdict(list)
    for line in lines:
        if "clave" in line:
            by_citizen[line["clave"]].append(line["command"])
    figures: dict[str, Counter] = defaultdict(Counter)
    for commands in by_citizen.values():
        commands.sort(key=lambda c: datetime.fromisoformat(c["at"]))
        request = next((c for c in commands if c["kind"] == "file_request"), None)
        if request is None or day(request["at"]) > as_of:
            continue
        holder = request["credential"]["holder"]
        filed = day(request["at"])
        birth = date.fromisoformat(holder["birth_date"])
        age = filed.year - birth.year - ((filed.month, filed.day) < (birth.month, birth.day))
        figures["channel"][request["channel"]] += 1
        figures["credential_channel"][(request["credential"]["kind"], request["channel"])] += 1
        figures["sex"][holder["sex"]] += 1
        figures["age"][bucket(age)] += 1
        figures["modality"][request["modality"]] += 1
        figures["country_state"][(request["country"], request["state_of_reference"])] += 1
        status = "in_review"
        for command in commands:
            if day(command["at"]) > as_of:
                break
            if command["kind"] == "decide_review":
                status = command["outcome"]
            elif command["kind"] == "send_subsane_documents":
                status = "in_review"
        if status == "inconsistencies" and as_of > deadline:
            status = "rejected"
        figures["analysis"][status] += 1
    return figures


def figures_of_report(report: dict) -> dict[str, Counter]:
    figures: dict[str, Counter] = defaultdict(Counter)
    labels = {"Hombres": "H", "Mujeres": "M", "Postal": "postal", "Electrónico por internet": "internet"}
    for channel, n in report["by_channel"].items():
        if channel != "TOTAL" and n:
            figures["channel"][channel] = n
    for kind in ("CPVE", "CPV"):
        for channel, n in report["by_credential_channel"][kind].items():
            if channel != "TOTAL" and n:
                figures["credential_channel"][(kind, channel)] = n
    for table, name in (("by_sex", "sex"), ("by_age_range", "age"), ("by_modality", "modality")):
        for key, n in report[table].items():
            if key != "TOTAL" and n:
                figures[name][labels.get(key, key)] = n
    codes = {e["name"]: e["code"] for e in report["entities"]}
    for row in report["by_country_entity"]:
        for state, n in row["by_entity"].items():
            if n:
                figures["country_state"][(row["country_code"], codes[state])] = n
    for status, n in report["analysis_status"].items():
        if status != "received" and n:
            figures["analysis"][status] = n
    return figures


@session_loop
async def test_random_population_counts_as_counted_from_the_file(dev_env, settings):
    catalog, process_id = own_process()
    rng = random.Random(7331)
    lines = random_population(process_id, rng, journeys=300)
    path = settings.data_dir / "population.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        summary = await run_import(path, stack.journeys, settings.data_dir / "imports",
                                   settings.data_dir / "rejects.jsonl")
        assert summary.refused == 0, summary.as_dict()
        assert summary.milestones == 3
        wait_for_head(settings, stack.view, timeout=60)
        process = catalog.get(process_id)
        for as_of in (date(2020, 10, 15), date(2021, 3, 31)):
            report = build_report(stack.view, process, as_of)
            expected = count_from_command_file(lines, as_of)
            assert figures_of_report(report) == {k: v for k, v in expected.items() if v}, as_of
            assert report["analysis_status"]["received"] == sum(expected["channel"].values())
        # The CSV holds the same figures as the JSON.
        rows = list(csv.DictReader(io.StringIO(render_csv(report))))
        cells = {(r["table"], r["row"], r["column"]): int(r["value"]) for r in rows}
        assert cells[("by_channel", "SIILNERE", "TOTAL")] == report["by_channel"]["TOTAL"]
        assert cells[("analysis_status", "rejected", "TOTAL")] == report["analysis_status"]["rejected"] > 0
        assert all(r["as_of"] == "2021-03-31" for r in rows)


# -- re-import, refusals, interruption -------------------------------------------------------


@session_loop
async def test_refused_lines_are_reported_and_reimport_changes_nothing(dev_env, settings):
    catalog, process_id = own_process()
    rng = random.Random(99)
    lines = [json.dumps(line) for line in random_population(process_id, rng, journeys=40)
             if line["command"]["kind"] != "fire_milestone"]
    bad_json = "{not json"
    inetel_with_cpv = json.loads(next(line for line in lines if '"file_request"' in line))
    inetel_with_cpv["clave"] = inetel_with_cpv["command"]["credential"]["clave"] = (
        inetel_with_cpv["command"]["credential"]["clave"][:15] + "ZZZ")
    inetel_with_cpv["command"]["credential"]["kind"] = "CPV"
    inetel_with_cpv["command"]["credential"].pop("activated_on", None)
    inetel_with_cpv["command"]["channel"] = "INETEL"
    unknown_journey = json.loads(next(line for line in lines if '"decide_review"' in line))
    unknown_journey["clave"] = unknown_journey["clave"][:15] + "YYY"
    lines[3:3] = [bad_json, json.dumps(inetel_with_cpv), json.dumps(unknown_journey)]
    path = settings.data_dir / "with-errors.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    latin1 = '{"process": "pel-2020-2021", "clave": "Nú\u00f1ez"}'.encode("latin-1")  # not UTF-8
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8") + latin1 + b"\n")
    rejects = settings.data_dir / "rejects.jsonl"
    journal = settings.data_dir / "imports"

    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        # Interrupted after some lines: the re-run finishes the rest.
        class Interrupt(Exception):
            pass

        def stop_early(done: int) -> None:
            if done >= 20:
                raise Interrupt

        with pytest.raises(Interrupt):
            await run_import(path, stack.journeys, journal, rejects, concurrency=4, on_progress=stop_early)
        first = await run_import(path, stack.journeys, journal, rejects)
        assert first.resumed_lines >= 20
        assert first.lines == len(lines) + 1
        assert first.refused == 4
        assert first.accepted == len(lines) - 3
        assert dict(first.refused_by_rule) == {"invalid-line": 2, "inetel-needs-cpve": 1, "journey-exists": 1}
        listed = [json.loads(t) for t in rejects.read_text(encoding="utf-8").splitlines()]
        assert [r["line"] for r in listed] == [4, 5, 6, len(lines) + 1]
        assert listed[-1]["error"].startswith("not UTF-8")
        assert "inetel-needs-cpve" in listed[1]["error"] and listed[1]["error"].startswith("channel:")
        assert all(inetel_with_cpv["clave"] not in json.dumps(r) for r in listed)  # no personal data
        wait_for_head(settings, stack.view, timeout=60)
        events = events_in_store(stack)
        report = build_report(stack.view, catalog.get(process_id), date(2020, 12, 31))

        # The same file again: its journal says every line is answered; nothing is sent.
        again = await run_import(path, stack.journeys, journal, rejects)
        assert again.resumed_lines == len(lines) + 1
        # Without the journal: every line reaches the engine, which recognises each command.
        restarted = await run_import(path, stack.journeys, journal, rejects, restart=True)
        assert restarted.resumed_lines == 0
        assert restarted.already_recorded == restarted.accepted == len(lines) - 3
        assert restarted.refused == 4
        wait_for_head(settings, stack.view, timeout=60)
        assert events_in_store(stack) == events
        assert build_report(stack.view, catalog.get(process_id), date(2020, 12, 31)) == report
