"""The expediente (issue 24) through the HTTP API on the real stack, with each document store —
a folder of the data dir, and an S3-protocol server the test starts (moto's server mode, a
stand-in for a real object store): documents uploaded, required by the process's catalogue,
named by the request and the subsane, read by reviewers only (every read listed for a
supervisor), hostile files refused with nothing stored, and after erasure nothing readable."""

from __future__ import annotations

import asyncio
import io
import random
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image

from lnere.store.documents import open_documents
from tests.citizens import at, credential, request
from tests.conftest import own_process_catalog, running_api
from tests.documents import HOSTILE_RULES, hostile_files, jpeg, pdf, png
from tests.test_api import body

session_loop = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """An S3-protocol server on a port of its own (moto's server mode: a stand-in, in memory)."""
    from lnere.runtime.stack import free_port

    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, "the S3 server did not start"
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


def store_settings(settings, store: str, s3_url: str | None):
    if store == "filesystem":
        return settings
    bucket = f"docs-{random.getrandbits(40):010x}"
    return settings.model_copy(update={"document_store": "s3", "s3_endpoint_url": s3_url, "s3_bucket": bucket,
                                       "s3_access_key_id": "test", "s3_secret_access_key": "test"})


def stored_blobs(settings) -> dict[str, bytes]:
    """What the document store holds, read directly (not through lnere)."""
    if settings.document_store == "filesystem":
        root = settings.documents_dir
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() \
            else {}
    import boto3

    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    listed = client.list_objects_v2(Bucket=settings.s3_bucket).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=settings.s3_bucket, Key=o["Key"])["Body"].read() for o in listed}


def live_catalogue():
    """PEL 2020-2021 under a process id of the test's own, its documents required."""
    catalog, process_id = own_process_catalog()
    catalog.add(catalog.get(process_id).model_copy(update={"documents_required": True}))
    return catalog, process_id


@asynccontextmanager
async def documents_api(dev_env, settings, s3_server, store: str) -> AsyncIterator[tuple]:
    """The API on the real stack with the given document store, under a process of the test's
    own whose documents are required; (api, an HTTP client, the process id)."""
    settings = store_settings(settings, store, s3_server)
    catalog, process = live_catalogue()
    async with (running_api(dev_env.client, settings, catalog, process) as api,
                httpx.AsyncClient(base_url=api.base_url, timeout=60) as http):
        yield api, http, process


async def upload(http, headers, url: str, kind: str, name: str, data: bytes, **fields) -> httpx.Response:
    return await http.post(url, headers=headers, data={"kind": kind, **fields},
                           files={"file": (name, data, "application/octet-stream")})


