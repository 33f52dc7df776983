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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=10_000, help="citizens, three documents each")
    parser.add_argument("--stores", default="filesystem,s3", help="filesystem, s3, or both")
    args = parser.parse_args()
    server, url = s3_server() if "s3" in args.stores else (None, None)
    rows = []
    try:
        for store in args.stores.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                rows.append((store, measure(store, args.citizens, Path(tmp), url)))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    print(f"\n{args.citizens:,} citizens, three documents each (a photo's JPEG of about 300 KB, a PNG, a one-page "
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


if __name__ == "__main__":
    main()
