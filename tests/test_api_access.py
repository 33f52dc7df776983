"""Who may call what, and what a malformed request gets: every endpoint of the API, every role,
over real HTTP on the real stack."""

from __future__ import annotations

import random

import pytest

from tests.citizens import at, credential, request

# Its subject is who may call each route, not storage: run once, on SQLite (tests/conftest.py).
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.any_backend]

JOURNEY = "journey-{process}-0123456789abcdef0123456789abcdef"
OPERATOR, REVIEWER, SUPERVISOR, VIEWER, PARTY, OPL = "operator", "reviewer", "supervisor", "viewer", "party", "opl"
EVERYONE = {OPERATOR, REVIEWER, SUPERVISOR, VIEWER, PARTY, OPL}

# The access rules as the issue states them, written here independently of the application.
EXPECTED_ROLES = {
    ("GET", "/api/v1/me"): EVERYONE,
    ("GET", "/api/v1/processes"): EVERYONE,
    ("GET", "/api/v1/configuration"): {SUPERVISOR},
    ("GET", "/api/v1/processes/{process}/figures"): EVERYONE,
    ("GET", "/api/v1/processes/{process}/report"): EVERYONE,
    ("GET", "/api/v1/processes/{process}/review-inbox"): {REVIEWER, SUPERVISOR},
    ("GET", "/api/v1/journeys/{journey}"): {OPERATOR, REVIEWER, SUPERVISOR},
    ("GET", "/api/v1/journeys/{journey}/history"): {REVIEWER, SUPERVISOR},
    ("GET", "/api/v1/journeys/{journey}/personal-data"): {REVIEWER, SUPERVISOR},
    ("POST", "/api/v1/processes/{process}/credentials"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/processes/{process}/requests"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/credential-activation"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/commands/resend_credential"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/processes/{process}/commands/request_cpve"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/commands/record_cpve_step"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/commands/cancel_cpve"): {SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/review"): {REVIEWER, SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/subsane-documents"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/rejection-reopening"): {REVIEWER, SUPERVISOR},
    ("POST", "/api/v1/processes/{process}/milestones/{milestone}"): {SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/observations"): {PARTY, SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/observations/{observation_id}/resolution"): {REVIEWER, SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/delivery"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/processes/{process}/attentions"): {OPERATOR, SUPERVISOR},
    ("GET", "/api/v1/processes/{process}/lists"): EVERYONE,
    ("GET", "/api/v1/processes/{process}/lists/departures"): {REVIEWER, SUPERVISOR},
    ("GET", "/api/v1/processes/{process}/lists/{kind}/{entity}"): {PARTY, OPL, SUPERVISOR},
    ("GET", "/api/v1/processes/{process}/reports"): {PARTY, OPL, VIEWER, SUPERVISOR},
    ("GET", "/api/v1/processes/{process}/reports/{number}"): {PARTY, OPL, VIEWER, SUPERVISOR},
    ("GET", "/api/v1/processes/{process}/report-schedule"): {SUPERVISOR},
    ("POST", "/api/v1/processes/{process}/report-schedule/{action}"): {SUPERVISOR},
    ("POST", "/api/v1/processes/{process}/campaigns"): {SUPERVISOR},
    ("GET", "/api/v1/processes/{process}/campaigns/{code}"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/processes/{process}/campaigns/{code}/next"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/processes/{process}/campaigns/{code}/calls/{journey}"): {OPERATOR, SUPERVISOR},
    # The expediente: operators add documents, reviewers judge them, supervisors see who read what.
    ("POST", "/api/v1/processes/{process}/documents"): {OPERATOR, SUPERVISOR},
    ("POST", "/api/v1/journeys/{journey}/documents"): {OPERATOR, SUPERVISOR},
    ("GET", "/api/v1/journeys/{journey}/documents"): {REVIEWER, SUPERVISOR},
    ("GET", "/api/v1/journeys/{journey}/documents/{document_id}"): {REVIEWER, SUPERVISOR},
    ("GET", "/api/v1/journeys/{journey}/reads"): {SUPERVISOR},
    ("GET", "/api/v1/staff/{staff_id}/reads"): {SUPERVISOR},
}


# What INE publishes: with the public dashboard on (the default), anyone reads these without a token.
PUBLISHED = {("GET", "/api/v1/processes"), ("GET", "/api/v1/processes/{process}/figures"),
             ("GET", "/api/v1/processes/{process}/report")}


def concrete(path: str, process: str) -> str:
    return path.format(process=process, journey=JOURNEY.format(process=process), milestone="registration_closed",
                       observation_id="PAN_0001", kind="review", entity="16", number="1",
                       action="no-such-action", code="NO_SUCH_CAMPAIGN", document_id="0" * 32,
                       staff_id="reviewer.1")


async def test_every_endpoint_is_in_the_access_table(api):
    schema = (await api.http.get("/openapi.json")).json()
    served = {(method.upper(), path) for path, operations in schema["paths"].items() for method in operations}
    assert served == set(EXPECTED_ROLES)
    for (method, path), allowed in EXPECTED_ROLES.items():
        assert set(schema["paths"][path][method.lower()]["x-roles"]) == allowed  # the documentation says the same
        assert schema["paths"][path][method.lower()].get("x-published", False) == ((method, path) in PUBLISHED)


async def test_roles_on_every_endpoint(api):
    for (method, path), allowed in EXPECTED_ROLES.items():
        url = concrete(path, api.process)
        # An invalid body, so that an allowed caller is stopped by validation (422) or by the
        # journey's absence (404), never by access, and nothing is recorded.
        kwargs = {"json": {"unexpected": True}} if method == "POST" else {}
        nobody = await api.http.request(method, url, **kwargs)
        if (method, path) in PUBLISHED:
            assert nobody.status_code == 200, (method, path, nobody.text)
        else:
            assert nobody.status_code == 401, (method, path, nobody.text)
            assert nobody.headers["www-authenticate"] == "Bearer"
        forged = await api.http.request(method, url, headers={"Authorization": "Bearer lnere_not-a-token"}, **kwargs)
        assert forged.status_code == 401, (method, path)
        for role in EVERYONE:
            answer = await api.http.request(method, url, headers=api.auth(role), **kwargs)
            if role in allowed:
                assert answer.status_code in (200, 404, 422), (method, path, role, answer.text)
            else:
                assert answer.status_code == 403, (method, path, role, answer.text)
                assert role in answer.json()["detail"]


async def test_published_figures_need_a_token_when_the_dashboard_is_not_public(dev_env, settings):
    import httpx

    from tests.conftest import own_process_catalog, running_api

    catalog, process = own_process_catalog()
    closed = settings.model_copy(update={"public_dashboard": False})
    async with (running_api(dev_env.client, closed, catalog, process) as stack,
                httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http):
        for method, path in PUBLISHED:
            assert (await http.request(method, concrete(path, process))).status_code == 401, path
            answer = await http.request(method, concrete(path, process), headers=stack.auth(VIEWER))
            assert answer.status_code == 200, path


async def test_a_revoked_token_stops_working_without_a_restart(api):
    from lnere.application.staff import StaffDirectory

    assert (await api.http.get("/api/v1/me", headers=api.auth(VIEWER))).json() == {"staff": "viewer.1", "role": VIEWER}
    assert StaffDirectory(api.stack.settings.staff_path).revoke("viewer.1")
    assert (await api.http.get("/api/v1/me", headers=api.auth(VIEWER))).status_code == 401


async def test_malformed_requests_get_field_messages(api):
    operator, reviewer = api.auth(OPERATOR), api.auth(REVIEWER)
    requests_url = f"/api/v1/processes/{api.process}/requests"
    citizen = credential(random.Random(3))
    good = {k: v for k, v in request(citizen, when=at("2020-10-05 10:00")).items() if k != "kind"}

    async def fields(answer) -> set[tuple]:
        assert answer.status_code == 422, answer.text
        return {tuple(d["loc"]) for d in answer.json()["detail"]}

    missing = {k: v for k, v in good.items() if k not in ("channel", "country")}
    assert await fields(await api.http.post(requests_url, json=missing, headers=operator)) >= {
        ("body", "channel"), ("body", "country")}
    naive = good | {"at": "2020-10-05T10:00:00"}
    assert ("body", "at") in await fields(await api.http.post(requests_url, json=naive, headers=operator))
    bad_clave = good | {"credential": citizen | {"clave": "NOT A CLAVE"}}
    assert ("body", "credential", "clave") in await fields(await api.http.post(requests_url, json=bad_clave,
                                                                               headers=operator))
    sneaky = good | {"recorded_by": "someone.else"}  # who acts comes from the token only
    assert ("body", "recorded_by") in await fields(await api.http.post(requests_url, json=sneaky, headers=operator))
    review = {"at": at("2020-10-20 10:00").isoformat(), "outcome": "meets_requirements", "reviewer": "someone.else"}
    journey_url = f"/api/v1/journeys/{JOURNEY.format(process=api.process)}/review"
    assert ("body", "reviewer") in await fields(await api.http.post(journey_url, json=review, headers=reviewer))
    unnamed = {k: v for k, v in good.items() if k != "credential"}  # neither clave nor credential
    assert (await api.http.post(requests_url, json=unnamed, headers=operator)).status_code == 422
    as_json = operator | {"content-type": "application/json"}
    not_json = await api.http.post(requests_url, content=b"{not json", headers=as_json)
    assert not_json.status_code == 422
    not_utf8 = await api.http.post(requests_url, content=b'{"at": "\xff\xfe"}', headers=as_json)
    assert not_utf8.status_code == 422
    # Raw NULs are UTF-8 but never JSON; left to the parser, they made it guess UTF-32 (a bare 400).
    for raw in (b"\x00\x00\x00\x00\x00", b'{"at": "2020-10-20\x1b"}'):
        answer = await api.http.post(f"/api/v1/journeys/{JOURNEY.format(process=api.process)}/credential-activation",
                                     content=raw, headers=as_json)
        assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "json_invalid", answer.text
    assert (await api.http.get(f"/api/v1/processes/{api.process}/report", params={"as_of": "2020-13-01"},
                               headers=operator)).status_code == 422
    assert (await api.http.get(f"/api/v1/processes/{api.process}/review-inbox", params={"after": "%%%"},
                               headers=reviewer)).status_code == 422
    assert (await api.http.get("/api/v1/journeys/not-a-journey", headers=reviewer)).status_code == 422

    # Unknown things: 404.
    unknown = JOURNEY.format(process=api.process)
    assert (await api.http.get(f"/api/v1/journeys/{unknown}", headers=reviewer)).status_code == 404
    assert (await api.http.post(f"/api/v1/journeys/{unknown}/review", json={k: v for k, v in review.items()
                                if k != "reviewer"}, headers=reviewer)).status_code == 404
    assert (await api.http.get("/api/v1/processes/no-such-process/figures", headers=operator)).status_code == 404
    assert (await api.http.post("/api/v1/processes/no-such-process/requests", json=good,
                                headers=operator)).status_code == 404

    # Size limits: declared or streamed.
    limit = api.stack.settings.api_max_body_bytes
    huge = good | {"padding": "x" * limit}
    assert (await api.http.post(requests_url, json=huge, headers=operator)).status_code == 413

    async def stream():
        for _ in range(limit // 1000 + 2):
            yield b"x" * 1000

    assert (await api.http.post(requests_url, content=stream(), headers=operator)).status_code == 413
    # None of it recorded anything.
    assert api.stack.registry.head() == 0