@session_loop
@pytest.mark.parametrize("store", ["filesystem", "s3"])
async def test_an_expediente_from_upload_to_review_subsane_and_erasure(dev_env, settings, s3_server, store):
    rng = random.Random(24)
    async with documents_api(dev_env, settings, s3_server, store) as (api, http, process):
        operator, reviewer, supervisor = api.auth("operator"), api.auth("reviewer"), api.auth("supervisor")
        citizen = credential(rng, kind="CPV", activated=False)
        by_clave = f"/api/v1/processes/{process}/documents"
        sent = {"CREDENTIAL_FRONT": ("anverso.jpg", jpeg(1)), "CREDENTIAL_BACK": ("reverso.png", png(2)),
                "SIGNATURE": ("firma.jpg", jpeg(3)), "ADDRESS_PROOF": ("recibo de luz.pdf", pdf(2))}
        refs = {}
        for kind, (name, data) in sent.items():
            answer = await upload(http, operator, by_clave, kind, name, data, clave=citizen["clave"])
            assert answer.status_code == 200, answer.text
            refs[kind] = answer.json()
        head = api.stack.registry.recorder.max_notification_id
        filing = {**body(request(citizen, when=at("2020-10-05 10:00"), channel="SRVE")), "credential": citizen}
        url = f"/api/v1/processes/{process}/requests"

        # Without its documents, or naming one not uploaded for this citizen: refused, nothing recorded.
        before = head()
        missing = await http.post(url, headers=operator, json={
            **filing, "documents": [refs["CREDENTIAL_FRONT"], refs["CREDENTIAL_BACK"], refs["SIGNATURE"]]})
        assert missing.status_code == 422 and missing.json()["detail"][0]["type"] == "document-required"
        assert "ADDRESS_PROOF" in missing.json()["detail"][0]["msg"]
        forged = {**refs["ADDRESS_PROOF"], "digest": "0" * 64}
        unknown = await http.post(url, headers=operator, json={**filing, "documents": [
            refs["CREDENTIAL_FRONT"], refs["CREDENTIAL_BACK"], refs["SIGNATURE"], forged]})
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["type"] == "document-unknown"
        assert head() == before
        filed = await http.post(url, headers=operator, json={**filing, "documents": list(refs.values())})
        assert filed.status_code == 200, filed.text
        journey = filed.json()["journey"]

        # Reviewers and supervisors read them; nobody else.
        listing = f"/api/v1/journeys/{journey}/documents"
        for role in ("operator", "viewer", "party", "opl"):
            assert (await http.get(listing, headers=api.auth(role))).status_code == 403, role
            assert (await http.get(f"{listing}/{refs['SIGNATURE']['id']}", headers=api.auth(role))).status_code \
                == 403, role
        listed = (await http.get(listing, headers=reviewer)).json()
        assert {d["kind"]: d["name"] for d in listed["documents"]} == {k: v[0] for k, v in sent.items()}
        assert all(d["round"] == 0 for d in listed["documents"])
        for kind, (_, data) in sent.items():
            got = await http.get(f"{listing}/{refs[kind]['id']}", headers=reviewer)
            assert got.status_code == 200 and got.headers["x-document-digest"] == refs[kind]["digest"]
            assert sent[kind][0] not in got.headers["content-disposition"]  # never the name it came with
            if kind == "ADDRESS_PROOF":
                assert got.content == data  # a PDF is kept as sent
            else:  # an image as encoded again: the same picture, its metadata (GPS) gone
                kept, original = Image.open(io.BytesIO(got.content)), Image.open(io.BytesIO(data))
                assert kept.size == original.size and not kept.getexif()
                assert original.getexif() or kind == "CREDENTIAL_BACK"
        # Every look is listed for a supervisor: by journey and by staff member.
        reads = (await http.get(f"/api/v1/journeys/{journey}/reads", headers=supervisor)).json()
        assert [(r["staff"], r["what"]) for r in reads] == [("reviewer.1", "documents")] + [
            ("reviewer.1", "document")] * 4
        assert (await http.get(f"/api/v1/journeys/{journey}/reads", headers=reviewer)).status_code == 403
        today = time.strftime("%Y-%m-%d", time.gmtime())
        by_staff = (await http.get("/api/v1/staff/reviewer.1/reads", params={"day": today},
                                   headers=supervisor)).json()
        assert {r["journey"] for r in by_staff} == {journey} and len(by_staff) == 5

        # A decision records what it was made on; a subsane carries the document its reason needs.
        decision = {"at": at("2020-10-20 10:00").isoformat(), "outcome": "inconsistencies",
                    "reasons": ["SIGNATURE_MISSING"]}
        before = head()
        stranger = await http.post(f"/api/v1/journeys/{journey}/review", headers=reviewer, json={
            **decision, "concerning": {"SIGNATURE_MISSING": "f" * 32}})
        assert stranger.status_code == 422 and stranger.json()["detail"][0]["type"] == "document-unknown"
        assert head() == before
        decided = await http.post(f"/api/v1/journeys/{journey}/review", headers=reviewer, json={
            **decision, "concerning": {"SIGNATURE_MISSING": refs["SIGNATURE"]["id"]}})
        assert decided.status_code == 200, decided.text
        subsane = f"/api/v1/journeys/{journey}/subsane-documents"
        before = head()
        bare = await http.post(subsane, headers=operator, json={"at": at("2020-10-25 10:00").isoformat(),
                                                                 "documents": ["SIGNATURE"]})
        assert bare.status_code == 422 and bare.json()["detail"][0]["type"] == "document-required"
        assert head() == before
        signature = await upload(http, operator, listing, "SIGNATURE", "firma nueva.png", png(9))
        assert signature.status_code == 200, signature.text
        corrected = await http.post(subsane, headers=operator, json={
            "at": at("2020-10-25 10:00").isoformat(), "documents": ["SIGNATURE"], "files": [signature.json()]})
        assert corrected.status_code == 200, corrected.text
        again = (await http.get(listing, headers=reviewer)).json()
        assert [d["kind"] for d in again["side_by_side"]["latest_subsane"]] == ["SIGNATURE"]
        assert len(again["side_by_side"]["request"]) == 4
        assert set(again["decisions"][0]["documents_seen"]) == {r["id"] for r in refs.values()}
        assert again["decisions"][0]["concerning"] == {"SIGNATURE_MISSING": refs["SIGNATURE"]["id"]}

        # Only ciphertext in the store; after erasure, nothing anyone can read.
        blobs = stored_blobs(api.stack.settings)
        assert len(blobs) == 5
        assert all(pdf(2) not in blob and b"%PDF" not in blob and b"JFIF" not in blob for blob in blobs.values())
        api.stack.registry.vault.erase(api.stack.registry.journey(journey).id.__str__(), at("2022-06-01 10:00"))
        gone = await http.get(f"{listing}/{refs['ADDRESS_PROOF']['id']}", headers=reviewer)
        assert gone.status_code == 409 and gone.json()["rule"] == "personal-data-erased"
        assert stored_blobs(api.stack.settings) == blobs  # the bytes stay, their key does not
        key = api.stack.registry.vault._store.get(str(api.stack.registry.journey(journey).id))
        assert key is not None and key[0] is None and key[1] is not None
        assert (await http.get("/healthz")).status_code == 200


