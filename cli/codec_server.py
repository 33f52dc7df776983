"""The codec endpoint for Temporal's Web UI: decrypts payloads (AES-GCM, ``payload_codec``) for
staff looking at journey histories, so the data stay encrypted everywhere else.

Temporal's remote-codec protocol: ``POST /decode`` (and ``/encode``) with
``{"payloads": [...]}`` in protobuf JSON, answered in kind. Access:

- it listens on loopback only, and answers browsers only from the Web UI's origin (CORS);
- with ``LNERE_CODEC_TOKENS`` set (comma-separated), every call must carry
  ``Authorization: Bearer <token>``: configure the Web UI to pass its users' access token (an
  identity provider in front of the UI), or give the token to the staff allowed to read.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

import logs
from payload_codec import AesGcmPayloadCodec, PayloadKeyError

log = logs.get_logger("lnere.codec")

MAX_BODY = 4 * 1024 * 1024


class CodecServer:
    def __init__(self, codec: AesGcmPayloadCodec, *, port: int, ui_origins: list[str], tokens: list[str]) -> None:
        self.codec = codec
        self.ui_origins = set(ui_origins)
        self.tokens = [t for t in tokens if t]
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

    def _authorised(self, header: str | None) -> bool:
        if not self.tokens:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        given = header.removeprefix("Bearer ").encode()
        return any(hmac.compare_digest(given, token.encode()) for token in self.tokens)

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
                if not server._authorised(self.headers.get("Authorization")):
                    log.warning("codec call refused", path=self.path, reason="token")
                    return self._reply(HTTPStatus.UNAUTHORIZED, {"message": "a valid bearer token is required"})
                if self.path not in ("/decode", "/encode"):
                    return self._reply(HTTPStatus.NOT_FOUND, {"message": "POST /decode or /encode"})
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    return self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "body too large"})
                try:
                    payloads = json_format.Parse(self.rfile.read(length), Payloads())
                    operation = server.codec.decode if self.path == "/decode" else server.codec.encode
                    result = asyncio.run(operation(list(payloads.payloads)))
                except (json_format.ParseError, ValueError, PayloadKeyError) as error:
                    return self._reply(HTTPStatus.BAD_REQUEST, {"message": f"payloads: {error}"})
                except Exception:  # noqa: BLE001 - tampered data (InvalidTag) and the like
                    return self._reply(HTTPStatus.BAD_REQUEST, {"message": "payloads: cannot be decrypted"})
                log.info("codec call", path=self.path, payloads=len(result),
                         namespace=self.headers.get("X-Namespace"))
                self._reply(HTTPStatus.OK, json.loads(json_format.MessageToJson(Payloads(payloads=result))))

        return Handler
