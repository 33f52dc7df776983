"""The codec endpoint for Temporal's Web UI, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload, Payloads

from cli.codec_server import CodecServer
from payload_codec import AesGcmPayloadCodec, new_key_spec

UI = "http://127.0.0.1:8233"
REVIEWER = {"Authorization": "Bearer reviewer-token"}


def staff(token: str) -> str | None:
    """The test's staff directory: one reviewer; an operator's token reads nothing."""
    return {"reviewer-token": "ana.reviewer"}.get(token)
PERSONAL = b'{"clave":"GRLPAN85031209M700"}'


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"{}")


@pytest.fixture
def codec() -> AesGcmPayloadCodec:
    return AesGcmPayloadCodec.from_spec(new_key_spec())


def sealed_body(codec: AesGcmPayloadCodec) -> bytes:
    [sealed] = asyncio.run(codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=PERSONAL)]))
    return json_format.MessageToJson(Payloads(payloads=[sealed])).encode()


def test_the_web_ui_gets_decrypted_payloads(codec):
    with CodecServer(codec, port=0, ui_origins=[UI], tokens=[], authenticate=staff) as server:
        # The pinned Web UI adds a query string.
        status, headers, body = post(server.port, "/decode?preserveStorageRefs=true", sealed_body(codec),
                                     {"Origin": UI, "X-Namespace": "default", **REVIEWER})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == UI
        [payload] = json_format.ParseDict(body, Payloads()).payloads
        assert payload.data == PERSONAL
        status, _, _ = post(server.port, "/decode", sealed_body(codec), {"Origin": "http://evil.example", **REVIEWER})
        assert status == 403
        preflight = urllib.request.Request(f"http://127.0.0.1:{server.port}/decode", method="OPTIONS",
                                           headers={"Origin": UI, "Access-Control-Request-Method": "POST"})
        with urllib.request.urlopen(preflight, timeout=10) as response:
            assert response.status == 204 and "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_with_tokens_only_their_bearers_read(codec):
    with CodecServer(codec, port=0, ui_origins=[UI], tokens=["staff-token-1"]) as server:
        assert post(server.port, "/decode", sealed_body(codec), {})[0] == 401
        assert post(server.port, "/decode", sealed_body(codec), {"Authorization": "Bearer nope"})[0] == 401
        status, _, body = post(server.port, "/decode", sealed_body(codec), {"Authorization": "Bearer staff-token-1"})
        assert status == 200 and json_format.ParseDict(body, Payloads()).payloads[0].data == PERSONAL


def test_bad_bodies_are_refused_with_a_message(codec):
    other = AesGcmPayloadCodec.from_spec(new_key_spec())
    with CodecServer(codec, port=0, ui_origins=[UI], tokens=[], authenticate=staff) as server:
        for body in (b"not json", b'{"payloads": 3}', sealed_body(other)):
            status, _, answer = post(server.port, "/decode", body, REVIEWER)
            assert status == 400 and answer["message"].startswith("payloads:"), (body, answer)
        assert post(server.port, "/other", b"{}", REVIEWER)[0] == 404


def test_decryption_needs_a_reviewer_and_any_length_gets_an_answer(codec):
    import http.client

    with CodecServer(codec, port=0, ui_origins=[UI], tokens=[], authenticate=staff) as server:
        for headers in ({}, {"Authorization": "Bearer operator-token"}, {"Authorization": "Basic x"}):
            assert post(server.port, "/decode", sealed_body(codec), headers)[0] == 401
        for length, expected in (("abc", 400), ("-1", 400), ("99999999999", 413), (None, 411)):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.putrequest("POST", "/decode?anything=1&x")
            connection.putheader("Authorization", REVIEWER["Authorization"])
            if length is not None:
                connection.putheader("Content-Length", length)
            connection.endheaders()
            answer = connection.getresponse()  # answered at once: no thread waits for a body
            assert answer.status == expected, (length, answer.status)
            connection.close()


@pytest.fixture(scope="module")
def running_codec_server():
    codec = AesGcmPayloadCodec.from_spec(new_key_spec())
    with CodecServer(codec, port=0, ui_origins=[UI], tokens=[], authenticate=staff) as server:
        yield server


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
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, path=st.sampled_from(["/decode", "/encode"]))
def test_any_body_gets_an_answer_never_a_server_error(running_codec_server, body, path):
    status, _, answer = post(running_codec_server.port, path, body, REVIEWER)
    assert status in (200, 400), (status, answer)
    if status == 400:
        assert answer["message"].startswith("payloads:")
