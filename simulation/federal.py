"""A PEF-sized population: a federal process's journeys, for benchmarks and rehearsals at the
size INE faces (PEF 2023-2024 received over 220,000 requests), across all 32 states and the
three modalities. Synthetic and seeded: every person is drawn from the random generator, none
is real; the shares below are plausible round numbers, not published figures.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, time, timedelta

from lnere.domain.process import ElectoralProcess
from lnere.simulation import people

# Where citizens abroad live (share of requests): the United States far ahead.
COUNTRIES = {"US": 0.86, "CA": 0.04, "ES": 0.025, "DE": 0.012, "GB": 0.01, "FR": 0.01, "AR": 0.006, "CL": 0.005,
             "AU": 0.005, "CO": 0.005, "NL": 0.004, "IT": 0.004, "JP": 0.003, "CH": 0.003, "SE": 0.003, "GT": 0.005}
MODALITIES = {"postal": 0.42, "internet": 0.53, "in_person": 0.05}
# What became of a request: met the requirements, corrected after inconsistencies, left with
# inconsistencies, rejected, never decided.
FATES = {"meets": 0.84, "corrected": 0.05, "inconsistent": 0.04, "rejected": 0.04, "undecided": 0.03}
CREDENTIAL_ONLY = 0.08  # CPVE holders recorded who never file a request


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def population(process: ElectoralProcess, journeys: int, seed: int = 2024) -> list[str]:
    """Command lines (JSON) of ``journeys`` citizens of ``process``, in no particular order
    (the importer sorts by business time)."""
    rng = random.Random(seed)
    opens, closes = process.registration_window
    span_days = max((closes - opens).days - 20, 1)
    # Larger states of origin weigh more; every state has citizens.
    state_weights = {s.code: 1.0 + (8.0 if s.code in ("14", "16", "11", "09", "15", "32") else 0.0)
                     for s in process.states}
    lines: list[str] = []
    claves: set[str] = set()
    zone = process.tz

    def line(clave: str, at: datetime, command: dict) -> None:
        lines.append(json.dumps({"process": process.id, "clave": clave, "command": {"at": at.isoformat(), **command}},
                                ensure_ascii=False, separators=(",", ":")))

    for _ in range(journeys):
        sex = rng.choice("HM")
        given = rng.choice(people.GIVEN_NAMES[sex])
        paternal, maternal = rng.choice(people.SURNAMES), rng.choice(people.SURNAMES)
        filed_day = opens.date() + timedelta(days=rng.randrange(span_days))
        birth = people.birth_date_for_age(rng.choice([18, 19, rng.randint(20, 85)]), filed_day, rng)
        state = _pick(rng, state_weights)
        while (clave := people.clave_de_elector(paternal, maternal, given, birth, state, sex, rng)) in claves:
            pass
        claves.add(clave)
        kind = "CPVE" if rng.random() < 0.7 else "CPV"
        issued = filed_day - timedelta(days=rng.randint(60, 2000))
        credential = {"kind": kind, "clave": clave,
                      "holder": {"given_names": given, "paternal_surname": paternal, "maternal_surname": maternal,
                                 "birth_date": birth.isoformat(), "sex": sex},
                      "issued_on": issued.isoformat(), "valid_until": people.years_after(issued, 10).isoformat()}
        if kind == "CPVE":
            credential["activated_on"] = (issued + timedelta(days=rng.randint(20, 50))).isoformat()
        filed_at = datetime.combine(filed_day, time(8), zone) + timedelta(minutes=rng.randrange(14 * 60))
        if kind == "CPVE" and rng.random() < CREDENTIAL_ONLY:
            line(clave, filed_at, {"kind": "record_credential", "credential": credential})
            continue
        country = _pick(rng, COUNTRIES)
        modality = _pick(rng, MODALITIES)
        sites = [code for code, site in process.voting_sites.items() if site.country == country]
        if modality == "in_person" and not sites:
            modality = "postal"  # no consular voting site in the country of residence
        line(clave, filed_at, {
            "kind": "file_request", "channel": "INETEL" if kind == "CPVE" and rng.random() < 0.3 else "SRVE",
            "state_of_reference": state, "country": country, "modality": modality,
            **({"voting_site": rng.choice(sites)} if modality == "in_person" else {}),
            "address": people.address(country, rng),
            "contact": people.contact(given, paternal, rng, rng.random() < 0.5),
            "credential": credential})
        fate = _pick(rng, FATES)
        decided = filed_at + timedelta(days=rng.randint(1, 12), minutes=rng.randint(1, 600))
        if fate == "undecided":
            continue
        if fate == "meets":
            line(clave, decided, {"kind": "decide_review", "reviewer": "derfe.1", "outcome": "meets_requirements"})
        elif fate == "rejected":
            line(clave, decided, {"kind": "decide_review", "reviewer": "derfe.1", "outcome": "rejected",
                                  "reasons": ["NOT_IN_REGISTER"]})
        else:
            line(clave, decided, {"kind": "decide_review", "reviewer": "derfe.1", "outcome": "inconsistencies",
                                  "reasons": ["ADDRESS_PROOF_MISSING"]})
            if fate == "corrected":
                sent = decided + timedelta(days=rng.randint(1, 8))
                line(clave, sent, {"kind": "send_subsane_documents", "documents": ["ADDRESS_PROOF"]})
                line(clave, sent + timedelta(days=2), {"kind": "decide_review", "reviewer": "derfe.2",
                                                       "outcome": "meets_requirements"})
    return lines