@session_loop
@pytest.mark.parametrize("store", ["filesystem", "s3"])
async def test_hostile_files_are_refused_naming_the_rule_and_nothing_is_stored(dev_env, settings, s3_server, store):
    rng = random.Random(7)
    async with documents_api(dev_env, settings, s3_server, store) as (api, http, process):
        citizen = credential(rng)
        url = f"/api/v1/processes/{process}/documents"
        for what, kind, name, data in hostile_files():
            answer = await upload(http, api.auth("operator"), url, kind, name, data, clave=citizen["clave"])
            assert answer.status_code == 422, (what, answer.text)
            detail = answer.json()["detail"][0]
            assert detail["type"] == HOSTILE_RULES[what], (what, detail)
            assert name not in answer.text or what == "a kind the process does not have"
        assert stored_blobs(api.stack.settings) == {}
        recorded = open_documents(api.stack.settings)  # the documents' event log: nothing in it
        try:
            assert (recorded.recorder.max_notification_id() or 0) == 0
        finally:
            recorded.close()
        # Past the upload's limit: refused before the body is read; without a length: 411.
        for length, status in ((64 * 1024 * 1024, b" 413 "), (None, b" 411 ")):
            assert status in await asyncio.to_thread(_raw_post, api.base_url, url, api.tokens["operator"], length)
        # A file with a kind it fits, after all that: taken, and the stack serves.
        fine = await upload(http, api.auth("operator"), url, "SIGNATURE", "firma.jpg", jpeg(5),
                            clave=citizen["clave"])
        assert fine.status_code == 200, fine.text
        assert len(stored_blobs(api.stack.settings)) == 1
        assert (await http.get(f"/api/v1/processes/{process}/figures")).status_code == 200


def _raw_post(base_url: str, path: str, token: str, length: int | None) -> bytes:
    """A request whose head declares ``length`` (or none) and sends a few bytes: the answer's
    status line."""
    host, port = base_url.removeprefix("http://").split(":")
    declared = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary=x\r\n{declared}\r\n")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head.encode() + (b"5\r\n--x--\r\n" if length is None else b"--x--"))
        return connection.recv(200).split(b"\r\n")[0]


@session_loop
async def test_uploads_at_once_to_one_expediente_all_land(dev_env, settings):
    async with documents_api(dev_env, settings, None, "filesystem") as (api, http, process):
        citizen = credential(random.Random(3))
        url = f"/api/v1/processes/{process}/documents"
        answers = await asyncio.gather(*(upload(http, api.auth("operator"), url, "SIGNATURE", f"firma-{i}.png",
                                                png(i), clave=citizen["clave"]) for i in range(8)))
        assert [a.status_code for a in answers] == [200] * 8
        assert len({a.json()["id"] for a in answers}) == 8
        filed = await http.post(f"/api/v1/processes/{process}/requests", headers=api.auth("operator"), json={
            **body(request(citizen, when=at("2020-10-05 10:00"), channel="SRVE")), "credential": citizen,
            "documents": [a.json() for a in answers]})
        assert filed.status_code == 200, filed.text
        listed = (await http.get(f"/api/v1/journeys/{filed.json()['journey']}/documents",
                                 headers=api.auth("reviewer"))).json()
        assert sorted(d["name"] for d in listed["documents"]) == sorted(f"firma-{i}.png" for i in range(8))


