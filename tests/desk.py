"""The review desk's test stack: the API on the real stack under a process whose calendar is
around today (a decision at the desk is taken now), with requests filed through the API, their
documents uploaded first."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from lnere.domain.process import ElectoralProcess, ProcessCatalog
from tests.citizens import credential, request
from tests.conftest import ApiStack, running_api
from tests.documents import jpeg, pdf, png


def process_around_today(process_id: str) -> ElectoralProcess:
    """PEL 2020-2021's rules with a calendar around today: registration opened 40 days ago and
    closed 5 days ago, the analysis deadline in 15 days."""
    base = json.loads(ProcessCatalog.load().get("pel-2020-2021").model_dump_json())
    now = datetime.now(UTC).astimezone(ProcessCatalog.load().get("pel-2020-2021").tz)
    days = lambda n: (now + timedelta(days=n)).isoformat()  # noqa: E731
    base.update(
        id=process_id,
        registration_opens=days(-40),
        milestones={
            "registration_closed": days(-5),
            "inconsistency_notice_deadline": days(5),
            "analysis_deadline": days(15),
            "list_for_review_issued": days(17),
            "observations_closed": days(25),
            "definitive_list": days(30),
        },
        clarification_window_closes=days(15),
        election_day=(now + timedelta(days=60)).date().isoformat(),
    )
    return ElectoralProcess.model_validate(base)


@asynccontextmanager
async def desk_api(dev_env, settings) -> AsyncIterator[tuple[ApiStack, httpx.AsyncClient, ElectoralProcess]]:
    catalog = ProcessCatalog.load()
    process = process_around_today(f"desk-{random.randrange(16**8):08x}")
    catalog.add(process)
    async with (running_api(dev_env.client, settings, catalog, process.id) as api,
                httpx.AsyncClient(base_url=api.base_url, timeout=60) as http):
        yield api, http, process


async def file_with_documents(api: ApiStack, http: httpx.AsyncClient, process: ElectoralProcess, rng: random.Random,
                              days_ago: float, names: dict[str, str] | None = None,
                              holder: dict[str, Any] | None = None) -> str:
    """A request filed through the API with its expediente's documents (a credential's front as a
    JPEG, its back as a PNG, the signature, a proof of address as a two-page PDF)."""
    from tests.test_api import body

    operator = api.auth("operator")
    citizen = credential(rng, kind="CPV", activated=False)
    if holder:
        citizen["holder"].update(holder)
    names = {"CREDENTIAL_FRONT": "anverso.jpg", "CREDENTIAL_BACK": "reverso.png", "SIGNATURE": "firma.jpg",
             "ADDRESS_PROOF": "comprobante.pdf", **(names or {})}
    data = {"CREDENTIAL_FRONT": jpeg(rng.randrange(99)), "CREDENTIAL_BACK": png(rng.randrange(99)),
            "SIGNATURE": jpeg(rng.randrange(99)), "ADDRESS_PROOF": pdf(2)}
    refs = []
    for kind, content in data.items():
        answer = await http.post(f"/api/v1/processes/{process.id}/documents", headers=operator,
                                 data={"kind": kind, "clave": citizen["clave"]},
                                 files={"file": (names[kind], content, "application/octet-stream")})
        assert answer.status_code == 200, answer.text
        refs.append(answer.json())
    when = datetime.now(UTC).astimezone(process.tz) - timedelta(days=days_ago)
    filing = {**body(request(citizen, when=when, channel="SRVE")), "credential": citizen, "documents": refs}
    filed = await http.post(f"/api/v1/processes/{process.id}/requests", headers=operator, json=filing)
    assert filed.status_code == 200, filed.text
    return filed.json()["journey"]
