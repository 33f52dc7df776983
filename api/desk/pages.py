"""The staff workspace, ``/desk``: server-rendered pages in Spanish (Jinja2, autoescaped), plain
HTML forms that work without JavaScript — the keyboard and a screen reader reach everything —
and one small script of ours for the document viewer (zoom, rotate). No third-party script.

Sessions, CSRF and timeouts: ``api.desk.sessions``. The use cases: ``application.review_desk``
(a decision here is the API's ``decide_review``: the same command, the same event)."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from lnere import logs
from lnere.api.desk.messages import FIELDS, ROLE_LABELS, in_spanish
from lnere.api.desk.oidc import OidcSignIn, SignInFailed
from lnere.api.desk.sessions import COOKIE, PATH, PRE_COOKIE, DeskSessions, Session, SessionEnded, session_secret
from lnere.api.words import STAGE_LABELS
from lnere.application.review_desk import InboxFilter, ReviewDesk
from lnere.domain.commands import DecideReview
from lnere.domain.identity import JOURNEY_ID_PATTERN, process_of
from lnere.domain.process import ElectoralProcess, MediaType
from lnere.domain.refusals import RefusalKind, Refused
from lnere.domain.roles import Role
from lnere.domain.rules import DomainError
from lnere.projections.journey_counts import INBOX_FILTERS
from lnere.settings import Settings

log = logs.get_logger("lnere.desk")
router = APIRouter(prefix=PATH, include_in_schema=False)
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True))
DESK_ROLES = frozenset({Role.REVIEWER, Role.SUPERVISOR})
JOURNEY_ID = re.compile(JOURNEY_ID_PATTERN)
OIDC_COOKIE = "lnere_desk_oidc"

# The inbox's filters as the page names them (query parameters in Spanish, values as stored).
FILTER_PARAMS = {"entidad": "state_of_reference", "pais": "country", "modalidad": "modality", "canal": "channel",
                 "credencial": "credential_kind"}
FILTER_LABELS = {"state_of_reference": "Entidad", "country": "País", "modality": "Modalidad", "channel": "Canal",
                 "credential_kind": "Credencial", "round": "Ronda"}
ROUND_LABELS = {"first": "Primera revisión", "re_review": "Revisión tras subsanar"}
OUTCOME_LABELS = {"meets_requirements": "Cumple los requisitos", "inconsistencies": "Con inconsistencias",
                  "rejected": "Improcedente"}
EVENT_LABELS = {
    "Started": "Inicio del trámite", "CredentialRecorded": "Credencial registrada",
    "CredentialActivated": "Credencial activada", "CpveRequested": "CPVE solicitada",
    "CpveStepRecorded": "Avance de la CPVE", "CpveCancelled": "CPVE cancelada",
    "CredentialResent": "Credencial reenviada",
    "RequestFiled": "Solicitud recibida", "ReviewDecided": "Decisión de la revisión",
    "SubsaneRequested": "Se pide subsanar", "SubsaneDocumentsReceived": "Documentos de subsanación recibidos",
    "SubsaneExpired": "Venció el plazo para subsanar", "RejectionReopened": "Improcedencia reabierta",
    "PartyObservationFiled": "Observación de partido", "PartyObservationResolved": "Observación resuelta",
    "RegistralCheckRecorded": "Verificación registral", "ListedForReview": "En la LNERE para Revisión",
    "IncludedInDefinitiveList": "En la LNERE Definitiva", "ExcludedFromDefinitiveList": "Excluida de la LNERE",
    "ClosedWithoutRequest": "Cerrado sin solicitud", "DeliveryRecorded": "Envío registrado",
    "PersonalDataErased": "Datos personales suprimidos",
}
NOTICES = {"ninguno": "No hay expedientes libres que esperen decisión con estos filtros.",
           "decidido": "Decisión registrada.", "liberado": "Expediente liberado.",
           "tomado": "Otra persona tomó ese expediente antes."}


class NeedsSignIn(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


class Forbidden(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def install(app: FastAPI, settings: Settings) -> None:
    """The workspace's routes and answers on the API's application."""
    app.state.desk_sessions = DeskSessions(session_secret(settings.journey_key_bytes),
                                           idle_seconds=settings.desk_idle_minutes * 60,
                                           absolute_seconds=settings.desk_session_hours * 3600)
    app.state.desk_oidc = (OidcSignIn(settings.oidc_issuer, settings.oidc_client_id or "", settings.oidc_client_secret,
                                      settings.oidc_staff_claim, session_secret(settings.journey_key_bytes))
                           if settings.oidc_issuer else None)
    app.include_router(router)

    @app.exception_handler(NeedsSignIn)
    async def needs_sign_in(request: Request, error: NeedsSignIn) -> Response:
        if request.method == "GET":
            answer: Response = RedirectResponse(f"{PATH}/entrar?{urlencode({'motivo': error.reason})}", 303)
        else:
            answer = page(request, "signin.html", 401, reason=error.reason, csrf=None)
        answer.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")
        return answer

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden) -> Response:
        return page(request, "message.html", 403, title="Sin acceso", message=error.reason)


# -- pages and their pieces -----------------------------------------------------------------------

def desk(request: Request) -> ReviewDesk:
    return request.app.state.services.review_desk


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    session: Session | None = getattr(request.state, "desk_session", None)
    html = TEMPLATES.get_template(template).render(session=session, path=PATH, role_labels=ROLE_LABELS, **context)
    answer = HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})
    return _with_cookie(request, answer)


def redirect(request: Request, url: str) -> Response:
    return _with_cookie(request, RedirectResponse(url, 303))


def _with_cookie(request: Request, answer: Response) -> Response:
    renewed = getattr(request.state, "desk_cookie", None)
    if renewed:
        _set_cookie(request, answer, COOKIE, renewed)
    return answer


def _set_cookie(request: Request, answer: Response, name: str, value: str, max_age: int | None = None) -> None:
    answer.set_cookie(name, value, path=PATH, httponly=True, samesite="strict", max_age=max_age,
                      secure=request.url.scheme == "https")


def current(request: Request) -> Session:
    """The request's session (NeedsSignIn saying why there is none), of a role of the desk."""
    sessions: DeskSessions = request.app.state.desk_sessions
    try:
        session, renewed = sessions.read(request.cookies.get(COOKIE), request.app.state.authenticator)
    except SessionEnded as ended:
        raise NeedsSignIn(str(ended)) from None
    request.state.desk_session, request.state.desk_cookie = session, renewed
    if session.staff.role not in DESK_ROLES:
        raise Forbidden(f"Su función ({ROLE_LABELS[session.staff.role.value]}) no tiene acceso al escritorio de "
                        "revisión.")
    return session