def _env_of(settings) -> dict[str, str]:
    """The environment of a CLI command over the test's data dir, keys and stores."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("LNERE_")}
    names = ("data_dir", "journey_key", "cipher_key", "payload_keys", "persistence", "postgres_port",
             "postgres_user", "postgres_dbname", "document_store", "s3_endpoint_url", "s3_bucket")
    env.update({f"LNERE_{n.upper()}": str(getattr(settings, n)) for n in names if getattr(settings, n) is not None})
    return env


@session_loop
async def test_documents_go_in_by_command_file_and_by_the_cli(dev_env, settings, tmp_path):
    import json

    from lnere.application.gateway import JourneyClient
    from lnere.application.importer import run_import

    catalog, process = live_catalogue()
    rng = random.Random(11)
    folder = tmp_path / "migration"
    (folder / "docs").mkdir(parents=True)
    files = {"CREDENTIAL_FRONT": ("docs/anverso.jpg", jpeg(4)), "CREDENTIAL_BACK": ("docs/reverso.jpg", jpeg(5)),
             "SIGNATURE": ("docs/firma.png", png(6)), "ADDRESS_PROOF": ("docs/domicilio.pdf", pdf(1))}
    for name, data in files.values():
        (folder / name).write_bytes(data)
    (tmp_path / "fuera.jpg").write_bytes(jpeg(7))
    (folder / "docs" / "malo.pdf").write_bytes(pdf(javascript=True))

    def line(citizen: dict, documents: list[dict]) -> str:
        command = {**request(citizen, when=at("2020-10-05 10:00"), channel="SRVE"), "credential": citizen,
                   "documents": documents}
        return json.dumps({"process": process, "clave": citizen["clave"], "command": command})

    good, outside, hostile = (credential(rng, kind="CPV", activated=False) for _ in range(3))
    entries = [{"kind": kind, "file": name} for kind, (name, _) in files.items()]
    path = folder / "commands.jsonl"
    path.write_text("\n".join([
        line(good, entries),
        line(outside, [*entries[:3], {"kind": "ADDRESS_PROOF", "file": "../fuera.jpg"}]),
        line(hostile, [*entries[:3], {"kind": "ADDRESS_PROOF", "file": "docs/malo.pdf"}]),
    ]) + "\n")
    async with running_api(dev_env.client, settings, catalog, process) as api:
        documents = open_documents(api.stack.settings)
        try:
            journeys = JourneyClient(dev_env.client, catalog, settings.journey_key_bytes, settings.task_queue,
                                     api.stack.registry, documents)
            summary = await run_import(path, journeys, settings.data_dir / "imports", tmp_path / "rejects.jsonl")
            assert (summary.accepted, summary.refused) == (1, 2), summary
            rejects = [json.loads(t) for t in (tmp_path / "rejects.jsonl").read_text().splitlines()]
            assert "lies in the command file's folder" in rejects[0]["error"]
            assert "[pdf-javascript]" in rejects[1]["error"]
            stored = stored_blobs(api.stack.settings)
            # Sent again, the same documents are named: the request counts once, nothing stored twice.
            again = await run_import(path, journeys, settings.data_dir / "imports", tmp_path / "rejects.jsonl",
                                     restart=True)
            assert again.refused == 2 and again.accepted == 1
            assert stored_blobs(api.stack.settings) == stored and len(stored) == 4  # a refused line stores nothing
            journey = journeys.workflow_id(journeys_envelope(process, good))
            recorded = api.stack.registry.journey(journey)
            assert sorted(ref["kind"] for ref in recorded.expediente) == sorted(files)
        finally:
            documents.close()

    # The CLI: one document for a citizen, its reference printed.
    citizen = credential(rng)
    (tmp_path / "firma.jpg").write_bytes(jpeg(8))
    added = subprocess.run([str(Path(sys.executable).parent / "lnere"), "--process", "pel-2020-2021", "document",
                            "add", "--clave", citizen["clave"], "--kind", "SIGNATURE",
                            str(tmp_path / "firma.jpg")], env=_env_of(settings), capture_output=True, text=True,
                           timeout=120)
    assert added.returncode == 0, added.stderr
    ref = json.loads(added.stdout)
    assert ref["kind"] == "SIGNATURE" and len(ref["id"]) == 32 and len(ref["digest"]) == 64
    refused = subprocess.run([str(Path(sys.executable).parent / "lnere"), "--process", "pel-2020-2021",
                              "document", "add", "--clave", citizen["clave"], "--kind", "SIGNATURE",
                              str(folder / "docs" / "domicilio.pdf")], env=_env_of(settings), capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "[file-type-for-kind]" in refused.stderr


def journeys_envelope(process: str, citizen: dict):
    from lnere.domain.commands import CommandEnvelope

    return CommandEnvelope.model_validate({"process": process, "clave": citizen["clave"], "command": {
        **request(citizen, when=at("2020-10-05 10:00"), channel="SRVE"), "credential": citizen}})
