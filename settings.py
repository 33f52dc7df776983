"""Configuration of an lnere installation (pydantic-settings).

Every setting is read, first to last, from: what the command line gives, an environment
variable ``LNERE_<NAME>``, a TOML config file (``$LNERE_CONFIG``, else ``./lnere.toml`` if there
is one; keys are the names below in lower case), a file named ``lnere_<name>`` in
``$LNERE_SECRETS_DIR`` (a platform's mounted secrets, e.g. ``/run/secrets``), then the default.
``docs/settings.md`` lists them all (``python -m lnere.cli.settings_docs`` writes it and the
example file ``docs/lnere.env.example``).

Secrets (the journey key that hashes claves into journey ids, the cipher key of the event
store, the keys that encrypt Temporal payloads) come from there or, for the embedded
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

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "LNERE_"
MIN_KEY_BYTES = 32  # the journey key and the event store's cipher key
MIN_TOKEN_CHARS = 32  # a codec token: as long as a staff token's randomness
CONFIG_FILE = Path("lnere.toml")  # read from the current directory when $LNERE_CONFIG is not set


def keep_files_private() -> None:
    """Files this process and its children create are the owner's alone (0600, folders 0700):
    the event store, Temporal's database, exports with names and claves."""
    os.umask(0o077)


def make_data_dir_private(data_dir: Path) -> None:
    """The data dir and what it holds made the owner's alone (a data dir from an older lnere
    held its stores at 0644 in a 0755 folder)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for path in (data_dir, *data_dir.rglob("*")):
        if path.is_symlink():
            continue
        path.chmod(0o700 if path.is_dir() else path.stat().st_mode & 0o700)


def setting_errors(error: ValidationError) -> str:
    """A settings error as people read it: each setting by its variable, what is wrong."""
    return "; ".join(f"{ENV_PREFIX}{'_'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: "
                     f"{e['msg'].removeprefix('Value error, ')}" for e in error.errors())


def config_file() -> Path | None:
    """The TOML config file: ``$LNERE_CONFIG`` (which must exist), else ``./lnere.toml`` if present."""
    named = os.environ.get("LNERE_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ValueError(f"LNERE_CONFIG names {path}, which is not a file")
        return path
    return CONFIG_FILE if CONFIG_FILE.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="where the embedded stack keeps its data: event store, "
                           "keys, projections, Temporal's database, imports' journals")
    persistence: Literal["sqlite", "postgres"] = Field(
        default="sqlite", description="where the event store, the citizens' keys and the projections live")
    postgres_host: str = Field(default="127.0.0.1", description="PostgreSQL host (persistence postgres)")
    postgres_port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port")
    postgres_user: str = Field(default="lnere", description="PostgreSQL user")
    postgres_password: str | None = Field(default=None, repr=False, description="PostgreSQL password (a secret)")
    postgres_dbname: str = Field(default="lnere", description="PostgreSQL database")
    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal's frontend, host:port (a CLI "
                                  "command on a data dir that lnere up runs uses that stack's address)")
    temporal_namespace: str = Field(default="default", description="Temporal namespace")
    task_queue: str = Field(default="lnere-journeys", description="the workers' task queue")
    # A Temporal cluster or Temporal Cloud: mTLS client certificate and key (PEM files), or an
    # API key (Temporal Cloud; TLS is then on); a private CA's certificate for a self-hosted cluster.
    temporal_tls_cert: Path | None = Field(default=None, description="mTLS client certificate (PEM file)")
    temporal_tls_key: Path | None = Field(default=None, description="mTLS client key (PEM file)")
    temporal_tls_ca: Path | None = Field(default=None, description="a private CA's certificate (PEM file)")
    temporal_api_key: str | None = Field(default=None, repr=False,
                                         description="Temporal Cloud API key (a secret; TLS is then on)")
    temporal_ui_port: int = Field(
        default=8233, ge=1, le=65535, description="port of the Temporal Web UI that lnere up serves")
    temporal_metrics_port: int = Field(
        default=9233, ge=1, le=65535, description="port of the Temporal dev server's Prometheus "
                                       "metrics, under lnere up")
    processes_dir: Path | None = Field(default=None, description="a folder of further process files (JSON)")
    process: str = Field(default="pel-2020-2021", description="the process a CLI command addresses by default")
    journey_key: str | None = Field(default=None, repr=False, description="hex key hashing claves into journey "
                                    "ids (a secret; default: DATA_DIR/secrets.json)")
    cipher_key: str | None = Field(default=None, repr=False, description="base64 32-byte key of the event "
                                   "store's encryption (a secret; default: DATA_DIR/secrets.json)")
    payload_keys: str | None = Field(
        default=None, repr=False, description="id=base64key[,id=base64key...]: keys of Temporal payloads, the "
                                              "first encrypts, all decrypt (a secret; default: DATA_DIR/secrets.json)"
    )
    codec_tokens: str | None = Field(default=None, repr=False, description="bearer tokens of the codec endpoint, "
                                     "comma-separated (a secret)")
    codec_ui_origins: str | None = Field(
        default=None, description="origins of the Temporal Web UIs that may call the codec endpoint, comma-separated "
                                  "(default: the local Web UI, http://127.0.0.1:TEMPORAL_UI_PORT)")
    api_host: str = Field(default="127.0.0.1", description="the HTTP API's address")
    api_port: int = Field(default=8000, ge=1, le=65535, description="the HTTP API's port (dashboard at /)")
    allowed_hosts: str = Field(
        default="localhost,127.0.0.1,[::1]",
        description="host names the HTTP API answers to, comma-separated (the Host header; others get 400, "
                    "against DNS rebinding); the API's own LNERE_API_HOST is added; '*.example.org' takes "
                    "subdomains, '*' any host")
    api_max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="larger request bodies get 413")
    public_dashboard: bool = Field(default=True, description="the dashboard and the published figures (report, "
                                   "figures, CSV) are served without a token; false: every reader needs one")
    staff_file: Path | None = Field(default=None, description="the staff directory (default: DATA_DIR/staff.json)")
    staff: str | None = Field(default=None, description="who acts for CLI commands sent from this shell (a staff "
                              "id; --staff overrides it)")
    desk_idle_minutes: int = Field(default=30, ge=1, le=24 * 60, description="a staff workspace session (/desk) "
                                   "ends after this many minutes without a request")
    desk_session_hours: float = Field(default=10, gt=0, le=24, description="a staff workspace session ends this "
                                      "many hours after sign-in, however busy")
    oidc_issuer: str | None = Field(default=None, description="an institution's OpenID Connect provider (its "
                                    "issuer URL): staff sign in to /desk through it instead of with a token")
    oidc_client_id: str | None = Field(default=None, description="lnere's client id at the OpenID Connect provider")
    oidc_client_secret: str | None = Field(default=None, repr=False, description="lnere's client secret at the "
                                           "OpenID Connect provider (a secret)")
    oidc_staff_claim: str = Field(default="preferred_username", description="the ID token's claim that names the "
                                  "staff member in the staff directory (which gives the role)")
    status_lookups_per_address: str = Field(default="30/hour", description="the public status page's lookups "
                                            "allowed from one address (a limits string: N/second|minute|hour|day)")
    status_lookups_per_clave: str = Field(default="10/day", description="the public status page's lookups "
                                          "allowed for one clave de elector")
    review_claim_minutes: int = Field(default=30, ge=1, le=24 * 60, description="how long a reviewer holds an "
                                      "expediente they took before others may take it")
    document_store: Literal["filesystem", "s3"] = Field(
        default="filesystem", description="where the documents' sealed bytes are kept: DATA_DIR/documents, or an "
                                          "S3-compatible object store")
    s3_endpoint_url: str | None = Field(default=None, description="the object store's address (none: AWS's own)")
    s3_bucket: str = Field(default="lnere-documents", description="the object store's bucket of documents "
                           "(created if missing)")
    s3_region: str = Field(default="us-east-1", description="the object store's region")
    s3_access_key_id: str | None = Field(default=None, repr=False, description="the object store's access key "
                                         "id (a secret)")
    s3_secret_access_key: str | None = Field(default=None, repr=False, description="the object store's secret "
                                             "access key (a secret)")
    postal_carrier: str = Field(default="lnere.activities.deliveries:InProcessPostalCarrier",
                                description="module:Class of the postal carrier adapter")
    internet_voting: str = Field(default="lnere.activities.deliveries:InProcessInternetVoting",
                                 description="module:Class of the internet voting system adapter")
    projection_poll_interval: float = Field(default=0.2, gt=0, description="seconds between the projection "
                                            "runner's reads of new events")
    projection_halt_retry: float = Field(default=30.0, gt=0, description="seconds between a halted projection's "
                                         "tries of the event it halted at")
    ready_max_lag: int = Field(default=50_000, ge=0, description="events a projection may be behind the log and "
                               "still answer ready (/readyz): a bulk milestone at 100,000 journeys puts it "
                               "~23,000 behind for a while")
    worker_health_port: int = Field(
        default=9101, ge=0, le=65535, description="the worker's /metrics, /healthz, /readyz "
                                    "(0: none)")
    projection_health_port: int = Field(
        default=9102, ge=0, le=65535, description="the projection runner's /metrics, /healthz, "
                                        "/readyz (0: none)")
    health_host: str = Field(default="127.0.0.1", description="address of the worker's and runner's health and "
                             "metrics endpoints")
    tracing: bool = Field(default=False, description="OpenTelemetry traces from the HTTP request through the "
                          "Update to the activity, exported to OTEL_EXPORTER_OTLP_ENDPOINT (pip install "
                          "'lnere[tracing]')")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="log level of the services (the CLI logs warnings only)")
    max_concurrent_activities: int = Field(default=32, ge=1, le=1024, description="activity threads of a worker")
    max_cached_workflows: int = Field(
        default=1000, ge=0, description="journeys a worker keeps in memory between their tasks (sticky cache): "
        "bounds the worker's memory however many journeys are open; an evicted journey replays when it wakes")

    @field_validator("status_lookups_per_address", "status_lookups_per_clave")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate such as 30/hour") from None
        return value

    @field_validator("journey_key")
    @classmethod
    def _journey_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                key = bytes.fromhex(value)
            except ValueError:
                raise ValueError("must be hexadecimal") from None
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"must hold at least {MIN_KEY_BYTES} bytes ({2 * MIN_KEY_BYTES} hex digits), "
                                 f"got {len(key)}")
        return value

    @field_validator("cipher_key")
    @classmethod
    def _cipher_key(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                key = base64.b64decode(value, validate=True)
            except ValueError:
                raise ValueError("must be base64") from None
            if len(key) != MIN_KEY_BYTES:
                raise ValueError(f"must be {MIN_KEY_BYTES} bytes in base64 (AES-256), got {len(key)}")
        return value

    @field_validator("payload_keys")
    @classmethod
    def _payload_keys(cls, value: str | None) -> str | None:
        if value is not None:
            from lnere.payload_codec import parse_keys

            parse_keys(value)  # its ValueError names the key and what is wrong, never the key
        return value

    @field_validator("codec_tokens")
    @classmethod
    def _codec_tokens(cls, value: str | None) -> str | None:
        if value is not None:
            short = [n for n, token in enumerate(value.split(","), start=1) if len(token.strip()) < MIN_TOKEN_CHARS]
            if short:
                raise ValueError(f"each token has at least {MIN_TOKEN_CHARS} characters (token "
                                 f"{', '.join(map(str, short))} has fewer)")
        return value

    @classmethod
    def for_service(cls, component: str) -> Settings:
        """A service's settings at start; a bad value ends it with a message naming the setting
        (``LNERE_API_PORT: …``), never a traceback."""
        keep_files_private()
        try:
            return cls.from_env()
        except ValidationError as error:
            raise SystemExit(f"lnere {component}: {setting_errors(error)}") from None
        except ValueError as error:
            raise SystemExit(f"lnere {component}: {error}") from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = config_file()
        if config is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        secrets_dir = os.environ.get("LNERE_SECRETS_DIR")
        if secrets_dir:
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir))
        return tuple(sources)

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """The settings, with what a command line gives (``None``: not given) over every source."""
        return cls(**{name: value for name, value in overrides.items() if value is not None})

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
    def trusted_hosts(self) -> list[str]:
        """The Host names the API answers to (``allowed_hosts`` and its own address)."""
        hosts = [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
        own = self.api_host.strip().lower()
        if own and own not in ("0.0.0.0", "::", "[::]"):
            hosts.append(f"[{own}]" if ":" in own and not own.startswith("[") else own)
        return list(dict.fromkeys(hosts))

    @property
    def codec_origins(self) -> list[str]:
        if self.codec_ui_origins:
            return [o.strip().rstrip("/") for o in self.codec_ui_origins.split(",") if o.strip()]
        return [f"http://127.0.0.1:{self.temporal_ui_port}", f"http://localhost:{self.temporal_ui_port}"]

    def event_store_env(self) -> dict[str, str]:
        """The eventsourcing environment of the journey registry (event state encrypted at rest)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cipher = {
            "CIPHER_TOPIC": "lnere.store.event_codec:EventCipher",
            "TRANSCODER_TOPIC": "lnere.store.event_codec:EventTranscoder",
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

    def documents_env(self) -> dict[str, str]:
        """The eventsourcing environment of the document registry."""
        return self.side_store_env("documents")

    def side_store_env(self, name: str) -> dict[str, str]:
        """The eventsourcing environment of an application beside the journeys' (documents,
        review claims): the same store, its own table (PostgreSQL names it by the application;
        SQLite gets a file of its own), a small pool."""
        env = self.event_store_env()
        if self.persistence == "sqlite":
            env["SQLITE_DBNAME"] = str(self.data_dir / f"{name}.sqlite")
        else:
            env["POSTGRES_POOL_SIZE"] = "4"
        return env

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

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
