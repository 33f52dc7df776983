"""The federal example (process file ``pef-2023-2024``: 32 states, three modalities, consular
voting sites) through the real stack to the definitive list, with no code of its own: the
expected figures are counted here from the population's command lines."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from lnere.application.importer import run_import
from lnere.domain.process import MILESTONE_ORDER, ProcessCatalog
from lnere.projections.report import build_report
from lnere.projections.runner import wait_for_head
from lnere.simulation.federal import population
from tests.conftest import running_stack
from tests.recount import recount
from tests.test_milestones_at_scale import final_outcomes

session_loop = pytest.mark.asyncio(loop_scope="session")

JOURNEYS = 900


@session_loop
async def test_the_federal_example_reaches_the_definitive_list_with_no_code_of_its_own(dev_env, settings):
    catalog = ProcessCatalog.load()
    federal = catalog.get("pef-2023-2024").model_copy(update={"id": f"pef-test-{uuid.uuid4().hex[:12]}"})
    catalog.add(federal)
    lines = [json.loads(line) for line in population(federal, JOURNEYS, seed=32)]
    lines += [{"process": federal.id, "command": {"kind": "fire_milestone", "milestone": m.value}}
              for m in MILESTONE_ORDER]
    path = settings.data_dir / "federal.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")

    requests = [(request, stage == "included") for request, stage in final_outcomes(lines) if request is not None]
    by_modality = Counter(r["modality"] for r, _ in requests)
    included = Counter((r["state_of_reference"], r["modality"]) for r, on_list in requests if on_list)
    by_site = Counter(r["voting_site"] for r, _ in requests if r["modality"] == "in_person")
    assert set(by_modality) == {"postal", "internet", "in_person"} and by_site
    assert len({state for state, _ in included}) == 32  # every state has citizens on the list

    async with running_stack(dev_env.client, settings, processes=catalog) as stack:
        summary = await run_import(path, stack.journeys, settings.data_dir / "imports",
                                   settings.data_dir / "rejects.jsonl")
        assert summary.refused == 0, summary.as_dict()
        wait_for_head(settings, stack.view, timeout=180)
        report = build_report(stack.view, federal, None)
        assert stack.view.counts_as_of(federal.id, None) == recount(stack.registry)
        # Each state's own figures (what its electoral body reads) equal a recount of its own.
        from lnere.projections.journey_counts.writes import state_scope

        for state in federal.states:
            own = stack.view.counts_as_of(state_scope(federal.id, state.code), None)
            assert own == recount(stack.registry, state=state.code), state.code
            assert sum(own["definitive"].values()) == sum(n for (s, _), n in included.items() if s == state.code)

    labels = federal.modality_labels
    assert report["by_modality"] == {**{labels[m]: by_modality[m.value] for m in federal.modalities},
                                     "TOTAL": len(requests)}
    names = {s.code: s.name for s in federal.states}
    for state in federal.states:
        row = report["definitive_by_entity_modality"][state.name]
        assert {m: row[labels[m]] for m in federal.modalities} == {
            m: included[(state.code, m.value)] for m in federal.modalities}, state.name
    assert report["definitive_by_entity_modality"]["TOTAL"]["TOTAL"] == sum(included.values())
    assert {names[s] for s, _ in included} <= set(report["definitive_by_entity_modality"])
    sites = {code: site.name for code, site in federal.voting_sites.items()}
    assert {sites[code]: n for code, n in by_site.items()} == {
        name: n for name, n in report["by_voting_site"].items() if n and name != "TOTAL"}
    # In person: neither a package nor an internet access.
    in_person = sum(n for (_, modality), n in included.items() if modality == "in_person")
    assert in_person > 0
    deliveries = report["deliveries"]
    assert deliveries["Paquetes Electorales Postales enviados"] == sum(
        n for (_, modality), n in included.items() if modality == "postal")
    assert deliveries["Accesos para votar por internet emitidos"] == sum(
        n for (_, modality), n in included.items() if modality == "internet")