async def posted(request: Request) -> tuple[Session, Any]:
    """A form sent by a page of this site within a session: its CSRF token must be the
    session's (403 otherwise, nothing done)."""
    session = current(request)
    _same_origin(request)
    form = await request.form()
    if not DeskSessions.csrf_matches(session, _text(form.get("csrf"))):
        raise Forbidden("El formulario no trae la señal de seguridad de su sesión: recargue la página e "
                        "inténtelo de nuevo.")
    return session, form


def _same_origin(request: Request) -> None:
    """A form posted by another site's page is refused. Under this site's no-referrer policy
    the browser sends ``Origin: null`` for its own forms: the CSRF token decides those."""
    origin = request.headers.get("origin")
    if origin not in (None, "null") and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("El formulario llegó desde otro sitio.")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _process(request: Request, process_id: str) -> ElectoralProcess:
    try:
        return request.app.state.services.processes.get(process_id)
    except KeyError:
        raise Forbidden("No existe ese proceso electoral.") from None


def _state_names(process: ElectoralProcess) -> dict[str, str]:
    return {state.code: state.name for state in process.states}


def _journey(journey: str) -> str:
    if not JOURNEY_ID.fullmatch(journey):
        raise Forbidden("No existe ese expediente.")
    return journey


def _filter(params: Any) -> InboxFilter:
    values = {}
    for param, name in FILTER_PARAMS.items():
        value = _text(params.get(param))
        if value and len(value) <= 40:
            values[name] = value
    ronda = _text(params.get("ronda"))
    return InboxFilter(values=values, re_review=None if ronda not in ROUND_LABELS else ronda == "re_review")


