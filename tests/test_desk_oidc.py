"""Signing in to the desk through an OpenID Connect provider that the test starts locally
(oidc-provider-mock, from PyPI: a real provider with discovery, JWKS, the authorization-code
flow and signed ID tokens): the person it vouches for gets a session with the role the staff
directory gives; a tampered state, a person the directory does not hold, a replayed code and
the token form are refused; revoking the member ends the session."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from lnere.application.staff import StaffDirectory
from lnere.domain.roles import Role
from tests.desk import desk_api

# Its subject is signing in, not storage: run once, on SQLite.
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.any_backend]


@pytest.fixture
def provider():
    import oidc_provider_mock

    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


async def through_provider(client: httpx.AsyncClient, person: str, tamper: bool = False) -> httpx.Response:
    """The browser's round trip: to the provider, the person signs in there, and back."""
    started = await client.get("/desk/entrar/institucional")
    assert started.status_code == 303, started.text
    authorize = started.headers["location"]
    async with httpx.AsyncClient(timeout=30) as browser_at_provider:
        approved = await browser_at_provider.post(authorize, data={"sub": person})
    assert approved.status_code in (302, 303), approved.text
    back = approved.headers["location"]
    if tamper:
        query = parse_qs(urlparse(back).query)
        back = back.replace(query["state"][0], "x" + query["state"][0][1:])
    client.last_callback = back  # type: ignore[attr-defined]
    return await client.get(back)


async def test_staff_sign_in_through_the_institutions_provider(dev_env, settings, provider):
    settings = settings.model_copy(update={"oidc_issuer": provider, "oidc_client_id": "lnere",
                                           "oidc_client_secret": "s3cret", "oidc_staff_claim": "sub"})
    async with desk_api(dev_env, settings) as (api, http, process):
        StaffDirectory(settings.staff_path).add("derfe.oidc", Role.REVIEWER)
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as client:
            form = await client.get("/desk/entrar")
            assert "Entrar con la cuenta institucional" in form.text and 'name="token"' not in form.text
            # The token form is not a way in when the institution's sign-on is configured.
            token = await client.post("/desk/entrar", data={"token": api.tokens["reviewer"], "csrf": "x"})
            assert token.status_code == 403 and "lnere_desk" not in client.cookies

            back = await through_provider(client, "derfe.oidc")
            assert back.status_code == 303 and back.headers["location"] == "/desk/", back.text
            inbox = await client.get("/desk/", follow_redirects=True)
            assert inbox.status_code == 200 and "derfe.oidc (revisión (DERFE))" in inbox.text
            # The same answer from the provider again (a replayed code): refused.
            replayed = await httpx.AsyncClient(base_url=api.base_url).get(client.last_callback)  # type: ignore[attr-defined]
            assert replayed.status_code == 403

            StaffDirectory(settings.staff_path).revoke("derfe.oidc")
            ended = await client.get(f"/desk/procesos/{process.id}/bandeja")
            assert ended.status_code == 303 and ended.headers["location"].startswith("/desk/entrar")

        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as stranger:
            refused = await through_provider(stranger, "nadie@example.org")
            assert refused.status_code == 403 and "no está en el directorio" in refused.text
            assert "lnere_desk" not in stranger.cookies
        StaffDirectory(settings.staff_path).add("derfe.otra", Role.REVIEWER)
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as forger:
            tampered = await through_provider(forger, "derfe.otra", tamper=True)
            assert tampered.status_code == 403 and "no corresponde" in tampered.text
            assert "lnere_desk" not in forger.cookies
