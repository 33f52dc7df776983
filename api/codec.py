"""The codec endpoint for Temporal's Web UI, served by the API under ``/codec``: it decrypts
journey payloads (AES-GCM, ``payload_codec``) for a reviewer or supervisor looking at a
journey's history, so the data stay encrypted everywhere else.

Temporal's remote-codec protocol: ``POST /codec/decode`` (and ``/encode``) with
``{"payloads": [...]}`` in protobuf JSON, answered in kind; any query string (the Web UI sends
``?preserveStorageRefs=true``). Decryption needs a person, known in one of two ways:

- a session: the reviewer logs in at ``/codec/`` with their staff token and gets a signed,
  HttpOnly, SameSite=Strict cookie for ``/codec`` (8 hours; checked against the staff directory
  on every call, so revoking the token ends it). The Web UI sends it when its Data Encoder
  settings include cross-origin credentials;
- ``Authorization: Bearer <token>`` of a reviewer or supervisor, or one of ``LNERE_CODEC_TOKENS``
  (for a Web UI behind an identity provider that passes its users' access token).

Browsers are answered only from the Web UI's origins (CORS; any other origin gets 403). Each
call is logged with who made it and which journeys' payloads (their workflow ids), never the
payloads' content.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from google.protobuf import json_format
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payloads

from lnere import logs
from lnere.api.access import bearer_token
from lnere.api.models import validation_answer
from lnere.application.staff import Authenticator, Staff
from lnere.domain.roles import Role
from lnere.payload_codec import AesGcmPayloadCodec, PayloadKeyError, workflows_of

log = logs.get_logger("lnere.codec")

SESSION_COOKIE = "lnere_codec_session"
SESSION_SECONDS = 8 * 3600
DECODING_ROLES = frozenset({Role.REVIEWER, Role.SUPERVISOR})
MAX_BODY = 4 * 1024 * 1024  # a history page's payloads; larger than a command's body
LOGIN_PAGE = Path(__file__).parent / "static" / "codec.html"


class Login(BaseModel):
    token: str = Field(min_length=1, max_length=512, description="the reviewer's or supervisor's staff token")


class CodecSessions:
    """Signed session cookies: who logged in and when; nothing secret inside."""

    def __init__(self, secret: bytes, max_age: int = SESSION_SECONDS) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="lnere-codec-session")
        self.max_age = max_age

    def issue(self, staff: Staff, stamp: str | None) -> str:
        return self._serializer.dumps({"staff": staff.id, "role": staff.role.value, "stamp": stamp})

    def read(self, cookie: str | None) -> dict[str, str] | None:
        if not cookie:
            return None
        try:
            return self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # forged, altered or expired
            return None


def create_codec_app(
    codec: AesGcmPayloadCodec,
    *,
    authenticator: Callable[[], Authenticator],
    sessions: CodecSessions,
    ui_origins: list[str],
    tokens: list[str],
    on_read: Callable[[str, list[str]], None] | None = None,
) -> FastAPI:
    """The codec endpoint as an application of its own, mounted by the API at ``/codec``."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_answer(error), status_code=422)
    origins = set(ui_origins)
    tokens = [t for t in tokens if t]

    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse({"message": message}, status_code=status)

    def foreign_origin(request: Request) -> bool:
        """A browser page that is neither a Web UI nor this API's own (the login page)."""
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.url.netloc}"
        return origin is not None and origin not in origins and origin != own

    def staff_of_session(request: Request) -> str | None:
        session = sessions.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        directory = authenticator()
        member = getattr(directory, "member", None)
        if member is None:  # an identity provider without a directory: the signed session stands
            return session["staff"] if session.get("role") in DECODING_ROLES else None
        staff = member(session["staff"])
        if staff is None or staff.role not in DECODING_ROLES:
            return None
        # Signed out, or given a new token since: the session has ended.
        stamp = getattr(directory, "session_stamp", lambda _: None)(staff.id)
        return staff.id if stamp == session.get("stamp") else None

    def staff_of_bearer(request: Request) -> str | None:
        given = bearer_token(request.scope)
        if given is None:
            return None
        for number, token in enumerate(tokens, start=1):
            if hmac.compare_digest(given.encode(), token.encode()):
                return f"codec-token-{number}"
        staff = authenticator().authenticate(given)
        return staff.id if staff is not None and staff.role in DECODING_ROLES else None

    @app.get("/", include_in_schema=False)
    async def login_page() -> FileResponse:
        return FileResponse(LOGIN_PAGE, media_type="text/html")

    @app.post("/session")
    async def log_in(request: Request, login: Login) -> Response:
        if foreign_origin(request):
            return refuse(403, "log in from this site's own page")
        staff = authenticator().authenticate(login.token)
        if staff is None:
            log.warning("codec login refused", reason="unknown or revoked token")
            return refuse(401, "unknown or revoked token")
        if staff.role not in DECODING_ROLES:
            log.warning("codec login refused", staff=staff.id, reason=f"role {staff.role.value}")
            return refuse(403, f"role {staff.role.value} may not read personal data; it needs reviewer or supervisor")
        answer = JSONResponse({"staff": staff.id, "role": staff.role.value,
                               "expires_in_seconds": sessions.max_age})
        stamp = getattr(authenticator(), "session_stamp", lambda _: None)(staff.id)
        answer.set_cookie(SESSION_COOKIE, sessions.issue(staff, stamp), max_age=sessions.max_age, path="/codec",
                          httponly=True, samesite="strict", secure=request.url.scheme == "https")
        log.info("codec login", staff=staff.id)
        return answer

    @app.get("/session")
    async def who_is_logged_in(request: Request) -> Response:
        staff = staff_of_session(request)
        if staff is None:
            return refuse(401, "not logged in")
        return JSONResponse({"staff": staff})

    @app.delete("/session")
    async def log_out(request: Request) -> Response:
        if foreign_origin(request):
            return refuse(403, "log out from this site's own page")
        staff = staff_of_session(request)
        sign_out = getattr(authenticator(), "sign_out", None)
        if staff is not None and sign_out is not None:
            # Ended on the server, not only in this browser: the same cookie sent again is refused.
            await asyncio.to_thread(sign_out, staff, time.time())
        answer = Response(status_code=204)
        answer.delete_cookie(SESSION_COOKIE, path="/codec", httponly=True, samesite="strict")
        log.info("codec logout", staff=staff)
        return answer

    async def transcode(request: Request, operation: str) -> Response:
        if foreign_origin(request):
            return refuse(403, f"origin {request.headers['origin']} may not call the codec endpoint")
        who, via = staff_of_bearer(request), "token"
        if who is None:
            who, via = staff_of_session(request), "session"
        if who is None:
            log.warning("codec call refused", path=operation, reason="no reviewer or supervisor")
            return refuse(401, "decoding needs a reviewer or supervisor: log in at /codec/ or send a bearer token")
        try:
            payloads = list(json_format.Parse(await request.body(), Payloads()).payloads)
        except (json_format.ParseError, ValueError, RecursionError) as error:
            return refuse(400, f"payloads: {type(error).__name__}: not Temporal payloads in protobuf JSON")
        try:
            result = await (codec.decode if operation == "decode" else codec.encode)(payloads)
        except PayloadKeyError as error:
            return refuse(400, f"payloads: {error}")
        except Exception:  # noqa: BLE001 - tampered data (InvalidTag) and the like
            return refuse(400, "payloads: cannot be decrypted")
        journeys = workflows_of(payloads)
        log.info("codec call", path=operation, staff=who, via=via, payloads=len(result),
                 journeys=journeys, namespace=request.headers.get("x-namespace"))
        if on_read is not None and operation == "decode" and journeys:
            await asyncio.to_thread(on_read, who, journeys)  # a read of those citizens' data, recorded
        body = json_format.MessageToJson(Payloads(payloads=result))
        return Response(json.dumps(json.loads(body)), media_type="application/json")

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        return await transcode(request, "decode")

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        return await transcode(request, "encode")

    app.add_middleware(
        CORSMiddleware,
        allow_origins=sorted(origins),
        allow_credentials=True,
        allow_methods=["POST"],
        allow_headers=["Content-Type", "Authorization", "Authorization-Extras", "X-Namespace", "Caller-Type"],
        max_age=600,
    )
    return app


def session_secret(journey_key: bytes) -> bytes:
    """The cookies' signing key, derived from the data dir's journey key (nothing new to keep)."""
    return hmac.new(journey_key, b"lnere codec session v1", "sha256").digest()
