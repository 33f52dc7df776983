"""Temporal payloads encrypted with AES-GCM: commands carry personal data (names, claves,
addresses, contacts), and Temporal keeps every payload in its history.

Each payload is encrypted whole (metadata and data) with the current key; the key id travels
in the outer metadata, so payloads written under an older key stay readable as long as that
key is configured. The key id is also the associated data: a payload cannot be moved under
another key id. Payloads that are not encrypted (written before encryption was turned on)
pass through unchanged.

The outer metadata also names the journey's workflow (a keyed hash, not personal data) when
the SDK tells the codec which workflow a payload belongs to: the codec endpoint logs which
journeys a reviewer decoded without reading the payloads to find out.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
WORKFLOW_ID = "lnere-workflow-id"
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """A payload key configuration that cannot be used, or a payload under an unknown key."""


def parse_keys(text: str) -> tuple[str, dict[str, bytes]]:
    """``id=base64key[,id=base64key...]``: the first is the current key, the others still
    decrypt what they encrypted."""
    keys: dict[str, bytes] = {}
    current = None
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key_id, sep, encoded = part.partition("=")
        if not sep or not key_id:
            raise PayloadKeyError("payload keys: write id=base64key, separated by commas")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise PayloadKeyError(f"payload key {key_id}: not base64") from None
        if len(key) not in (16, 24, 32):
            raise PayloadKeyError(f"payload key {key_id}: AES keys have 16, 24 or 32 bytes, got {len(key)}")
        keys[key_id] = key
        current = current or key_id
    if current is None:
        raise PayloadKeyError("payload keys: none configured")
    return current, keys


def new_key_spec(key_id: str | None = None) -> str:
    """A new key; its id is drawn with it, so a payload from another data dir names a key this
    one does not have instead of failing as a forged one."""
    key = os.urandom(32)
    return f"{key_id or 'k-' + os.urandom(4).hex()}={base64.b64encode(key).decode()}"


class AesGcmPayloadCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, current: str, keys: Mapping[str, bytes]) -> None:
        if current not in keys:
            raise PayloadKeyError(f"payload keys: no key {current}")
        self._current = current
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._workflow_id: bytes | None = None

    def with_context(self, context: SerializationContext) -> AesGcmPayloadCodec:
        workflow_id = getattr(context, "workflow_id", None)
        if not isinstance(context, (WorkflowSerializationContext, ActivitySerializationContext)) or not workflow_id:
            return self
        bound = copy.copy(self)
        bound._workflow_id = workflow_id.encode()
        return bound

    @classmethod
    def from_spec(cls, spec: str) -> AesGcmPayloadCodec:
        return cls(*parse_keys(spec))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._current]
        key_id = self._current.encode()
        out = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id)
            metadata = {"encoding": ENCODING, KEY_ID: key_id}
            if self._workflow_id is not None:
                metadata[WORKFLOW_ID] = self._workflow_id
            out.append(Payload(metadata=metadata, data=nonce + sealed))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise PayloadKeyError(
                    f"journey payloads were encrypted with key {key_id!r}, which this data dir does not have: "
                    f"the command was sent from another data dir, or LNERE_PAYLOAD_KEYS lacks that key")
            try:
                plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
            except InvalidTag:
                raise PayloadKeyError(
                    f"journey payloads were encrypted with a key {key_id!r} that is not this data dir's key of "
                    f"that name: the command was sent from another data dir (or the payload was altered)") from None
            out.append(Payload.FromString(plain))
        return out


def workflows_of(payloads: Sequence[Payload]) -> list[str]:
    """The workflows the payloads say they belong to (from their outer metadata), in order."""
    named = (p.metadata.get(WORKFLOW_ID, b"").decode("ascii", "replace") for p in payloads)
    return sorted({w for w in named if w})


def data_converter(spec: str) -> DataConverter:
    """The project's converter: pydantic, with payloads encrypted under the given keys."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=AesGcmPayloadCodec.from_spec(spec))
