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

import hashlib
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lnere.domain.commands import Code, StaffId
from lnere.domain.roles import Role


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

    def entries(self) -> list[StaffEntry]:
        if not self.path.exists():
            return []
        data = json.loads(self.path.read_text())
        return [StaffEntry.model_validate(entry) for entry in data.get("staff", [])]

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
            self._by_digest = {e.token_sha256: Staff(id=e.id, role=e.role, party=e.party, state=e.state)
                               for e in self.entries()}
            self._by_id = {staff.id: staff for staff in self._by_digest.values()}
            self._stamp = stamp

    def add(self, staff_id: str, role: Role, party: str | None = None, state: str | None = None) -> str:
        """Adds a staff member (or gives one a new token) and returns the token, shown once."""
        staff = Staff(id=staff_id, role=role, party=party, state=state)
        token = "lnere_" + secrets.token_urlsafe(32)
        entries = [e for e in self.entries() if e.id != staff.id]
        entries.append(StaffEntry(**staff.model_dump(), token_sha256=_digest(token)))
        self._write(entries)
        return token

    def revoke(self, staff_id: str) -> bool:
        entries = self.entries()
        kept = [e for e in entries if e.id != staff_id]
        self._write(kept)
        return len(kept) != len(entries)

    def _write(self, entries: list[StaffEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"staff": [e.model_dump(mode="json") for e in entries]}, handle, indent=1)
        os.replace(partial, self.path)