def _filter_query(wanted: InboxFilter) -> dict[str, str]:
    query = {param: wanted.values[name] for param, name in FILTER_PARAMS.items() if name in wanted.values}
    if wanted.re_review is not None:
        query["ronda"] = "re_review" if wanted.re_review else "first"
    return query


def now() -> datetime:
    return datetime.now(UTC)


def local(moment: datetime | str | None, tz: ZoneInfo) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M")


def waited(delta: timedelta) -> str:
    days, hours = delta.days, delta.seconds // 3600
    return f"{days} d {hours} h" if days else f"{hours} h {delta.seconds % 3600 // 60} min"


TEMPLATES.filters["waited"] = waited


# -- signing in and out ---------------------------------------------------------------------------

@router.get("/entrar")
async def sign_in_page(request: Request, motivo: str | None = None) -> Response:
    reason = motivo if motivo and len(motivo) < 200 else None
    if request.app.state.desk_oidc is not None:  # the institution's sign-on, and no token form
        return page(request, "signin.html", reason=reason, csrf=None, oidc=True)
    token, cookie = request.app.state.desk_sessions.sign_in_token()
    answer = page(request, "signin.html", reason=reason, csrf=token)
    _set_cookie(request, answer, PRE_COOKIE, cookie, max_age=3600)
    return answer


