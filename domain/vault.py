"""Per-citizen keys for crypto-shredding.

A journey's personal data (the credential's holder and clave, the address and contact of the
request) are sealed in its events with a key of its own. Erasing a citizen deletes that key:
the events stay, so every count stays, but the person's data can no longer be read by anyone.
Keys are stored wrapped (AES-GCM) under the installation's master key, in a key store
(``store.keys``).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import threading
from datetime import datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE = 12


class PersonalDataErased(Exception):
    """The citizen's key was deleted: their personal data are gone."""


class KeyStore(Protocol):
    """Wrapped keys by journey (``store.keys`` has the SQLite and PostgreSQL ones)."""

    def get(self, journey_id: str) -> tuple[bytes | None, str | None] | None: ...

    def get_many(self, journey_ids: list[str]) -> dict[str, tuple[bytes | None, str | None]]: ...

    def add(self, journey_id: str, wrapped: bytes) -> None: ...

    def erase(self, journey_id: str, at: str) -> None: ...

    def close(self) -> None: ...


class CitizenVault:
    def __init__(self, store: KeyStore, master_key: bytes) -> None:
        self._master = AESGCM(master_key)
        self._lock = threading.Lock()
        self._store = store
        # No cache of unwrapped keys: the key's row is read on every use anyway (to see an
        # erasure made by another process), unwrapping it costs microseconds, and a cache per
        # citizen grew with every citizen a worker ever served (found measuring worker memory).

    def close(self) -> None:
        self._store.close()

    def _key(self, journey_id: str, *, create: bool) -> AESGCM | None:
        raw = self._raw_key(journey_id, create=create)
        return AESGCM(raw) if raw is not None else None

    def _raw_key(self, journey_id: str, *, create: bool) -> bytes | None:
        with self._lock:
            # The erasure is read every time: another process (the CLI) may have erased the
            # key since this one cached it.
            row = self._store.get(journey_id)
            if row is not None and row[1] is not None:
                raise PersonalDataErased(journey_id)
            if row is None:
                if not create:
                    return None
                key = AESGCM.generate_key(bit_length=256)
                nonce = os.urandom(NONCE)
                self._store.add(journey_id, nonce + self._master.encrypt(nonce, key, journey_id.encode()))
                row = self._store.get(journey_id)
                assert row is not None
            assert row[0] is not None  # erased keys were refused above
            wrapped = bytes(row[0])
            return self._master.decrypt(wrapped[:NONCE], wrapped[NONCE:], journey_id.encode())

    def seal_bytes(self, journey_id: str, data: bytes, label: str) -> bytes:
        """A file sealed with the citizen's key (``label`` binds it to its place: a document id)."""
        cipher = self._key(journey_id, create=True)
        assert cipher is not None
        nonce = os.urandom(NONCE)
        return nonce + cipher.encrypt(nonce, data, f"{journey_id}/{label}".encode())

    def open_bytes(self, journey_id: str, sealed: bytes, label: str) -> bytes | None:
        """The file, or None once the citizen's data are erased."""
        cipher = self._readable_key(journey_id)
        if cipher is None:
            return None
        return cipher.decrypt(sealed[:NONCE], sealed[NONCE:], f"{journey_id}/{label}".encode())

    def _readable_key(self, journey_id: str) -> AESGCM | None:
        """The citizen's key to open what it sealed; None once erased (or never made)."""
        try:
            return self._key(journey_id, create=False)
        except PersonalDataErased:
            return None

    def keyed_digest(self, journey_id: str, data: bytes) -> str:
        """A digest of a file under the citizen's own key: the same file of two citizens gives two
        digests, so no index of digests tells who sent the same file."""
        key = self._raw_key(journey_id, create=True)
        assert key is not None
        return hmac.new(hmac.new(key, b"lnere document digest v1", "sha256").digest(), data, "sha256").hexdigest()

    def seal(self, journey_id: str, data: dict[str, Any]) -> str:
        cipher = self._key(journey_id, create=True)
        assert cipher is not None
        nonce = os.urandom(NONCE)
        sealed = nonce + cipher.encrypt(nonce, json.dumps(data, sort_keys=True).encode(), journey_id.encode())
        return base64.b64encode(sealed).decode()

    def open(self, journey_id: str, sealed: str) -> dict[str, Any] | None:
        """The data, or None once the citizen's data are erased."""
        cipher = self._readable_key(journey_id)
        if cipher is None:
            return None
        raw = base64.b64decode(sealed)
        return json.loads(cipher.decrypt(raw[:NONCE], raw[NONCE:], journey_id.encode()))

    def open_many(self, sealed: dict[str, str]) -> dict[str, dict[str, Any] | None]:
        """Many citizens' data ({journey id: sealed}) with their keys read in one query: a list's
        export. None for a citizen whose data were erased."""
        with self._lock:
            rows = self._store.get_many(list(sealed))
        opened: dict[str, dict[str, Any] | None] = {}
        for journey_id, text in sealed.items():
            row = rows.get(journey_id)
            if row is None or row[1] is not None or row[0] is None:
                opened[journey_id] = None
                continue
            wrapped = bytes(row[0])
            cipher = AESGCM(self._master.decrypt(wrapped[:NONCE], wrapped[NONCE:], journey_id.encode()))
            raw = base64.b64decode(text)
            opened[journey_id] = json.loads(cipher.decrypt(raw[:NONCE], raw[NONCE:], journey_id.encode()))
        return opened

    def erase(self, journey_id: str, at: datetime) -> None:
        with self._lock:
            self._store.erase(journey_id, at.isoformat())
