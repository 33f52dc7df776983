"""Benchmark: the expediente's documents into each document store, and their erasure.

    .venv/bin/python scripts/benchmark_documents.py [--citizens 10000] [--stores filesystem,s3]

For each store (a folder of a fresh data dir; an S3-protocol server this script starts, moto's
server mode, a stand-in for a real object store): ``--citizens`` citizens get three synthetic
documents each — the credential's front (a JPEG with EXIF and GPS, as a phone writes it), a
signature (a PNG) and a proof of address (a one-page PDF); the photo has a real one's size and
grain (about 300 KB), the others are small — through ``DocumentRegistry.add``
(checked from their bytes, images encoded again, sealed with the citizen's key, kept, recorded).
Then every citizen is erased (their key deleted) and one document read back to show it is gone.
Prints one Markdown table: documents/s and MB/s in (the files as sent), storage per citizen
(sealed bytes kept, and event store), erasures/s; and an extrapolation to PEF 2023-2024's
226,661 requests with three documents each, from the measured rate (stated as such). Asserts
nothing about speed.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/documents.py's makers

from lnere import logs
from lnere.domain.identity import journey_uuid
from lnere.domain.process import ProcessCatalog
from lnere.domain.rules import DomainError
from lnere.runtime.stack import free_port
from lnere.settings import Settings
from lnere.store.documents import open_documents
from tests.documents import pdf, photo, png

PEF_REQUESTS = 226_661
KINDS = ("CREDENTIAL_FRONT", "SIGNATURE", "ADDRESS_PROOF")


def s3_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the S3 server did not start") from None
            time.sleep(0.1)


def stored_bytes(settings: Settings, documents) -> int:
    if settings.document_store == "filesystem":
        return sum(p.stat().st_size for p in settings.documents_dir.rglob("*") if p.is_file())
    client = documents.blobs.client
    return sum(o["Size"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings.s3_bucket)
               for o in page.get("Contents", []))


def measure(store: str, citizens: int, data_dir: Path, s3_url: str | None) -> dict[str, float]:
    extra = {} if store == "filesystem" else {"document_store": "s3", "s3_endpoint_url": s3_url,
                                              "s3_access_key_id": "bench", "s3_secret_access_key": "bench"}
    settings = Settings(data_dir=data_dir, journey_key=secrets.token_hex(32),
                        cipher_key=base64.b64encode(secrets.token_bytes(32)).decode(), **extra)
    process = ProcessCatalog.load().get("pel-2020-2021")
    files = [(KINDS[0], "anverso.jpg", photo(1)), (KINDS[1], "firma.png", png(2, size=(300, 120))),
             (KINDS[2], "domicilio.pdf", pdf(1))]
    sent = sum(len(f[2]) for f in files) * citizens
    documents = open_documents(settings)
    try:
        journeys = [f"journey-{process.id}-{secrets.token_hex(16)}" for _ in range(citizens)]
        start = time.perf_counter()
        for workflow_id in journeys:
            for kind, name, data in files:
                documents.add(process, workflow_id, kind, name, data, "bench", datetime.now(UTC))
        added = time.perf_counter() - start
        kept = stored_bytes(settings, documents)
        events = sum(p.stat().st_size for p in data_dir.glob("documents.sqlite*"))  # the event store (SQLite, WAL)
        start = time.perf_counter()
        for workflow_id in journeys:
            documents.vault.erase(str(journey_uuid(workflow_id)), datetime.now(UTC))
        erased = time.perf_counter() - start
        first = journeys[0]
        document_id = next(iter(documents._expediente(first).documents))
        try:
            documents.read(first, document_id, "bench", "supervisor")
            raise SystemExit("a document was readable after its citizen's erasure")
        except DomainError:
            pass
    finally:
        documents.close()
    count = citizens * len(files)
    return {"documents": count, "docs_per_s": count / added, "mb_per_s": sent / added / 1e6,
            "kept_per_citizen": kept / citizens, "events_per_citizen": events / citizens,
            "erasures_per_s": citizens / erased}


def through_milestones(citizens: int, data_dir: Path) -> dict[str, float]:
    """A population of ``citizens`` whose requests carry their documents (PEL 2020-2021 with its
    documents required: a CPV by the web needs four) through every milestone to the definitive
    list, straight through the domain and the calendar's bulk activity, as
    ``benchmark_milestones.py`` runs them; one in five is found with inconsistencies and corrects
    them with a new signature (a subsane with its file) before the list."""
    import asyncio
    import random

    from temporalio.testing import ActivityEnvironment

    from lnere.activities.milestones import MilestoneActivities
    from lnere.application.gateway import load_processes
    from lnere.domain.commands import DecideReview, FileRequest, SendSubsaneDocuments
    from lnere.domain.identity import journey_workflow_id
    from lnere.domain.process import MILESTONE_ORDER
    from lnere.projections.runner import open_view, start_runner, wait_for_position
    from lnere.store.registry import JourneyRegistry
    from lnere.workflows.messages import BulkMilestoneInput
    from tests.citizens import at, credential, request
    from tests.documents import jpeg

    settings = Settings(data_dir=data_dir, journey_key=secrets.token_hex(32),
                        cipher_key=base64.b64encode(secrets.token_bytes(32)).decode())
    processes = load_processes(settings)
    process = processes.get("pel-2020-2021").model_copy(update={"id": "pel-documentos", "documents_required": True})
    processes.add(process)
    registry = JourneyRegistry(env=settings.event_store_env())
    documents = open_documents(settings)
    rng = random.Random(24)
    files = [("CREDENTIAL_FRONT", "anverso.jpg", jpeg(1)), ("CREDENTIAL_BACK", "reverso.png", png(2)),
             ("SIGNATURE", "firma.png", png(3)), ("ADDRESS_PROOF", "domicilio.pdf", pdf(1))]
    started = time.perf_counter()
    try:
        for n in range(citizens):
            citizen = credential(rng, kind="CPV", activated=False)
            workflow_id = journey_workflow_id(settings.journey_key_bytes, process.id, citizen["clave"])
            refs = [documents.add(process, workflow_id, kind, name, data, "bench", datetime.now(UTC))
                    for kind, name, data in files]
            filed = FileRequest.model_validate({**request(citizen, when=at("2020-10-05 10:00"), channel="SRVE"),
                                                "credential": citizen, "documents": [r.model_dump() for r in refs]})
            commands: list = [filed]
            if n % 5 == 0:
                signature = documents.add(process, workflow_id, "SIGNATURE", "firma-2.png", png(n), "bench",
                                          datetime.now(UTC))
                commands += [DecideReview(at=at("2020-10-20 10:00"), reviewer="bench", outcome="inconsistencies",
                                          reasons=("SIGNATURE_MISSING",)),
                             SendSubsaneDocuments(at=at("2020-10-25 10:00"), documents=("SIGNATURE",),
                                                  files=(signature,))]
            commands.append(DecideReview(at=at("2020-11-20 10:00"), reviewer="bench", outcome="meets_requirements"))
            _, outcomes = registry.record_commands(process, workflow_id, commands)
            refused = [o.refusal for o in outcomes if not o.accepted]
            if refused:
                raise SystemExit(f"a command was refused while filling: {refused[0]}")
        filled = time.perf_counter() - started
        runner = start_runner(settings)
        view = open_view(settings)
        try:
            wait_for_position(runner.view, registry.head(), timeout=3600)
            activities = MilestoneActivities(None, registry, view, processes)  # type: ignore[arg-type]
            started = time.perf_counter()
            for milestone in MILESTONE_ORDER:
                asyncio.run(ActivityEnvironment().run(activities.apply_milestone_in_bulk, BulkMilestoneInput(
                    process_id=process.id, milestone=milestone, at=process.milestone_at(milestone))))
            milestones = time.perf_counter() - started
            wait_for_position(runner.view, registry.head(), timeout=3600)
            included = view.counts_as_of(process.id, None).get("stage", {}).get("included", 0)
        finally:
            runner.__exit__(None, None, None)
            view.datastore.close()
    finally:
        documents.close()
        registry.close()
    if included != citizens:
        raise SystemExit(f"{included} of {citizens} citizens reached the definitive list")
    return {"citizens": citizens, "documents": citizens * 4 + (citizens + 4) // 5, "fill_s": filled,
            "milestones_s": milestones, "included": included}


def table(citizens: int, rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"\n{citizens:,} citizens, three documents each (a photo's JPEG of about 300 KB, a PNG, a one-page "
          f"PDF); one run.\n")
    print("| store | documents | documents/s | MB/s in | kept per citizen | events per citizen | erasures/s |"
          " PEF 2023-2024 (226,661 × 3), extrapolated |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for store, row in rows:
        hours = PEF_REQUESTS * 3 / row["docs_per_s"] / 3600
        print(f"| {store} | {row['documents']:,} | {row['docs_per_s']:,.0f} | {row['mb_per_s']:.2f} | "
              f"{row['kept_per_citizen'] / 1024:,.1f} KiB | {row['events_per_citizen'] / 1024:,.1f} KiB | "
              f"{row['erasures_per_s']:,.0f} | {hours:.1f} h, "
              f"{PEF_REQUESTS * row['kept_per_citizen'] / 1e9:.1f} GB |")



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=10_000, help="citizens, three documents each")
    parser.add_argument("--stores", default="filesystem,s3", help="filesystem, s3, or both")
    parser.add_argument("--through-milestones", type=int, default=10_000, metavar="N",
                        help="then N citizens with their documents through every milestone (0: none)")
    args = parser.parse_args()
    logs.configure("WARNING")
    stores = [store for store in args.stores.split(",") if store] if args.citizens else []
    server, url = s3_server() if "s3" in stores else (None, None)
    rows = []
    try:
        for store in stores:
            with tempfile.TemporaryDirectory() as tmp:
                rows.append((store, measure(store, args.citizens, Path(tmp), url)))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    if rows:
        table(args.citizens, rows)
    if args.through_milestones:
        with tempfile.TemporaryDirectory() as tmp:
            row = through_milestones(args.through_milestones, Path(tmp))
        print(f"\n{row['citizens']:,} citizens with {row['documents']:,} documents (CPV by the web: four each; "
              f"one in five corrects its signature in a subsane) to the definitive list: requests, documents and "
              f"decisions recorded in {row['fill_s']:.0f} s ({row['citizens'] / row['fill_s']:,.0f} citizens/s), "
              f"every milestone in {row['milestones_s']:.1f} s; {row['included']:,} included.")


if __name__ == "__main__":
    main()
