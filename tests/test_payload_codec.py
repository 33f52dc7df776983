"""The AES-GCM payload codec: round trip, key rotation, tampering, configuration errors.
Whether Temporal's files hold personal data in clear is checked end to end in
test_cli_end_to_end.py."""

from __future__ import annotations

import pytest
from temporalio.api.common.v1 import Payload

from lnere.payload_codec import AesGcmPayloadCodec, PayloadKeyError, new_key_spec, parse_keys

pytestmark = pytest.mark.fast

session_loop = pytest.mark.asyncio(loop_scope="session")

PERSONAL = b'{"clave":"GRLPAN85031209M700","holder":{"paternal_surname":"Gris"}}'


def payload() -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=PERSONAL)


@session_loop
async def test_round_trip_hides_the_data_and_names_the_key():
    codec = AesGcmPayloadCodec.from_spec(new_key_spec("k1"))
    [sealed] = await codec.encode([payload()])
    assert PERSONAL not in sealed.SerializeToString() and b"json/plain" not in sealed.SerializeToString()
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert await codec.decode([sealed]) == [payload()]


@session_loop
async def test_rotated_keys_still_read_old_payloads_and_write_with_the_new_one():
    old = new_key_spec("k1")
    [sealed_before] = await AesGcmPayloadCodec.from_spec(old).encode([payload()])
    rotated = AesGcmPayloadCodec.from_spec(f"{new_key_spec('k2')},{old}")
    assert await rotated.decode([sealed_before]) == [payload()]
    [sealed_after] = await rotated.encode([payload()])
    assert sealed_after.metadata["encryption-key-id"] == b"k2"
    with pytest.raises(PayloadKeyError, match="k2"):
        await AesGcmPayloadCodec.from_spec(old).decode([sealed_after])


@session_loop
async def test_tampered_payloads_are_refused():
    spec = new_key_spec("k1")
    codec = AesGcmPayloadCodec.from_spec(spec)
    [sealed] = await codec.encode([payload()])
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(PayloadKeyError, match="altered"):
        await codec.decode([flipped])
    # the key id is authenticated too: the same bytes under another id of the same key fail
    other = AesGcmPayloadCodec.from_spec(f"{spec},k9={spec.split('=', 1)[1]}")
    moved = Payload(metadata={**sealed.metadata, "encryption-key-id": b"k9"}, data=sealed.data)
    with pytest.raises(PayloadKeyError, match="not this data dir's key"):
        await other.decode([moved])


@session_loop
async def test_payloads_from_before_encryption_pass_through():
    codec = AesGcmPayloadCodec.from_spec(new_key_spec())
    assert await codec.decode([payload()]) == [payload()]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("", "none configured"), ("k1", "id=base64key"), ("k1=***", "not base64"), ("k1=AAAA", "16, 24 or 32 bytes")],
)
def test_bad_key_configuration_is_named(spec, message):
    with pytest.raises(PayloadKeyError, match=message):
        parse_keys(spec)


@session_loop
async def test_a_payload_from_another_data_dir_is_named_so():
    here, elsewhere = AesGcmPayloadCodec.from_spec(new_key_spec()), AesGcmPayloadCodec.from_spec(new_key_spec())
    [sealed] = await elsewhere.encode([payload()])
    with pytest.raises(PayloadKeyError, match="which this data dir does not have"):
        await here.decode([sealed])
