"""The public page where a citizen checks their request: ``/consulta`` ("Consulta el estatus de
tu solicitud"). Folio, clave de elector and date of birth; the same answer whichever of them is
wrong; rate limited per address and per clave (``limits``' moving windows, in this process);
every lookup counted by its outcome in the metrics, none logged with what was typed."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from lnere import logs, metrics
from lnere.api.words import MODALITY_LABELS, STAGE_LABELS
from lnere.application.status_lookup import StatusLookup
from lnere.domain.process import ElectoralProcess
from lnere.settings import Settings

log = logs.get_logger("lnere.status_page")
router = APIRouter(include_in_schema=False)
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True))
NOT_FOUND = ("No encontramos una solicitud con esos datos. Revise el folio, la clave de elector y la fecha de "
             "nacimiento tal como aparecen en su credencial y en el aviso de recepción.")
LIMITED = "Se hicieron demasiadas consultas. Intente de nuevo más tarde."


class Limits:
    def __init__(self, per_address: str, per_clave: str) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_address, self.per_clave = parse(per_address), parse(per_clave)

    def allow(self, address: str, clave: str) -> bool:
        # The clave is kept only as a digest, in this process's memory.
        clave_key = hashlib.sha256(clave.strip().upper().encode()).hexdigest()
        return (self.limiter.hit(self.per_address, "consulta-address", address)
                and self.limiter.hit(self.per_clave, "consulta-clave", clave_key))


def install(app: FastAPI, settings: Settings) -> None:
    app.state.status_limits = Limits(settings.status_lookups_per_address, settings.status_lookups_per_clave)
    app.include_router(router)


def _page(status: int = 200, **context: Any) -> HTMLResponse:
    html = TEMPLATES.get_template("status.html").render(stage_labels=STAGE_LABELS, modality_labels=MODALITY_LABELS,
                                                        **context)
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


def _process(request: Request, asked: str | None) -> ElectoralProcess:
    services = request.app.state.services
    known = {p.id for p in services.processes}
    return services.processes.get(asked if asked in known else services.default_process())


def _local(moment, process: ElectoralProcess) -> str:
    return moment.astimezone(process.tz).strftime("%d/%m/%Y") if moment else ""


@router.get("/consulta")
async def status_form(request: Request, proceso: str | None = None) -> Response:
    process = await asyncio.to_thread(_process, request, proceso)
    return _page(process=process, answer=None, message=None, local=_local)


@router.post("/consulta")
async def status_lookup(request: Request) -> Response:
    form = await request.form()
    fields = {name: value if isinstance(value, str) else "" for name in ("folio", "clave", "nacimiento", "proceso")
              for value in [form.get(name) or ""]}
    process = await asyncio.to_thread(_process, request, fields["proceso"] or None)
    address = request.client.host if request.client else "unknown"
    if not request.app.state.status_limits.allow(address, fields["clave"][:40]):
        metrics.STATUS_LOOKUPS.labels(outcome="limited").inc()
        log.warning("status lookup limited")
        return _page(429, process=process, answer=None, message=LIMITED, local=_local)
    try:
        birth_date = date.fromisoformat(fields["nacimiento"])
    except ValueError:
        birth_date = None
    lookup: StatusLookup = request.app.state.services.status_lookup
    answer = None
    if birth_date is not None and len(fields["folio"]) <= 20 and len(fields["clave"]) <= 40:
        answer = await asyncio.to_thread(lookup.lookup, process, fields["folio"], fields["clave"], birth_date)
    metrics.STATUS_LOOKUPS.labels(outcome="found" if answer else "not_found").inc()
    log.info("status lookup", found=answer is not None)
    return _page(process=process, answer=answer, message=None if answer else NOT_FOUND, local=_local)
