"""Who is calling: staff members, their roles and their bearer tokens.

The embedded default keeps the staff directory in a JSON file of the data directory
(``staff.json``, mode 0600), managed with ``lnere staff add|list|revoke``. It stores the
SHA-256 of each token, never the token: a copy of the file lets nobody in. The file is read
again when it changes, so a new or revoked token counts without a restart.

A real identity provider plugs in by replacing ``StaffDirectory`` with any object that has
``authenticate(token) -> Staff | None`` (for example one that checks an OIDC access token's
signature and maps a claim to the role) and passing it to ``api.app.create_app``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lnere import logs
from lnere.domain.commands import Code, StaffId
from lnere.domain.roles import Role

log = logs.get_logger("lnere.staff")


class Staff(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: StaffId
    role: Role
    party: Code | None = Field(default=None, description="the party a representative speaks for")
    state: str | None = Field(default=None, pattern=r"^\d{2}$",
                              description="the state (INEGI code) whose electoral body an OPL member is of")

    @model_validator(mode="after")
    def _party_for_representatives(self) -> Staff:
        if (self.role is Role.PARTY) != (self.party is not None):
            raise ValueError("party: a party representative names the party, and only they do")
        if (self.role is Role.OPL) != (self.state is not None):
            raise ValueError("state: a member of a state's electoral body (opl) names the state, and only they do")
        return self


class StaffEntry(Staff):
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    signed_out_at: float | None = Field(default=None, description="when the member last signed out (epoch "
                                        "seconds): every session signed in before it has ended")

    @property
    def session_stamp(self) -> str:
        """What a session of this member carries: it changes when the member gets a new token
        or signs out, and so ends every session given before."""
        return hashlib.sha256(f"{self.token_sha256}|{self.signed_out_at}".encode()).hexdigest()[:16]


class Authenticator(Protocol):
    def authenticate(self, token: str) -> Staff | None: ...


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StaffDirectory:
    """Staff and token digests in a JSON file: ``{"staff": [{"id", "role", "token_sha256"}]}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_digest: dict[str, Staff] = {}
        self._by_id: dict[str, Staff] = {}
        self._sessions: dict[str, str] = {}  # staff id -> session stamp

    def entries(self) -> list[StaffEntry]:
        """The directory's entries; ValueError naming the file when it is not a directory."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"{self.path}: cannot be read as the staff directory ({type(error).__name__})") from None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not isinstance(data.get("staff", []), list):
                raise ValueError("not an object with a list 'staff'")
            return [StaffEntry.model_validate(entry) for entry in data.get("staff", [])]
        except (ValueError, ValidationError) as error:
            reason = "not JSON" if isinstance(error, json.JSONDecodeError) else "not a staff directory"
            raise ValueError(f"{self.path}: {reason} (LNERE_STAFF_FILE)") from None

    def check(self) -> None:
        """Reads the directory now: ValueError naming the file if it is not one (at start)."""
        self.entries()

    def authenticate(self, token: str) -> Staff | None:
        self._reload_if_changed()
        return self._by_digest.get(_digest(token))

    def member(self, staff_id: str) -> Staff | None:
        """The staff member as the directory holds them now (a session is checked with this)."""
        self._reload_if_changed()
        return self._by_id.get(staff_id)

    def _reload_if_changed(self) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return
        with self._lock:
            try:
                entries = self.entries()
            except ValueError as error:
                # Broken while running (a bad edit): the directory read last stays in force, and
                # the reason is logged once per change of the file.
                log.error("staff directory unreadable; the last one read stays in force", error=str(error))
                self._stamp = stamp
                return
            self._by_digest = {e.token_sha256: Staff(id=e.id, role=e.role, party=e.party, state=e.state)
                               for e in entries}
            self._by_id = {staff.id: staff for staff in self._by_digest.values()}
            self._sessions = {e.id: e.session_stamp for e in entries}
            self._stamp = stamp

    def session_stamp(self, staff_id: str) -> str | None:
        """The stamp a session of this member must carry now (None: no such member)."""
        self._reload_if_changed()
        return self._sessions.get(staff_id)

    def sign_out(self, staff_id: str, at: float) -> None:
        """Ends every session of this member signed in before ``at`` (epoch seconds)."""
        with self._editing():
            entries = [e.model_copy(update={"signed_out_at": at}) if e.id == staff_id else e for e in self.entries()]
            self._write(entries)

    def add(self, staff_id: str, role: Role, party: str | None = None, state: str | None = None) -> str:
        """Adds a staff member (or gives one a new token) and returns the token, shown once."""
        staff = Staff(id=staff_id, role=role, party=party, state=state)
        token = "lnere_" + secrets.token_urlsafe(32)
        with self._editing():
            entries = [e for e in self.entries() if e.id != staff.id]
            entries.append(StaffEntry(**staff.model_dump(), token_sha256=_digest(token)))
            self._write(entries)
        return token

    def revoke(self, staff_id: str) -> bool:
        with self._editing():
            entries = self.entries()
            kept = [e for e in entries if e.id != staff_id]
            self._write(kept)
        return len(kept) != len(entries)

    @contextmanager
    def _editing(self) -> Iterator[None]:
        """One writer at a time across processes (the CLI adds, the API signs out)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, entries: list[StaffEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"staff": [e.model_dump(mode="json") for e in entries]}, handle, indent=1)
        os.replace(partial, self.path)
