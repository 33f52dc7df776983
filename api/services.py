"""What the route handlers share: the services of a running API (the gateway, the registry, the
view, the processes), the projection's position for long polls, and the steps of a command
(to its journey, with a bounded wait)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import OrderedDict
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi import Path as PathParam

from lnere import logs
from lnere.api.access import state_seen_by
from lnere.api.models import JourneyAnswer
from lnere.application.gateway import JourneyClient
from lnere.application.review_desk import ReviewDesk
from lnere.application.staff import Staff
from lnere.application.status_lookup import StatusLookup
from lnere.domain.commands import CommandEnvelope
from lnere.domain.identity import JOURNEY_ID_PATTERN, process_of
from lnere.domain.process import ElectoralProcess, ProcessCatalog
from lnere.projections.journey_counts import CountsView
from lnere.projections.report import dashboard_figures
from lnere.settings import Settings
from lnere.store.documents import DocumentRegistry
from lnere.store.registry import JourneyRegistry

log = logs.get_logger("lnere.api")

PREFIX = "/api/v1"
# How long a write waits for its journey's answer before telling the caller to retry (a retry
# is safe: the command's id makes it count once).
ANSWER_TIMEOUT = 30.0
MAX_WAIT = 25.0


class PositionWatcher:
    """Follows the projection's position; long polls wait on it."""

    def __init__(self, view: CountsView, interval: float = 0.1) -> None:
        self.view, self.interval = view, interval
        self.position = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _follow(self) -> None:
        while True:
            try:
                position = await asyncio.to_thread(self.view.position)
            except Exception as error:  # noqa: BLE001 - a busy database: try again
                log.warning("could not read the projection position", error=type(error).__name__)
            else:
                if position != self.position:
                    self.position = position
                    self._changed.set()
                    self._changed = asyncio.Event()
            await asyncio.sleep(self.interval)

    async def wait_beyond(self, position: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.position <= position and (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return


class Services:
    def __init__(self, settings: Settings, processes: ProcessCatalog, journeys: JourneyClient,
                 view: CountsView, registry: JourneyRegistry, documents: DocumentRegistry,
                 review_desk: ReviewDesk, status_lookup: StatusLookup) -> None:
        self.settings = settings
        self.processes = processes
        self.journeys = journeys
        self.view = view
        self.registry = registry
        self.documents = documents
        self.review_desk = review_desk
        self.status_lookup = status_lookup
        self.watcher = PositionWatcher(view)
        self._figures: OrderedDict[tuple[str, str | None, date | None, int], bytes] = OrderedDict()

    def process(self, process_id: str) -> ElectoralProcess:
        try:
            return self.processes.get(process_id)
        except KeyError:
            raise HTTPException(404, f"process: no process {process_id!r}") from None

    def default_process(self) -> str:
        """The process pages open on: the configured one (``LNERE_PROCESS``) when one was set,
        else the one holding the most journeys."""
        known = {p.id for p in self.processes}
        configured = self.settings.process
        if "process" in self.settings.model_fields_set and configured in known:
            return configured
        held = {process: n for process, n in self.view.journeys_per_process().items() if process in known}
        return max(held, key=lambda process: (held[process], process)) if held else configured

    def process_and_state(self, process_id: str, staff: Staff | None,
                          asked: str | None) -> tuple[ElectoralProcess, str | None]:
        """The process a read names and the state whose figures the caller gets
        (``state_seen_by``): 403 for another state before anything is read, 404 for none."""
        state = state_seen_by(staff, asked)
        process = self.process(process_id)
        if state is not None and process.state(state) is None:
            raise HTTPException(404, f"state: {process.id} has no state {state!r}")
        return process, state

    def projection_state(self) -> dict[str, Any]:
        """Whether the figures are whole: a halted projection (an event it cannot apply) serves
        the figures of the last good position, marked stale; events an operator skipped are
        named. Holds no personal data (positions, event types, error kinds)."""
        halt = self.view.halt()
        return {"halted": halt is not None, "stale": halt is not None,
                "halt": {k: halt[k] for k in ("position", "topic", "error", "halted_at")} if halt else None,
                "skipped_events": [{k: s[k] for k in ("position", "reason", "skipped_at")} for s in self.view.skips()]}

    def figures_json(self, process: ElectoralProcess, as_of: date | None,
                     state: str | None = None) -> tuple[bytes, int]:
        """The dashboard's figures as JSON (computed once per log position), and the log's head;
        with ``state``, that state's own."""
        head = self.registry.head()
        key = (process.id, state, as_of, self.view.position())
        cached = self._figures.get(key)
        if cached is None:
            figures = dashboard_figures(self.view, process, as_of, state)
            cached = json.dumps(figures, ensure_ascii=False).encode()
            key = (process.id, state, as_of, figures["log_position"])
            self._figures[key] = cached
            while len(self._figures) > 64:
                self._figures.popitem(last=False)
        return cached, head


_NAMED_PROCESS = re.compile(rf"^{PREFIX}/processes/([a-z0-9-]{{2,42}})(?:/|$)")
_NAMED_JOURNEY = re.compile(rf"^{PREFIX}/journeys/({JOURNEY_ID_PATTERN.strip('^$')})(?:/|$)")


class DiscoverProcesses:
    """ASGI middleware: a request naming a process the API does not know (by its id, or a
    journey's) has the process folders read again first — in a thread, so a slow or odd file
    there never holds the event loop (the catalogue itself never reads them on a request)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            named = _NAMED_PROCESS.match(path)
            journey = None if named else _NAMED_JOURNEY.match(path)
            process_id = named.group(1) if named else _process_or_none(journey.group(1)) if journey else None
            services = getattr(scope["app"].state, "services", None)
            if process_id and services is not None and not services.processes.knows(process_id):
                await asyncio.to_thread(services.processes.look_again)
        await self.app(scope, receive, send)


def _process_or_none(journey: str) -> str | None:
    try:
        return process_of(journey)
    except ValueError:
        return None


def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]
JourneyId = Annotated[str, PathParam(pattern=JOURNEY_ID_PATTERN, description="a journey id (journey-…)")]


async def send(state: Services, envelope: CommandEnvelope) -> JourneyAnswer:
    try:
        status = await asyncio.wait_for(state.journeys.send(envelope), ANSWER_TIMEOUT)
    except TimeoutError:
        raise HTTPException(504, "the journey did not answer in time; retry (the command counts once)") from None
    return JourneyAnswer(journey=status.workflow_id, status=status, folio=state.status_lookup.folio(status.workflow_id))

async def existing(state: Services, journey: str) -> tuple[ElectoralProcess, Any]:
    """The journey's process and status; 404 if there is no such journey."""
    status = await asyncio.to_thread(state.registry.status, journey)
    if status is None:
        raise HTTPException(404, "journey: no such journey")
    return state.process(process_of(journey)), status

async def to_journey(state: Services, journey: str, command) -> JourneyAnswer:
    # The journey client checks the command against the recorded journey before it wakes
    # the journey's workflow (a run ends once idle).
    process, _ = await existing(state, journey)
    return await send(state, CommandEnvelope(process=process.id, journey=journey, command=command))
