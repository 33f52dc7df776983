"""Optional OpenTelemetry tracing, off by default (``LNERE_TRACING=true``; ``pip install
'lnere[tracing]'``): a trace follows a command from the HTTP request through the workflow's
Update to the activity that records it (the Temporal SDK's tracing interceptor), exported over
OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the standard OpenTelemetry variables apply).
Spans carry ids and kinds, never personal data (that travels only in encrypted payloads)."""

from __future__ import annotations

from typing import Any

EXCLUDED_URLS = "healthz,readyz,metrics,static"


def configure(component: str, exporter: Any = None) -> None:
    """This process's tracer provider (service ``lnere-<component>``); ``exporter``: where spans
    go (default OTLP over HTTP)."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"lnere-{component}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def client_interceptors(enabled: bool) -> list[Any]:
    """The Temporal client's interceptors (a worker built on the client gets them too)."""
    if not enabled:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def instrument_app(app: Any) -> None:
    """Spans for the HTTP API's requests, named by route template (no journey id in a name)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS)
