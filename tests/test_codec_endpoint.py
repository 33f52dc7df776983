"""The codec endpoint for Temporal's Web UI (``/codec`` of the API, served by uvicorn over the
real stack): who may decrypt (a reviewer's session or bearer token), from which origin, and an
answer for any body or length, never a server error or a hung connection."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import WorkflowSerializationContext

from lnere.api.codec import SESSION_COOKIE
from lnere.application.staff import StaffDirectory
from lnere.domain.roles import Role
from lnere.payload_codec import WORKFLOW_ID

# Its subject is the codec endpoint, not storage: run once, on SQLite (tests/conftest.py).
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.any_backend]

UI = "http://127.0.0.1:8233"  # the Web UI's origin for the test settings' TEMPORAL_UI_PORT
PERSONAL = b'{"clave":"GRLPAN85031209M700"}'
JOURNEY = "journey-pel-2020-2021-0123456789abcdef"


async def sealed_body(api) -> bytes:
    codec = api.stack.settings.data_converter().payload_codec
    bound = codec.with_context(WorkflowSerializationContext(namespace="default", workflow_id=JOURNEY))
    [sealed] = await bound.encode([Payload(metadata={"encoding": b"json/plain"}, data=PERSONAL)])
    assert sealed.metadata[WORKFLOW_ID] == JOURNEY.encode() and PERSONAL not in sealed.data
    return json_format.MessageToJson(Payloads(payloads=[sealed])).encode()


def plain(answer: httpx.Response) -> bytes:
    [payload] = json_format.ParseDict(answer.json(), Payloads()).payloads
    return payload.data


async def test_the_web_ui_gets_payloads_decrypted_for_a_reviewer_only(api):
    body = await sealed_body(api)
    url = "/codec/decode?preserveStorageRefs=true"  # as the pinned Web UI asks
    ui = {"Origin": UI, "Content-Type": "application/json", "X-Namespace": "default"}
    answer = await api.http.post(url, content=body, headers={**ui, **api.auth("reviewer")})
    assert answer.status_code == 200 and plain(answer) == PERSONAL
    assert answer.headers["access-control-allow-origin"] == UI
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert (await api.http.post(url, content=body, headers={**ui, **api.auth("supervisor")})).status_code == 200
    for role in ("operator", "viewer", "party"):
        refused = await api.http.post(url, content=body, headers={**ui, **api.auth(role)})
        assert refused.status_code == 401 and PERSONAL.decode() not in refused.text
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        assert (await api.http.post(url, content=body, headers={**ui, **headers})).status_code == 401
    foreign = await api.http.post(url, content=body, headers={**ui, "Origin": "http://evil.example",
                                                             **api.auth("reviewer")})
    assert foreign.status_code == 403
    preflight = await api.http.options("/codec/decode", headers={
        "Origin": UI, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == UI
    evil = await api.http.options("/codec/decode", headers={"Origin": "http://evil.example",
                                                            "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in evil.headers


async def test_a_reviewer_logs_in_once_and_the_session_ends_with_logout_or_revocation(api):
    body = await sealed_body(api)
    directory = StaffDirectory(api.stack.settings.staff_path)
    token = directory.add("codec.reviewer", Role.REVIEWER)
    async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as browser:
        assert (await browser.get("/codec/")).status_code == 200
        assert (await browser.post("/codec/session", json={"token": api.tokens["operator"]})).status_code == 403
        assert (await browser.post("/codec/session", json={"token": "nope"})).status_code == 401
        assert (await browser.post("/codec/session", json={})).status_code == 422
        assert not browser.cookies
        login = await browser.post("/codec/session", json={"token": token})
        assert login.status_code == 200 and login.json()["staff"] == "codec.reviewer"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/codec" in cookie
        assert token not in cookie
        assert (await browser.get("/codec/session")).json() == {"staff": "codec.reviewer"}
        answer = await browser.post("/codec/decode", content=body, headers={"Origin": UI})
        assert answer.status_code == 200 and plain(answer) == PERSONAL
        # The cookie counts for the codec only, not as a token of the API.
        assert (await browser.get("/api/v1/me")).status_code == 401

        stale = browser.cookies[SESSION_COOKIE]
        assert (await browser.delete("/codec/session")).status_code == 204
        assert (await browser.post("/codec/decode", content=body, headers={"Origin": UI})).status_code == 401
        # Signed out on the server: the same cookie sent again decrypts nothing.
        async with httpx.AsyncClient(base_url=api.base_url, cookies={SESSION_COOKIE: stale}) as replay:
            assert (await replay.post("/codec/decode", content=body, headers={"Origin": UI})).status_code == 401
        # A new token for the same member ends the sessions of the old one.
        await browser.post("/codec/session", json={"token": token})
        before_new_token = browser.cookies[SESSION_COOKIE]
        token = directory.add("codec.reviewer", Role.REVIEWER)
        async with httpx.AsyncClient(base_url=api.base_url, cookies={SESSION_COOKIE: before_new_token}) as old:
            assert (await old.post("/codec/decode", content=body, headers={"Origin": UI})).status_code == 401
        # A refused login says what was wrong, never what was sent.
        long = "t" * 600
        invalid = await browser.post("/codec/session", json={"token": long})
        assert invalid.status_code == 422 and long not in invalid.text and "token" in invalid.text

        await browser.post("/codec/session", json={"token": token})
        forged = browser.cookies[SESSION_COOKIE][:-2] + "xx"
        async with httpx.AsyncClient(base_url=api.base_url, cookies={SESSION_COOKIE: forged}) as forger:
            assert (await forger.post("/codec/decode", content=body, headers={"Origin": UI})).status_code == 401
        assert directory.revoke("codec.reviewer")
        assert (await browser.post("/codec/decode", content=body, headers={"Origin": UI})).status_code == 401


async def test_any_length_gets_an_answer_at_once(api):
    host, port = api.base_url.removeprefix("http://").split(":")

    def ask(length: str | None) -> int:
        with socket.create_connection((host, int(port)), timeout=10) as connection:
            head = (f"POST /codec/decode?anything=1&x HTTP/1.1\r\nHost: {host}\r\n"
                    f"Authorization: Bearer {api.tokens['reviewer']}\r\n")
            if length is not None:
                head += f"Content-Length: {length}\r\n"
            connection.sendall((head + "Connection: close\r\n\r\n").encode())
            status_line = connection.makefile("rb").readline().decode()  # times out if a body is awaited
            return int(status_line.split()[1])

    for length in ("abc", "-1", "99999999999", None):
        status = await asyncio.to_thread(ask, length)
        assert 400 <= status < 500, (length, status)


payload_like = st.fixed_dictionaries({}, optional={
    "metadata": st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=3),
    "data": st.text(max_size=60),
})
bodies = st.one_of(
    st.binary(max_size=500),
    st.builds(lambda p: json.dumps({"payloads": p}).encode(), st.lists(payload_like, max_size=3)),
    st.builds(lambda v: json.dumps(v).encode(), st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3), max_leaves=8)),
    st.just(b'{"payloads": [' * 5000 + b"]" * 5000 + b"}"),
)


async def test_any_body_gets_an_answer_never_a_server_error(api):
    reviewer = api.auth("reviewer")

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=bodies, path=st.sampled_from(["/codec/decode", "/codec/encode"]))
    def check(body: bytes, path: str) -> None:
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            answer = http.post(path, content=body, headers=reviewer)
        assert answer.status_code in (200, 400, 422), (answer.status_code, answer.text)
        if answer.status_code == 400:
            assert answer.json()["message"].startswith("payloads:")

    await asyncio.to_thread(check)  # the server runs on this loop: the examples go from a thread
