"""Optional tracing (LNERE_TRACING=true): one trace follows a command from the HTTP request
through the journey's Update to the activity that records it, on the real stack; no span
carries the citizen's personal data."""

from __future__ import annotations

import random

import httpx
import pytest

from tests.citizens import at, credential, request

# Its subject is the traces, not storage: run once, on SQLite (tests/conftest.py).
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.any_backend]


async def test_a_trace_follows_a_command_from_the_request_to_the_activity(dev_env, settings):
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from temporalio.client import Client

    from lnere import tracing
    from tests.conftest import DATA_CONVERTER, own_process_catalog, running_api

    exporter = InMemorySpanExporter()
    tracing.configure("test", exporter)
    traced = settings.model_copy(update={"tracing": True})
    client = await Client.connect(dev_env.client.service_client.config.target_host,
                                  namespace=dev_env.client.namespace, data_converter=DATA_CONVERTER,
                                  interceptors=tracing.client_interceptors(True))
    catalog, process = own_process_catalog()
    citizen = credential(random.Random(8))
    async with (running_api(client, traced, catalog, process) as api,
                httpx.AsyncClient(base_url=api.base_url, timeout=60) as http):
        body = {k: v for k, v in request(citizen, when=at("2020-10-05 10:00")).items() if k != "kind"}
        filed = await http.post(f"/api/v1/processes/{process}/requests", json=body, headers=api.auth("operator"))
        assert filed.status_code == 200, filed.text
    trace.get_tracer_provider().force_flush()
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    request_span = next(s for s in spans if s.name.startswith("POST /api/v1/processes/{process}/requests"))
    in_trace = [s for s in spans if s.context.trace_id == request_span.context.trace_id]
    assert any("Update" in s.name for s in in_trace), names  # the client's Update and its handling
    assert any(s.name.startswith("RunActivity:") for s in in_trace), names  # the activity that records it
    for span in spans:
        text = f"{span.name} {dict(span.attributes or {})}"
        assert citizen["clave"] not in text and citizen["holder"]["paternal_surname"] not in text
