"""Staff sessions of the workspace (``/desk``): a staff member signs in once with their staff
token and the browser then holds a session cookie — signed, HttpOnly, SameSite=Strict, Secure
behind TLS, for ``/desk`` only. Nothing secret is inside: who, which role, the directory's
session stamp, when signed in, when last seen, and the session's CSRF token.

A session ends after ``desk_idle_minutes`` without a request, ``desk_session_hours`` after
sign-in, at sign-out (recorded in the directory: the same cookie sent again is refused), and
when the member is revoked or given a new token (the stamp changes): each checked on every
request. Every form carries the session's CSRF token; a POST without it, or with another, is
refused."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from lnere.application.staff import Authenticator, Staff

COOKIE = "lnere_desk"
PRE_COOKIE = "lnere_desk_signin"  # the sign-in form's own CSRF token, before any session
PATH = "/desk"
# A session's cookie is written again when a request comes this long after the last writing:
# the idle clock moves without a new cookie on every request.
SEEN_EVERY = 60


@dataclass(frozen=True)
class Session:
    staff: Staff
    csrf: str
    issued: float
    seen: float


class SessionEnded(Exception):
    """Why there is no session: shown on the sign-in page (Spanish)."""


class DeskSessions:
    def __init__(self, secret: bytes, idle_seconds: float, absolute_seconds: float) -> None:
        self._serializer = URLSafeSerializer(secret, salt="lnere-desk-session")
        self._pre = URLSafeSerializer(secret, salt="lnere-desk-signin")
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds

    # -- signing in ---------------------------------------------------------------------------

    def sign_in_token(self) -> tuple[str, str]:
        """A CSRF token for the sign-in form and the cookie that carries its signed twin."""
        token = secrets.token_urlsafe(24)
        return token, self._pre.dumps(token)

    def sign_in_token_matches(self, cookie: str | None, given: str | None) -> bool:
        if not cookie or not given:
            return False
        try:
            expected = self._pre.loads(cookie)
        except BadSignature:
            return False
        return isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())

    def issue(self, staff: Staff, stamp: str | None, now: float | None = None) -> str:
        now = time.time() if now is None else now
        return self._dump({"staff": staff.id, "stamp": stamp, "csrf": secrets.token_urlsafe(24), "issued": now,
                           "seen": now})

    # -- every request ------------------------------------------------------------------------

    def read(self, cookie: str | None, directory: Authenticator, now: float | None = None
             ) -> tuple[Session, str | None]:
        """The session of a request, and its cookie written again when its idle clock moved
        (None: unchanged); SessionEnded saying why there is none."""
        now = time.time() if now is None else now
        if not cookie:
            raise SessionEnded("Inicie sesión para continuar.")
        try:
            data: dict[str, Any] = self._serializer.loads(cookie)
        except BadSignature:
            raise SessionEnded("La sesión no es válida: inicie sesión de nuevo.") from None
        if now - data["issued"] > self.absolute_seconds:
            raise SessionEnded("La sesión llegó a su duración máxima: inicie sesión de nuevo.")
        if now - data["seen"] > self.idle_seconds:
            raise SessionEnded("La sesión terminó por inactividad: inicie sesión de nuevo.")
        member = getattr(directory, "member", None)
        staff = member(data["staff"]) if member is not None else None
        if staff is None:
            raise SessionEnded("Su acceso fue retirado: la sesión terminó.")
        stamp = getattr(directory, "session_stamp", lambda _: None)(staff.id)
        if stamp != data["stamp"]:
            raise SessionEnded("La sesión terminó (se cerró o cambió su clave de acceso): inicie sesión de nuevo.")
        renewed = self._dump({**data, "seen": now}) if now - data["seen"] > SEEN_EVERY else None
        return Session(staff=staff, csrf=data["csrf"], issued=data["issued"], seen=data["seen"]), renewed

    @staticmethod
    def csrf_matches(session: Session, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(session.csrf.encode(), given.encode())

    def _dump(self, data: dict[str, Any]) -> str:
        return self._serializer.dumps(data)


def session_secret(journey_key: bytes) -> bytes:
    """The cookies' signing key, derived from the data dir's journey key (nothing new to keep)."""
    return hmac.new(journey_key, b"lnere desk session v1", "sha256").digest()
