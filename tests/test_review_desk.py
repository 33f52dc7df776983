"""The review desk over HTTP, on both backends (its claims are stored): twenty reviewers taking
and deciding at once never share an expediente nor double a decision; a supervisor releases a
held one; forms without the session's CSRF token, forged cookies, revoked members and other
roles are refused with nothing recorded; the supervisor's view counts each reviewer's decisions."""

from __future__ import annotations

import asyncio
import random
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from lnere.application.staff import StaffDirectory
from lnere.domain.roles import Role
from tests.citizens import credential, request
from tests.desk import desk_api
from tests.test_api import body

pytestmark = pytest.mark.asyncio(loop_scope="session")

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def signed_in(base_url: str, token: str) -> tuple[httpx.AsyncClient, str]:
    """A browser-like client with a desk session, and its CSRF token."""
    client = httpx.AsyncClient(base_url=base_url, timeout=60)
    form = await client.get("/desk/entrar")
    entered = await client.post("/desk/entrar", data={"token": token, "csrf": CSRF.search(form.text).group(1)})
    assert entered.status_code == 303 and entered.headers["location"] == "/desk/", entered.text
    assert "lnere_desk" in client.cookies
    home = await client.get("/desk/", follow_redirects=True)
    assert home.status_code == 200, home.text
    return client, CSRF.search(home.text).group(1)


async def file_requests(api, http, process, n: int, rng: random.Random) -> list[str]:
    journeys = []
    for i in range(n):
        citizen = credential(rng)
        when = datetime.now(UTC).astimezone(process.tz) - timedelta(days=20, minutes=n - i)
        filed = await http.post(f"/api/v1/processes/{process.id}/requests", headers=api.auth("operator"),
                                json={**body(request(citizen, when=when)), "credential": citizen})
        assert filed.status_code == 200, filed.text
        journeys.append(filed.json()["journey"])
    api.stack.wait_for_projection()
    return journeys


def decided(api, journey: str) -> list:
    return [e for e in api.stack.registry.history(journey) if type(e).__name__ == "ReviewDecided"]


async def test_twenty_reviewers_at_once_never_share_an_expediente_nor_double_a_decision(dev_env, settings):
    rng = random.Random(26)
    async with desk_api(dev_env, settings) as (api, http, process):
        journeys = await file_requests(api, http, process, 24, rng)
        directory = StaffDirectory(settings.staff_path)
        reviewers = [await signed_in(api.base_url, directory.add(f"derfe.{i}", Role.REVIEWER)) for i in range(20)]
        try:
            taken = await asyncio.gather(*(client.post(f"/desk/procesos/{process.id}/tomar", data={"csrf": csrf})
                                           for client, csrf in reviewers))
            held = [answer.headers["location"].rsplit("/", 1)[-1] for answer in taken]
            assert all(answer.status_code == 303 for answer in taken)
            assert len(set(held)) == 20 and set(held) <= set(journeys[:20 + 4])
            # The oldest are taken first: the twenty held are among the oldest twenty free ones.
            assert set(held) == set(journeys[:20])

            # Another reviewer's expediente: neither taken nor decided by someone else.
            (first, first_csrf), (second, second_csrf) = reviewers[0], reviewers[1]
            stolen = await second.post(f"/desk/expedientes/{held[0]}/tomar", data={"csrf": second_csrf})
            assert stolen.status_code == 409 and "Otra persona revisa este expediente" in stolen.text
            now = datetime.now(UTC).astimezone(process.tz).strftime("%Y-%m-%dT%H:%M")
            decision = {"outcome": "meets_requirements", "at": now}
            foreign = await second.post(f"/desk/expedientes/{held[0]}/decision", data={**decision, "csrf": second_csrf})
            assert foreign.status_code == 409 and "Tome el expediente antes de decidirlo" in foreign.text
            assert decided(api, held[0]) == []

            # All twenty decide at once, each sending the form twice (a double click): each
            # expediente gets exactly one decision. The second send is the same command (recorded
            # once, answered as done) or, once the claim ended with the first, refused.
            sends = [client.post(f"/desk/expedientes/{journey}/decision", data={**decision, "csrf": csrf})
                     for (client, csrf), journey in zip(reviewers, held, strict=True)] * 2
            answers = await asyncio.gather(*sends)
            assert all({a.status_code, b.status_code} <= {303, 409} and 303 in (a.status_code, b.status_code)
                       for a, b in zip(answers[:20], answers[20:], strict=True)), [a.status_code for a in answers]
            for i, journey in enumerate(held):
                assert [(e.reviewer, e.outcome) for e in decided(api, journey)] == [
                    (f"derfe.{i}", "meets_requirements")]
            api.stack.wait_for_projection()
            inbox = await first.get(f"/desk/procesos/{process.id}/bandeja")
            assert "Esperan decisión: <strong>4</strong>" in inbox.text
            # The projection's inbox groups, kept as journeys come and go, are the journeys' own.
            by_state, oldest = api.stack.view.review_backlog(process.id)
            counts = api.stack.view.inbox_counts(process.id, {}, None)
            with api.stack.view._transaction(commit=False) as c:
                c.execute("SELECT state_of_reference, country, COUNT(*) AS n, MIN(in_review_since) AS oldest "
                          "FROM journeys WHERE process_id = %s AND stage = 'in_review' "
                          "GROUP BY state_of_reference, country".replace("%s", api.stack.view.mark), (process.id,))
                recounted = [dict(row) for row in c.fetchall()]
            assert by_state == {r["state_of_reference"]: {"first": r["n"], "re_review": 0} for r in recounted}
            assert counts["country"] == {r["country"]: r["n"] for r in recounted} and recounted[0]["n"] == 4
            assert counts["total"] == {"": 4} and counts["round"] == {"first": 4}
            assert oldest == recounted[0]["oldest"]

            # The supervisor sees each reviewer's decision of the day, and releases a held expediente.
            supervisor, supervisor_csrf = await signed_in(api.base_url, api.tokens["supervisor"])
            view = await supervisor.get(f"/desk/procesos/{process.id}/supervision")
            assert view.status_code == 200 and "Esperan decisión: <strong>4</strong>" in view.text
            today = datetime.now(UTC).astimezone(process.tz).date().isoformat()
            assert f"<th scope=\"col\">{today}</th>" in view.text
            assert len(re.findall(r"<tr><td>derfe\.\d+</td><td>1</td></tr>", view.text)) == 20
            again = await first.post(f"/desk/procesos/{process.id}/tomar", data={"csrf": first_csrf})
            kept = again.headers["location"].rsplit("/", 1)[-1]
            released = await supervisor.post(f"/desk/expedientes/{kept}/liberar", data={"csrf": supervisor_csrf})
            assert released.status_code == 303
            retaken = await second.post(f"/desk/expedientes/{kept}/tomar", data={"csrf": second_csrf})
            assert retaken.status_code == 303 and retaken.headers["location"].endswith(kept)
        finally:
            for client, _ in reviewers:
                await client.aclose()


