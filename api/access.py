"""Who may call what: each route names its roles (``roles``), ``AccessControl`` decides before
the body is read (401, 403), ``BodyCheck`` bounds and checks the body (413, 422),
``SecurityHeaders`` puts the security headers and the Content-Security-Policy on every answer."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from starlette.routing import Match

from lnere.application.staff import Staff
from lnere.domain.roles import Role


def roles(*allowed: Role, published: bool = False) -> dict[str, Any]:
    """A route's access, read by ``AccessControl`` and shown in the OpenAPI document. The
    supervisor may do everything. A ``published`` route serves what INE publishes (figures,
    reports): with ``LNERE_PUBLIC_DASHBOARD`` anyone may read it without a token."""
    names = sorted({*(r.value for r in allowed), Role.SUPERVISOR.value})
    access: dict[str, Any] = {"x-roles": names, "security": [{"bearer": []}]}
    if published:
        access["x-published"] = True
        access["security"] = [{"bearer": []}, {}]
    return access


ANY_ROLE = tuple(Role)


# Every answer: nothing but this origin's own files; no framing, no sniffing, no referrer. The
# API docs pages start Swagger UI / ReDoc with an inline script: only there is one allowed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
DOCS_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "img-src 'self' data:", "img-src 'self' data: blob:; worker-src 'self' blob:")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeaders:
    """ASGI middleware: the security headers on every response."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        docs = scope["path"] in ("/docs", "/redoc") or scope["path"].startswith("/docs/")
        policy = (DOCS_CONTENT_SECURITY_POLICY if docs else CONTENT_SECURITY_POLICY).encode()

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in {name for name, _ in SECURITY_HEADERS} | {b"content-security-policy"}]
                message = {**message, "headers": [*headers, *SECURITY_HEADERS, (b"content-security-policy", policy)]}
            await send(message)

        await self.app(scope, receive, with_headers)


class AccessControl:
    """ASGI middleware: authenticates the bearer token and checks the matched route's roles
    before the body is read, so 401 and 403 come before 413 and 422."""

    def __init__(self, app, authenticator_of, routes: list, public: bool = False) -> None:
        self.app = app
        self.authenticator_of = authenticator_of
        self.routes = routes  # the routes that name their roles (the routers' own)
        self.public = public  # published routes answer without a token

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        allowed, published = _route_roles(scope, self.routes)
        if allowed is not None:
            token = bearer_token(scope)
            if token is None and published and self.public:
                return await self.app(scope, receive, send)
            if token is None:
                return await _send_json(send, 401, {"detail": "no token: send 'Authorization: Bearer <token>'"},
                                        [(b"www-authenticate", b"Bearer")])
            staff = self.authenticator_of(scope).authenticate(token)
            if staff is None:
                return await _send_json(send, 401, {"detail": "unknown or revoked token"},
                                        [(b"www-authenticate", b"Bearer")])
            if staff.role.value not in allowed:
                return await _send_json(
                    send, 403, {"detail": f"role {staff.role.value} may not do this; it needs {', '.join(allowed)}"}
                )
            scope.setdefault("state", {})["staff"] = staff
        await self.app(scope, receive, send)


def _route_roles(scope, routes: list) -> tuple[list[str] | None, bool]:
    """The roles the matched route allows, and whether it is published."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            extra = getattr(route, "openapi_extra", None) or {}
            return extra.get("x-roles"), bool(extra.get("x-published"))
    return None, False


def bearer_token(scope) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


async def _send_json(send, status: int, body: dict[str, Any], headers: list | None = None) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class BodyCheck:
    """ASGI middleware: a body over ``limit`` bytes gets 413, whether it declares its length
    or streams it; a body that is not UTF-8 (as JSON must be), or holds a raw control character
    (JSON allows none outside its whitespace), gets 422. Bodies are small
    (commands), so it reads the body whole before the application sees it."""

    def __init__(self, app, limit: int, larger: dict[str, int] | None = None,
                 files: tuple[re.Pattern[str], int] | None = None) -> None:
        self.app = app
        self.default_limit = limit
        self.larger = larger or {}  # path prefix -> its own limit
        self.files = files  # routes that take a file (multipart): their paths, and their limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.files is not None and self.files[0].fullmatch(scope["path"]) and scope["method"] == "POST":
            return await self._file(scope, receive, send, self.files[1])
        limit = next((n for prefix, n in self.larger.items() if scope["path"].startswith(prefix)), self.default_limit)
        too_large = {"detail": f"the body is larger than {limit} bytes"}
        for name, value in scope["headers"]:
            if name == b"content-length" and not value.isdigit():
                return await _send_json(send, 400, {"detail": "Content-Length is not a length"})
            if name == b"content-length" and int(value) > limit:
                return await _send_json(send, 413, too_large)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await _send_json(send, 413, too_large)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            return await _send_json(send, 422, {"detail": [
                {"loc": ["body"], "msg": f"the body is not UTF-8 (byte {error.start})", "type": "unicode_error"}]})
        if control := _RAW_CONTROL.search(body):
            # Left in, a leading NUL makes the JSON parser guess UTF-32 and fail with a bare 400.
            return await _send_json(send, 422, {"detail": [
                {"loc": ["body"], "msg": f"the body has a raw control character (byte {control.start()})",
                 "type": "json_invalid"}]})
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


    async def _file(self, scope, receive, send, limit: int) -> None:
        """A file's upload is streamed to the route, never read whole here: its declared length
        must be given and within the limit (411, 413 before a byte is read), and the stream is
        cut where it would pass it."""
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is None:
            return await _send_json(send, 411, {"detail": "an upload declares its Content-Length"})
        if not declared.isdigit():
            return await _send_json(send, 400, {"detail": "Content-Length is not a length"})
        if int(declared) > limit:
            return await _send_json(send, 413, {"detail": f"the body is larger than {limit} bytes"})
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > int(declared):
                return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)


def current_staff(request: Request) -> Staff:
    return request.state.staff


def current_staff_if_any(request: Request) -> Staff | None:
    """Who calls a published route: a staff member, or None (the public)."""
    return getattr(request.state, "staff", None)


StaffDep = Annotated[Staff, Depends(current_staff)]
MaybeStaffDep = Annotated[Staff | None, Depends(current_staff_if_any)]


def state_seen_by(staff: Staff | None, asked: str | None) -> str | None:
    """The state whose figures, reports and lists a caller gets: a state electoral body's
    member (opl) gets their own state's, never another's (403, naming neither the state nor
    anything of it); anyone else the state asked for, or the whole process (None)."""
    if staff is not None and staff.role is Role.OPL:
        if asked is not None and asked != staff.state:
            raise HTTPException(403, "a state's electoral body reads its own state's figures only")
        return staff.state
    return asked
