"""Signing in to the workspace through an institution's OpenID Connect provider (its single
sign-on), when ``LNERE_OIDC_ISSUER`` is set: the authorization-code flow with PKCE, the ID
token's signature and claims (issuer, audience, expiry, nonce) checked with joserfc (authlib's
JOSE library). The provider says who the person is; the staff directory says what they may do:
a person the directory does not hold gets no session, and revoking them there ends theirs."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

# A sign-in must come back from the provider within this time.
FLOW_SECONDS = 600
DISCOVERY_SECONDS = 3600


class SignInFailed(Exception):
    """Why the provider's answer gave no session: said to the person in Spanish."""


@dataclass(frozen=True)
class Flow:
    state: str
    nonce: str
    verifier: str


class OidcSignIn:
    def __init__(self, issuer: str, client_id: str, client_secret: str | None, staff_claim: str,
                 secret: bytes) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.staff_claim = staff_claim
        self._flows = URLSafeTimedSerializer(secret, salt="lnere-desk-oidc")
        self._discovered: tuple[float, dict[str, Any], KeySet] | None = None

    async def _provider(self) -> tuple[dict[str, Any], KeySet]:
        if self._discovered is None or time.monotonic() - self._discovered[0] > DISCOVERY_SECONDS:
            async with httpx.AsyncClient(timeout=10) as http:
                metadata = (await http.get(f"{self.issuer}/.well-known/openid-configuration")).raise_for_status().json()
                keys = (await http.get(metadata["jwks_uri"])).raise_for_status().json()
            self._discovered = (time.monotonic(), metadata, KeySet.import_key_set(keys))
        return self._discovered[1], self._discovered[2]

    async def start(self, redirect_uri: str) -> tuple[str, str]:
        """The provider's address to send the browser to, and the signed cookie that keeps the
        flow's state, nonce and PKCE verifier until it comes back."""
        metadata, _ = await self._provider()
        flow = Flow(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(flow.verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                           "scope": "openid profile email", "state": flow.state, "nonce": flow.nonce,
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        return f"{metadata['authorization_endpoint']}?{query}", self._flows.dumps(flow.__dict__)

    async def finish(self, cookie: str | None, state: str | None, code: str | None, redirect_uri: str) -> str:
        """The staff id the provider vouches for (its ``staff_claim``); SignInFailed otherwise."""
        try:
            flow = Flow(**self._flows.loads(cookie or "", max_age=FLOW_SECONDS))
        except (BadSignature, TypeError):
            raise SignInFailed("La entrada caducó o no empezó en este sitio: vuelva a intentarlo.") from None
        if not state or not secrets.compare_digest(state, flow.state) or not code:
            raise SignInFailed("La respuesta del inicio de sesión institucional no corresponde a esta entrada.")
        metadata, keys = await self._provider()
        auth = httpx.BasicAuth(self.client_id, self.client_secret or "")
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(metadata["token_endpoint"], auth=auth, data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": flow.verifier})
        if answer.status_code != 200 or "id_token" not in answer.json():
            raise SignInFailed("El proveedor de inicio de sesión no confirmó la entrada.")
        try:
            token = jwt.decode(answer.json()["id_token"], keys)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": metadata.get("issuer", self.issuer)},
                aud={"essential": True, "value": self.client_id},
                nonce={"essential": True, "value": flow.nonce},
                exp={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError):
            raise SignInFailed("La identidad que envió el proveedor no es válida.") from None
        staff_id = token.claims.get(self.staff_claim)
        if not isinstance(staff_id, str) or not staff_id:
            raise SignInFailed("El proveedor no dijo quién es usted.")
        return staff_id