def _callback_uri(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


def _oidc(request: Request) -> OidcSignIn:
    oidc: OidcSignIn | None = request.app.state.desk_oidc
    if oidc is None:
        raise Forbidden("Esta instalación no tiene inicio de sesión institucional.")
    return oidc


@router.get("/entrar/institucional")
async def oidc_start(request: Request) -> Response:
    target, cookie = await _oidc(request).start(_callback_uri(request))
    answer = RedirectResponse(target, 303)
    # Lax, not Strict: the provider's page sends the browser back here (a top-level GET).
    answer.set_cookie(OIDC_COOKIE, cookie, path=PATH, httponly=True, samesite="lax", max_age=600,
                      secure=request.url.scheme == "https")
    return answer


@router.get("/entrar/institucional/vuelta", name="oidc_callback")
async def oidc_callback(request: Request) -> Response:
    try:
        staff_id = await _oidc(request).finish(request.cookies.get(OIDC_COOKIE), request.query_params.get("state"),
                                     request.query_params.get("code"), _callback_uri(request))
    except SignInFailed as failed:
        log.warning("desk sign-in refused", reason="oidc", why=type(failed).__name__)
        raise Forbidden(str(failed)) from None
    directory = request.app.state.authenticator
    member = getattr(directory, "member", None)
    staff = member(staff_id) if member is not None else None
    if staff is None:
        log.warning("desk sign-in refused", reason="not in the staff directory")
        raise Forbidden("Su cuenta institucional no está en el directorio del personal de lnere.")
    stamp = getattr(directory, "session_stamp", lambda _: None)(staff.id)
    log.info("desk sign-in", staff=staff.id, role=staff.role.value, via="oidc")
    answer = RedirectResponse(f"{PATH}/", 303)
    _set_cookie(request, answer, COOKIE, request.app.state.desk_sessions.issue(staff, stamp))
    answer.delete_cookie(OIDC_COOKIE, path=PATH, httponly=True, samesite="lax")
    return answer


@router.post("/entrar")
async def sign_in(request: Request) -> Response:
    if request.app.state.desk_oidc is not None:
        raise Forbidden("En esta instalación se entra con la cuenta institucional.")
    _same_origin(request)
    form = await request.form()
    sessions: DeskSessions = request.app.state.desk_sessions
    if not sessions.sign_in_token_matches(request.cookies.get(PRE_COOKIE), _text(form.get("csrf"))):
        raise Forbidden("El formulario de entrada caducó o no es de este sitio: vuelva a abrirlo.")
    token = _text(form.get("token")) or ""
    directory = request.app.state.authenticator
    staff = directory.authenticate(token) if 0 < len(token) <= 512 else None
    if staff is None:
        log.warning("desk sign-in refused", reason="unknown or revoked token")
        csrf, cookie = sessions.sign_in_token()
        refused = page(request, "signin.html", 401, reason="La clave de acceso no es válida o fue retirada.",
                       csrf=csrf)
        _set_cookie(request, refused, PRE_COOKIE, cookie, max_age=3600)
        return refused
    stamp = getattr(directory, "session_stamp", lambda _: None)(staff.id)
    log.info("desk sign-in", staff=staff.id, role=staff.role.value)
    answer = RedirectResponse(f"{PATH}/", 303)
    _set_cookie(request, answer, COOKIE, sessions.issue(staff, stamp))
    answer.delete_cookie(PRE_COOKIE, path=PATH, httponly=True, samesite="strict")
    return answer


@router.post("/salir")
async def sign_out(request: Request) -> Response:
    sessions: DeskSessions = request.app.state.desk_sessions
    try:
        session, _ = sessions.read(request.cookies.get(COOKIE), request.app.state.authenticator)
    except SessionEnded:
        session = None
    if session is not None:
        form = await request.form()
        if not DeskSessions.csrf_matches(session, _text(form.get("csrf"))):
            raise Forbidden("El formulario no trae la señal de seguridad de su sesión.")
        sign_out_member = getattr(request.app.state.authenticator, "sign_out", None)
        if sign_out_member is not None:  # ended on the server: the same cookie is refused after
            await asyncio.to_thread(sign_out_member, session.staff.id, now().timestamp())
        log.info("desk sign-out", staff=session.staff.id)
    answer = RedirectResponse(f"{PATH}/entrar?{urlencode({'motivo': 'Sesión cerrada.'})}", 303)
    answer.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")
    return answer


# -- the inbox ------------------------------------------------------------------------------------

@router.get("/")
async def home(request: Request) -> Response:
    current(request)
    services = request.app.state.services
    default = await asyncio.to_thread(services.default_process)
    return redirect(request, f"{PATH}/procesos/{default}/bandeja")


@router.get("/procesos/{process_id}/bandeja")
async def inbox(request: Request, process_id: str) -> Response:
    session = current(request)
    process = _process(request, process_id)
    params = request.query_params
    wanted = _filter(params)
    after = None
    if (cursor := params.get("despues")) and len(cursor) < 300:
        try:
            since, journey_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
            after = (since, journey_id)
        except Exception:  # noqa: BLE001 - a cursor not of ours starts at the beginning
            after = None
    moment = now()
    inbox_page = await asyncio.to_thread(desk(request).inbox, process, wanted, after, moment)
    next_query = None
    if inbox_page.next_after is not None:
        next_query = urlencode({**_filter_query(wanted), "despues": base64.urlsafe_b64encode(
            "|".join(inbox_page.next_after).encode()).decode()})
    return page(request, "inbox.html", process=process, inbox=inbox_page, states=_state_names(process),
                wanted=wanted, tz=process.tz, local=local, filter_params=FILTER_PARAMS, filter_labels=FILTER_LABELS,
                round_labels=ROUND_LABELS,
                filter_query=urlencode(_filter_query(wanted)), hidden=_filter_query(wanted), next_query=next_query,
                notice=NOTICES.get(params.get("aviso", "")), me=session.staff.id)


@router.post("/procesos/{process_id}/tomar")
async def take_next(request: Request, process_id: str) -> Response:
    session, form = await posted(request)
    process = _process(request, process_id)
    wanted = _filter(form)
    taken = await asyncio.to_thread(desk(request).take_next, process, session.staff.id, wanted, now())
    if taken is None:
        return redirect(request, f"{PATH}/procesos/{process.id}/bandeja?"
                                 f"{urlencode({**_filter_query(wanted), 'aviso': 'ninguno'})}")
    return redirect(request, f"{PATH}/expedientes/{taken}")


@router.post("/expedientes/{journey}/tomar")
async def take(request: Request, journey: str) -> Response:
    session, _ = await posted(request)
    journey = _journey(journey)
    try:
        await asyncio.to_thread(desk(request).take, journey, session.staff.id, now())
    except DomainError as refused:
        return await _expediente_page(request, session, journey, refusal=in_spanish(refused.refusal), status=409)
    return redirect(request, f"{PATH}/expedientes/{journey}")


@router.post("/expedientes/{journey}/liberar")
async def release(request: Request, journey: str) -> Response:
    session, _ = await posted(request)
    journey = _journey(journey)
    try:
        await asyncio.to_thread(desk(request).release, journey, session.staff.id, session.staff.role, now())
    except DomainError as refused:
        return await _expediente_page(request, session, journey, refusal=in_spanish(refused.refusal), status=409)
    return redirect(request, f"{PATH}/procesos/{process_of(journey)}/bandeja?aviso=liberado")


# -- the expediente -------------------------------------------------------------------------------

@router.get("/expedientes/{journey}")
async def expediente(request: Request, journey: str) -> Response:
    session = current(request)
    return await _expediente_page(request, session, _journey(journey))


async def _expediente_page(request: Request, session: Session, journey: str, status: int = 200,
                           refusal: str | None = None, form: dict[str, Any] | None = None) -> Response:
    process = _process(request, process_of(journey))
    try:
        record = await asyncio.to_thread(desk(request).expediente, journey, session.staff.id, session.staff.role,
                                         now())
    except DomainError:
        return page(request, "message.html", 404, title="No encontrado", message="No existe ese expediente.")
    decisions = [row for row in record.history if row["event"] == "ReviewDecided"]
    # On a re-review, the documents of the subsane beside the request's.
    subsane_ids = {file["id"] for row in record.history if row["event"] == "SubsaneDocumentsReceived"
                   for file in row.get("files") or ()}
    return page(request, "expediente.html", status, process=process, journey=journey, record=record,
                tz=process.tz, local=local, decisions=decisions, refusal=refusal, form=form or {},
                mine=record.holder == session.staff.id, stage_labels=STAGE_LABELS, outcome_labels=OUTCOME_LABELS,
                now_local=now().astimezone(process.tz).strftime("%Y-%m-%dT%H:%M"), fields=FIELDS,
                supervisor=session.staff.role is Role.SUPERVISOR, subsane_ids=subsane_ids, event_labels=EVENT_LABELS,
                folio=request.app.state.services.status_lookup.folio(journey))


@router.get("/expedientes/{journey}/documentos/{document_id}")
async def document(request: Request, journey: str, document_id: str, pagina: int = 1) -> Response:
    """A document for the viewer: an image as kept, a PDF's page drawn as an image here (no
    PDF reaches the reviewer's browser). Each look is recorded as a read."""
    session = current(request)
    journey = _journey(journey)
    if not document_id.isalnum() or len(document_id) > 64:
        raise Forbidden("No existe ese documento.")
    try:
        meta, data = await asyncio.to_thread(desk(request).document, journey, document_id, session.staff.id,
                                             session.staff.role, now())
    except DomainError as refused:
        status = 404 if refused.refusal.kind is RefusalKind.NOT_FOUND else 409
        return page(request, "message.html", status, title="Documento", message=in_spanish(refused.refusal))
    headers = {"cache-control": "no-store", "content-disposition": "inline"}
    if meta["media_type"] != MediaType.PDF:
        return _with_cookie(request, Response(data, media_type=meta["media_type"], headers=headers))
    png = await asyncio.to_thread(_pdf_page, data, pagina)
    if png is None:
        return page(request, "message.html", 404, title="Documento", message="El documento no tiene esa página.")
    return _with_cookie(request, Response(png, media_type="image/png", headers=headers))


def _pdf_page(data: bytes, number: int) -> bytes | None:
    import pypdfium2

    pdf = pypdfium2.PdfDocument(data)
    try:
        if not 1 <= number <= len(pdf):
            return None
        image = pdf[number - 1].render(scale=1.5).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    finally:
        pdf.close()


@router.post("/expedientes/{journey}/decision")
async def decide(request: Request, journey: str) -> Response:
    session, form = await posted(request)
    journey = _journey(journey)
    process = _process(request, process_of(journey))
    outcome = _text(form.get("outcome"))
    reasons = tuple(r for r in form.getlist("reasons") if isinstance(r, str))
    notes = (_text(form.get("notes")) or "").strip() or None
    at_text = _text(form.get("at")) or ""
    given = {"outcome": outcome, "reasons": reasons, "notes": notes, "at": at_text}
    try:
        at = datetime.fromisoformat(at_text).replace(tzinfo=process.tz)
    except ValueError:
        return await _expediente_page(request, session, journey, 422, "Indique la fecha y hora de la decisión.",
                                      given)
    if outcome not in OUTCOME_LABELS:
        return await _expediente_page(request, session, journey, 422, "Elija una decisión.", given)
    if outcome != "meets_requirements" and not reasons:
        return await _expediente_page(request, session, journey, 422, "Indique al menos un motivo.", given)
    try:
        decision = DecideReview(at=at, reviewer=session.staff.id, outcome=outcome,
                                reasons=reasons if outcome != "meets_requirements" else (), notes=notes,
                                recorded_by=session.staff.id)
    except ValidationError as invalid:
        problems = "; ".join(f"{FIELDS.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in invalid.errors())
        return await _expediente_page(request, session, journey, 422, f"Revise el formulario ({problems}).", given)
    try:
        await desk(request).decide(journey, session.staff.id, decision, now())
    except Refused as refused:
        status = {RefusalKind.INVALID: 422, RefusalKind.NOT_FOUND: 404}.get(refused.refusal.kind, 409)
        log.info("desk decision refused", staff=session.staff.id, journey=journey, rule=refused.refusal.rule)
        return await _expediente_page(request, session, journey, status, in_spanish(refused.refusal), given)
    log.info("desk decision", staff=session.staff.id, journey=journey, outcome=outcome)
    if form.get("siguiente"):
        taken = await asyncio.to_thread(desk(request).take_next, process, session.staff.id, InboxFilter(), now())
        if taken is not None:
            return redirect(request, f"{PATH}/expedientes/{taken}")
    return redirect(request, f"{PATH}/procesos/{process.id}/bandeja?aviso=decidido")


# -- the supervisor's view ------------------------------------------------------------------------

@router.get("/procesos/{process_id}/supervision")
async def supervision(request: Request, process_id: str) -> Response:
    session = current(request)
    if session.staff.role is not Role.SUPERVISOR:
        raise Forbidden("Solo la supervisión ve el avance del escritorio.")
    process = _process(request, process_id)
    directory = request.app.state.authenticator
    entries: list[Any] = getattr(directory, "entries", lambda: [])()
    reviewers = sorted(e.id for e in entries if e.role in DESK_ROLES)
    moment = now()
    backlog = await asyncio.to_thread(desk(request).backlog, process, reviewers, moment)
    days = sorted({day for _, day in backlog["decisions"]}, reverse=True)
    return page(request, "supervision.html", process=process, backlog=backlog, states=_state_names(process),
                tz=process.tz, local=local,
                reviewers=[r for r in reviewers if any(k[0] == r for k in backlog["decisions"])], days=days,
                round_labels=ROUND_LABELS)


__all__ = ["INBOX_FILTERS", "install", "router"]