async def test_forms_without_their_token_stale_sessions_and_other_roles_are_refused(dev_env, settings):
    rng = random.Random(27)
    async with desk_api(dev_env, settings) as (api, http, process):
        journey, = await file_requests(api, http, process, 1, rng)
        reviewer, csrf = await signed_in(api.base_url, api.tokens["reviewer"])
        try:
            events = len(api.stack.registry.history(journey))
            # No token, another session's token, a forged one: 403, nothing taken, nothing decided.
            other, other_csrf = await signed_in(api.base_url, api.tokens["reviewer.2"])
            for data in ({}, {"csrf": other_csrf}, {"csrf": "x" * 32}):
                refused = await reviewer.post(f"/desk/procesos/{process.id}/tomar", data=data)
                assert refused.status_code == 403 and "señal de seguridad" in refused.text
            inbox = await reviewer.get(f"/desk/procesos/{process.id}/bandeja")
            assert "Lo revisa" not in inbox.text and ">Tomar</button>" in inbox.text  # nobody holds it
            taken = await reviewer.post(f"/desk/expedientes/{journey}/tomar", data={"csrf": csrf})
            assert taken.status_code == 303
            now = datetime.now(UTC).astimezone(process.tz).strftime("%Y-%m-%dT%H:%M")
            blind = await reviewer.post(f"/desk/expedientes/{journey}/decision",
                                        data={"outcome": "meets_requirements", "at": now})
            assert blind.status_code == 403
            # A form from another site's page (its Origin) is refused even with the token.
            cross = await reviewer.post(f"/desk/expedientes/{journey}/decision",
                                        data={"outcome": "meets_requirements", "at": now, "csrf": csrf},
                                        headers={"origin": "https://elsewhere.example"})
            assert cross.status_code == 403
            assert len(api.stack.registry.history(journey)) == events

            # A forged cookie, and a revoked member: the next request goes to the sign-in page.
            forged = httpx.AsyncClient(base_url=api.base_url,
                                       cookies={"lnere_desk": "eyJzdGFmZiI6InN1cGVydmlzb3IuMSJ9"})
            answer = await forged.get(f"/desk/expedientes/{journey}")
            await forged.aclose()
            assert answer.status_code == 303 and answer.headers["location"].startswith("/desk/entrar")
            StaffDirectory(settings.staff_path).revoke("reviewer.2")
            ended = await other.get(f"/desk/procesos/{process.id}/bandeja")
            assert ended.status_code == 303 and "retirado" in httpx.URL(ended.headers["location"]).params["motivo"]
            posted = await other.post(f"/desk/expedientes/{journey}/liberar", data={"csrf": other_csrf})
            assert posted.status_code == 401
            await other.aclose()

            # Other roles: the desk's pages and forms are not theirs (decided on the server).
            for role in ("operator", "viewer", "party", "opl"):
                client, role_csrf = await signed_in_any(api.base_url, api.tokens[role])
                for method, url, data in (("GET", f"/desk/procesos/{process.id}/bandeja", None),
                                          ("GET", f"/desk/expedientes/{journey}", None),
                                          ("POST", f"/desk/expedientes/{journey}/liberar", {"csrf": role_csrf}),
                                          ("POST", f"/desk/expedientes/{journey}/decision",
                                           {"csrf": role_csrf, "outcome": "rejected", "at": now})):
                    answer = await client.request(method, url, data=data)
                    assert answer.status_code == 403 and "no tiene acceso" in answer.text, (role, url)
                await client.aclose()
            supervision = await reviewer.get(f"/desk/procesos/{process.id}/supervision")
            assert supervision.status_code == 403
            assert len(api.stack.registry.history(journey)) == events
            still = await reviewer.get(f"/desk/expedientes/{journey}")
            assert still.status_code == 200 and "Liberar sin decidir" in still.text  # still theirs
        finally:
            await reviewer.aclose()


async def signed_in_any(base_url: str, token: str) -> tuple[httpx.AsyncClient, str]:
    """A session of a role the desk refuses: signed in, then 403 on every page (the CSRF token
    from the sign-in form stands in: the role is refused before the token is read)."""
    client = httpx.AsyncClient(base_url=base_url, timeout=60)
    form = await client.get("/desk/entrar")
    entered = await client.post("/desk/entrar", data={"token": token, "csrf": CSRF.search(form.text).group(1)})
    assert entered.status_code == 303
    return client, "not-the-session-token"
