"""How the journey registry stores an event's state: eventsourcing's JSON transcoding,
encrypted with AES-GCM, in the same stored form as eventsourcing's own classes (existing
stores read unchanged), but cheaper to read back, which a projection catching up on millions
of events does for every event it counts:

- ``EventCipher`` keeps one AESGCM object for its key instead of building one per event;
- ``EventTranscoder`` writes exactly as eventsourcing's ``JSONTranscoder`` and parses with
  orjson, reviving the ``{"_type_", "_data_"}`` values afterwards (falling back to the
  standard parser for what orjson refuses, such as NaN or integers over 64 bits).
"""

from __future__ import annotations

from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import JSONTranscoder


class EventCipher(AESCipher):
    def __init__(self, environment) -> None:
        super().__init__(environment)
        self._aesgcm = AESGCM(self.key)

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = self.random_bytes(12)
        sealed = self._aesgcm.encrypt(nonce, plaintext, None)
        return nonce + sealed[-16:] + sealed[:-16]  # the tag first, as AESCipher stores it

    def decrypt(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) < 28:
            raise ValueError("Damaged cipher text: shorter than nonce and tag")
        try:
            return self._aesgcm.decrypt(ciphertext[:12], ciphertext[28:] + ciphertext[12:28], None)
        except InvalidTag as error:
            raise ValueError("Invalid cipher tag") from error


class EventTranscoder(JSONTranscoder):
    def decode(self, data: bytes) -> Any:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        return self._revive(parsed)

    def _revive(self, value: Any) -> Any:
        # Bottom-up, as json's object_hook is applied.
        if type(value) is dict:
            names = self.names
            for key, item in value.items():
                kind = type(item)
                if kind is dict:
                    # The common case first: a transcoded value such as a datetime.
                    if len(item) == 2 and (transcoding := names.get(item.get("_type_"))) is not None \
                            and type(item.get("_data_")) is str:
                        value[key] = transcoding.decode(item["_data_"])
                    else:
                        value[key] = self._revive(item)
                elif kind is list:
                    value[key] = [self._revive(element) for element in item]
            return self._decode_obj(value) if "_type_" in value else value
        if type(value) is list:
            return [self._revive(element) for element in value]
        return value
