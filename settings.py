"""Configuration of an lnere installation, from environment variables (prefix ``LNERE_``).

Secrets (the journey key that hashes claves into journey ids, the cipher key of the event
store, the keys that encrypt Temporal payloads) come from the environment or, for the embedded
default, from ``secrets.json`` in the data directory, created with mode 0600 on first use.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    data_dir: Path = Field(default=Path("data"))
    persistence: Literal["sqlite", "postgres"] = Field(
        default="sqlite", description="where the event store, the citizens' keys and the projections live")
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "lnere"
    postgres_password: str | None = Field(default=None, repr=False)
    postgres_dbname: str = "lnere"
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "lnere-journeys"
    # A Temporal cluster or Temporal Cloud: mTLS client certificate and key (PEM files), or an
    # API key (Temporal Cloud; TLS is then on); a private CA's certificate for a self-hosted cluster.
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_api_key: str | None = Field(default=None, repr=False)
    temporal_ui_port: int = 8233
    processes_dir: Path | None = None
    journey_key: str | None = Field(default=None, repr=False)
    cipher_key: str | None = Field(default=None, repr=False)
    payload_keys: str | None = Field(
        default=None, repr=False, description="id=base64key[,id=base64key...]: the first encrypts, all decrypt"
    )
    codec_tokens: str | None = Field(default=None, repr=False, description="bearer tokens of the codec endpoint")
    codec_ui_origins: str | None = Field(
        default=None, description="origins of the Temporal Web UIs that may call the codec endpoint, comma-separated "
                                  "(default: the local Web UI, http://127.0.0.1:TEMPORAL_UI_PORT)")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="larger request bodies get 413")
    staff_file: Path | None = Field(default=None, description="the staff directory (default: DATA_DIR/staff.json)")
    postal_carrier: str = Field(default="activities.deliveries:InProcessPostalCarrier",
                                description="module:Class of the postal carrier adapter")
    internet_voting: str = Field(default="activities.deliveries:InProcessInternetVoting",
                                 description="module:Class of the internet voting system adapter")
    projection_poll_interval: float = 0.2
    max_concurrent_activities: int = 32
    max_cached_workflows: int = Field(
        default=1000, ge=0, description="journeys a worker keeps in memory between their tasks (sticky cache): "
        "bounds the worker's memory however many journeys are open; an evicted journey replays when it wakes")

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        values: dict = {}
        for name in cls.model_fields:
            env = os.environ.get(f"LNERE_{name.upper()}")
            if env is not None and env != "":
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)

    # -- paths ---------------------------------------------------------------------

    @property
    def events_db(self) -> Path:
        return self.data_dir / "events.sqlite"

    @property
    def projections_dir(self) -> Path:
        return self.data_dir / "projections"

    @property
    def staff_path(self) -> Path:
        return self.staff_file or self.data_dir / "staff.json"

    @property
    def temporal_db(self) -> Path:
        return self.data_dir / "temporal.db"

    # -- secrets -------------------------------------------------------------------

    @cached_property
    def _stored_secrets(self) -> dict[str, str]:
        from lnere.payload_codec import new_key_spec

        path = self.data_dir / "secrets.json"
        wanted = {
            "journey_key": lambda: secrets.token_hex(32),
            "cipher_key": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
            "payload_keys": new_key_spec,
        }
        stored = json.loads(path.read_text()) if path.exists() else {}
        missing = [name for name in wanted if name not in stored]
        if missing:  # first use, or a data directory from before a secret existed
            stored.update({name: wanted[name]() for name in missing})
            self.data_dir.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".secrets.{os.getpid()}.json")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(stored, handle)
            os.replace(partial, path)
        return stored

    @property
    def journey_key_bytes(self) -> bytes:
        return bytes.fromhex(self.journey_key or self._stored_secrets["journey_key"])

    def temporal_tls(self):
        """The client's TLS: None (plain, the embedded dev server), True (system roots: an API
        key), or a TLSConfig with the client certificate and/or CA."""
        from temporalio.service import TLSConfig

        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("LNERE_TEMPORAL_TLS_CERT and LNERE_TEMPORAL_TLS_KEY go together")
        if self.temporal_tls_cert is None and self.temporal_tls_ca is None:
            return True if self.temporal_api_key else None
        return TLSConfig(
            client_cert=self.temporal_tls_cert.read_bytes() if self.temporal_tls_cert else None,
            client_private_key=self.temporal_tls_key.read_bytes() if self.temporal_tls_key else None,
            server_root_ca_cert=self.temporal_tls_ca.read_bytes() if self.temporal_tls_ca else None,
        )

    def data_converter(self):
        """Temporal's data converter: pydantic, with payloads encrypted (AES-GCM)."""
        from lnere.payload_codec import data_converter

        return data_converter(self.payload_keys or self._stored_secrets["payload_keys"])

    @property
    def codec_origins(self) -> list[str]:
        if self.codec_ui_origins:
            return [o.strip().rstrip("/") for o in self.codec_ui_origins.split(",") if o.strip()]
        return [f"http://127.0.0.1:{self.temporal_ui_port}", f"http://localhost:{self.temporal_ui_port}"]

    def event_store_env(self) -> dict[str, str]:
        """The eventsourcing environment of the journey registry (event state encrypted at rest)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cipher = {
            "CIPHER_TOPIC": "store.event_codec:EventCipher",
            "TRANSCODER_TOPIC": "store.event_codec:EventTranscoder",
            "CIPHER_KEY": self.cipher_key or self._stored_secrets["cipher_key"],
        }
        if self.persistence == "postgres":
            return {**self.postgres_env(), **cipher}
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.events_db),
            "SQLITE_LOCK_TIMEOUT": "30",
            **cipher,
        }

    def postgres_env(self) -> dict[str, str]:
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.postgres_dbname,
            "POSTGRES_HOST": self.postgres_host,
            "POSTGRES_PORT": str(self.postgres_port),
            "POSTGRES_USER": self.postgres_user,
            "POSTGRES_PASSWORD": self.postgres_password or "",
            # A worker runs activities on a thread pool: one connection each, and some to spare.
            "POSTGRES_POOL_SIZE": str(self.max_concurrent_activities + 4),
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_LOCK_TIMEOUT": "30",
        }

    def projection_db(self, projection_name: str) -> Path:
        self.projections_dir.mkdir(parents=True, exist_ok=True)
        return self.projections_dir / f"{projection_name}.sqlite"
