"""The codec endpoint for Temporal's Web UI: decrypts payloads (AES-GCM, ``payload_codec``) for
staff looking at journey histories, so the data stay encrypted everywhere else.

Temporal's remote-codec protocol: ``POST /decode`` (and ``/encode``) with
``{"payloads": [...]}`` in protobuf JSON, answered in kind; any query string (the Web UI sends
``?preserveStorageRefs=true``). Access:

- it listens on loopback only, and answers browsers only from the Web UI's origin (CORS);
- decryption needs a person: every call carries ``Authorization: Bearer <token>`` of a
  reviewer or supervisor (``lnere staff add``; or one of ``LNERE_CODEC_TOKENS``, for a Web UI
  behind an identity provider that passes its users' access token), and each call is logged
  with who made it and how many payloads (never their content);
- a missing, malformed or oversized ``Content-Length`` is a 4xx, never a hung thread.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

import logs
from payload_codec import AesGcmPayloadCodec, PayloadKeyError

log = logs.get_logger("lnere.codec")

MAX_BODY = 4 * 1024 * 1024


# Who may decrypt: a token's holder, by name, or None.
Authenticator = Callable[[str], str | None]


def staff_authenticator(directory, roles: frozenset[str] = frozenset({"reviewer", "supervisor"})) -> Authenticator:
    """The staff directory's reviewers and supervisors (the roles that read personal data)."""

    def authenticate(token: str) -> str | None:
        staff = directory.authenticate(token)
        return staff.id if staff is not None and staff.role.value in roles else None

    return authenticate


class CodecServer:
    def __init__(self, codec: AesGcmPayloadCodec, *, port: int, ui_origins: list[str], tokens: list[str],
                 authenticate: Authenticator | None = None) -> None:
        self.codec = codec
        self.ui_origins = set(ui_origins)
        self.tokens = [t for t in tokens if t]
        self._authenticate = authenticate
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="codec", daemon=True)

    def __enter__(self) -> CodecServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def _who(self, header: str | None) -> str | None:
        """Who the bearer is (a staff id, or ``codec-token-N``), or None: no anonymous reader."""
        if not header or not header.startswith("Bearer "):
            return None
        given = header.removeprefix("Bearer ").strip()
        for number, token in enumerate(self.tokens, start=1):
            if hmac.compare_digest(given.encode(), token.encode()):
                return f"codec-token-{number}"
        return self._authenticate(given) if self._authenticate is not None and given else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                pass  # requests are logged below, without payloads

            def _cors(self) -> None:
                origin = self.headers.get("Origin")
                if origin in server.ui_origins:
                    self.send_header("Access-Control-Allow-Origin", origin)
                    self.send_header("Access-Control-Allow-Credentials", "true")
                    self.send_header("Access-Control-Allow-Headers",
                                     "Content-Type, Authorization, X-Namespace, Caller-Type")
                    self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                    self.send_header("Vary", "Origin")

            def _reply(self, status: HTTPStatus, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self._cors()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_OPTIONS(self) -> None:  # noqa: N802 - stdlib's name
                origin = self.headers.get("Origin")
                self.send_response(HTTPStatus.NO_CONTENT if origin in server.ui_origins else HTTPStatus.FORBIDDEN)
                self._cors()
                self.end_headers()

            def do_POST(self) -> None:  # noqa: N802 - stdlib's name
                origin = self.headers.get("Origin")
                if origin is not None and origin not in server.ui_origins:
                    return self._reply(HTTPStatus.FORBIDDEN, {"message": f"origin {origin} not allowed"})
                path = urlsplit(self.path).path
                who = server._who(self.headers.get("Authorization"))
                if who is None:
                    self.close_connection = True  # the body, if any, is not read
                    log.warning("codec call refused", path=path, reason="no reviewer or supervisor token")
                    return self._reply(HTTPStatus.UNAUTHORIZED,
                                       {"message": "a reviewer's or supervisor's bearer token is required"})
                if path not in ("/decode", "/encode"):
                    self.close_connection = True
                    return self._reply(HTTPStatus.NOT_FOUND, {"message": "POST /decode or /encode"})
                declared = self.headers.get("Content-Length")
                if declared is None:
                    self.close_connection = True
                    return self._reply(HTTPStatus.LENGTH_REQUIRED, {"message": "Content-Length is required"})
                if not declared.strip().isdigit():
                    self.close_connection = True
                    return self._reply(HTTPStatus.BAD_REQUEST, {"message": "Content-Length is not a length"})
                length = int(declared)
                if length > MAX_BODY:
                    self.close_connection = True
                    return self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "body too large"})
                try:
                    payloads = json_format.Parse(self.rfile.read(length), Payloads())
                    operation = server.codec.decode if path == "/decode" else server.codec.encode
                    result = asyncio.run(operation(list(payloads.payloads)))
                except (json_format.ParseError, ValueError, PayloadKeyError) as error:
                    return self._reply(HTTPStatus.BAD_REQUEST, {"message": f"payloads: {error}"})
                except Exception:  # noqa: BLE001 - tampered data (InvalidTag) and the like
                    return self._reply(HTTPStatus.BAD_REQUEST, {"message": "payloads: cannot be decrypted"})
                log.info("codec call", path=path, staff=who, payloads=len(result),
                         namespace=self.headers.get("X-Namespace"))
                self._reply(HTTPStatus.OK, json.loads(json_format.MessageToJson(Payloads(payloads=result))))

        return Handler
