"""Sealing and signing, tested as crypto code is: known answers, round trips, flipped bytes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from hub import crypto
from hub.errors import BodyInvalid, PacketInvalid
from keys import KeySet, fingerprint, generate_keyset
from schemas.envelope import (
    PACKET_TYPE,
    RECEIPT_TYPE,
    AcknowledgementBody,
    Envelope,
    ForwarderKey,
    PacketBody,
    Signature,
)
from schemas.report import Report
from tests.factories import report_body

HUB = generate_keyset(sealing=False)
ALICE = generate_keyset()
MALLORY = generate_keyset()
HUB_TRUST = {HUB.public.signing_key_id: HUB.public.signing}
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def sealed_for(recipient: KeySet = ALICE, text: str = "seen at the pool") -> crypto.SealedPacket:
    report = Report.model_validate(report_body(free_text=text))
    assert recipient.sealing is not None
    return crypto.seal_packet(
        report_id=report.report_id,
        canonical=crypto.canonical_bytes(report),
        recipient_id="at-police",
        recipient_key=recipient.sealing.public_key,
        hub_key=HUB.signing,
        now=NOW,
    )


def test_pae_matches_the_dsse_specification_example() -> None:
    assert (
        crypto.pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_key_id_is_the_sha256_fingerprint_of_the_raw_public_key() -> None:
    # SHA-256 of 32 zero bytes begins 66687aadf862bd776c8fc18b8e9f8e20.
    assert fingerprint("ed25519", bytes(32)) == "ed25519:66687aadf862bd776c8fc18b8e9f8e20"


def test_ed25519_signature_matches_rfc8032_test_vector_1() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    signature = SigningKey(seed).sign(b"").signature
    assert signature.hex().startswith("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065")


def test_canonical_bytes_are_rfc8785_json_with_sorted_keys() -> None:
    report = Report.model_validate(report_body())
    canonical = crypto.canonical_bytes(report)
    parsed = json.loads(canonical)
    assert canonical == json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    assert Report.model_validate(parsed) == report


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(JSON_VALUES)
def test_canonical_json_is_byte_for_byte_what_the_rfc8785_package_writes(document: Any) -> None:
    try:
        expected = bytes(rfc8785.dumps(document))
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            crypto.canonical_json(document)
        return
    assert crypto.canonical_json(document) == expected


def test_canonical_json_of_a_report_with_every_kind_of_text_is_rfc8785() -> None:
    body = report_body(free_text='tab\t, "quote", \\, \x01\x1f\x7f, é, 中, 🙂, \u2028')
    document = Report.model_validate(body).model_dump(mode="json")
    assert crypto.canonical_json(document) == bytes(rfc8785.dumps(document))


def test_a_sealed_packet_opens_with_the_recipients_key_only() -> None:
    packet = sealed_for(ALICE)
    assert ALICE.sealing is not None
    assert MALLORY.sealing is not None
    opened = crypto.open_packet(packet.envelope, hub_keys=HUB_TRUST, private=ALICE.sealing)
    assert opened.report.free_text == "seen at the pool"
    assert opened.sealed_sha256 == packet.sealed_sha256
    with pytest.raises(PacketInvalid):
        crypto.open_packet(packet.envelope, hub_keys=HUB_TRUST, private=MALLORY.sealing)


def test_a_packet_signed_by_another_key_is_rejected() -> None:
    packet = sealed_for(ALICE)
    assert ALICE.sealing is not None
    other_hub = {MALLORY.public.signing_key_id: MALLORY.public.signing}
    with pytest.raises(PacketInvalid):
        crypto.open_packet(packet.envelope, hub_keys=other_hub, private=ALICE.sealing)


def test_a_resigned_packet_claiming_the_hubs_key_id_is_rejected() -> None:
    packet = sealed_for(ALICE)
    assert ALICE.sealing is not None
    payload = base64.b64decode(packet.envelope.payload)
    forged_sig = MALLORY.signing.sign(crypto.pae(PACKET_TYPE, payload)).signature
    forged = packet.envelope.model_copy(
        update={
            "signatures": [
                packet.envelope.signatures[0].model_copy(
                    update={"sig": base64.b64encode(forged_sig).decode()}
                )
            ]
        }
    )
    with pytest.raises(PacketInvalid):
        crypto.open_packet(forged, hub_keys=HUB_TRUST, private=ALICE.sealing)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_flipped_bit_anywhere_in_the_payload_or_signature_is_rejected(
    data: st.DataObject,
) -> None:
    packet = sealed_for(ALICE)
    assert ALICE.sealing is not None
    field = data.draw(st.sampled_from(["payload", "sig"]))
    raw = base64.b64decode(
        packet.envelope.payload if field == "payload" else packet.envelope.signatures[0].sig
    )
    index = data.draw(st.integers(0, len(raw) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(raw)
    flipped[index] ^= 1 << bit
    encoded = base64.b64encode(bytes(flipped)).decode()
    if field == "payload":
        envelope = packet.envelope.model_copy(update={"payload": encoded})
    else:
        signature = packet.envelope.signatures[0].model_copy(update={"sig": encoded})
        envelope = packet.envelope.model_copy(update={"signatures": [signature]})
    with pytest.raises(PacketInvalid):
        crypto.open_packet(envelope, hub_keys=HUB_TRUST, private=ALICE.sealing)


def test_an_envelope_of_another_type_is_rejected() -> None:
    packet = sealed_for(ALICE)
    relabelled = packet.envelope.model_copy(update={"payload_type": RECEIPT_TYPE})
    with pytest.raises(PacketInvalid):
        crypto.verify_envelope(relabelled, PACKET_TYPE, HUB_TRUST)


@settings(max_examples=30, deadline=None)
@given(text=st.text(max_size=2000))
def test_any_report_text_round_trips_through_sealing(text: str) -> None:
    packet = sealed_for(ALICE, text=text)
    assert ALICE.sealing is not None
    opened = crypto.open_packet(packet.envelope, hub_keys=HUB_TRUST, private=ALICE.sealing)
    assert opened.report.free_text == text


def test_sealing_the_same_report_twice_gives_different_ciphertexts() -> None:
    assert sealed_for(ALICE).sealed_sha256 != sealed_for(ALICE).sealed_sha256


def test_a_receipt_verifies_with_the_recipients_key_and_not_another() -> None:
    packet = sealed_for(ALICE)
    body = PacketBody.model_validate_json(base64.b64decode(packet.envelope.payload))
    receipt = crypto.sign_receipt(
        packet=body, sealed_sha256=packet.sealed_sha256, received_at=NOW, key=ALICE.signing
    )
    verified = crypto.verify_receipt(receipt, {ALICE.public.signing_key_id: ALICE.public.signing})
    assert verified.packet_id == body.packet_id
    assert verified.sealed_sha256 == packet.sealed_sha256
    with pytest.raises(PacketInvalid):
        crypto.verify_receipt(receipt, {MALLORY.public.signing_key_id: MALLORY.public.signing})


def test_a_forwarded_packet_is_not_opened_as_a_packet_from_intake() -> None:
    # A forwarded copy's `sealed` is the forwarder's opening, not the report: open_packet,
    # which opens copies from intake, refuses it even when the hub signed it for this key.
    body = PacketBody.model_validate_json(base64.b64decode(sealed_for(ALICE).envelope.payload))
    forward = crypto.sign_envelope(RECEIPT_TYPE, body, MALLORY.signing)
    forwarded = body.model_copy(
        update={
            "packet_version": 2,
            "forward": forward,
            "forwarder_key": ForwarderKey(
                recipient_id="nl-section",
                key_id=MALLORY.public.signing_key_id,
                public_key=base64.b64encode(bytes(MALLORY.public.signing)).decode(),
            ),
        }
    )
    envelope = crypto.sign_envelope(PACKET_TYPE, PacketBody.model_validate(forwarded), HUB.signing)
    assert ALICE.sealing is not None
    with pytest.raises(PacketInvalid):
        crypto.open_packet(envelope, hub_keys=HUB_TRUST, private=ALICE.sealing)


def test_an_acknowledgement_verifies_with_the_hubs_key_and_not_another() -> None:
    body = AcknowledgementBody(
        report_id=UUID("0b7e1c1e-9f0a-4c55-8d37-5a1d2f3e4b6c"),
        source="portal-nl",
        accepted_at=NOW,
        recipients=[],
    )
    acknowledgement = crypto.sign_acknowledgement(body, HUB.signing)
    assert crypto.verify_acknowledgement(acknowledgement, HUB_TRUST) == body
    with pytest.raises(PacketInvalid):
        crypto.verify_acknowledgement(
            acknowledgement, {MALLORY.public.signing_key_id: MALLORY.public.signing}
        )
    # A receipt signed by the hub's key is not an acknowledgement.
    packet = sealed_for(ALICE)
    receipt = crypto.sign_receipt(
        packet=PacketBody.model_validate_json(base64.b64decode(packet.envelope.payload)),
        sealed_sha256=packet.sealed_sha256,
        received_at=NOW,
        key=HUB.signing,
    )
    with pytest.raises(PacketInvalid):
        crypto.verify_acknowledgement(receipt, HUB_TRUST)


@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes_as_a_packet_are_rejected_cleanly(raw: bytes) -> None:
    assert ALICE.sealing is not None
    envelope = Envelope(
        payload=base64.b64encode(raw).decode(),
        payload_type=PACKET_TYPE,
        signatures=[
            Signature(keyid=HUB.public.signing_key_id, sig=base64.b64encode(raw[:64]).decode())
        ],
    )
    with pytest.raises(PacketInvalid):
        crypto.open_packet(envelope, hub_keys=HUB_TRUST, private=ALICE.sealing)


def test_verification_does_not_read_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    packet = sealed_for(ALICE)
    assert ALICE.sealing is not None

    class NoClock(datetime):
        @classmethod
        def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
            raise AssertionError("verification read the clock")

    monkeypatch.setattr(crypto, "datetime", NoClock)
    crypto.open_packet(packet.envelope, hub_keys=HUB_TRUST, private=ALICE.sealing)


@pytest.mark.parametrize(
    ("document", "plain"),
    [
        ({"a": [True, False, None, "x", 3, -3]}, True),
        ({"a": crypto._SAFE_INTEGER, "b": -crypto._SAFE_INTEGER}, True),
        ({"a": crypto._SAFE_INTEGER + 1}, False),
        ([-crypto._SAFE_INTEGER - 1], False),
        ({"a": 1.0}, False),
        ({"a": {"b": [0.5]}}, False),
        ({"ä": 1}, False),
        ({1: "a"}, False),
        ({}, True),
    ],
)
def test_only_documents_without_floats_non_ascii_keys_or_unsafe_integers_take_the_fast_path(
    document: Any, plain: bool
) -> None:
    """The fast path (the standard library's JSON) is RFC 8785 only for these documents."""
    assert crypto._plain(document) is plain


def test_a_document_off_the_fast_path_is_written_by_rfc8785() -> None:
    assert crypto.canonical_json({"b": 1.0, "a": 1e21}) == b'{"a":1e+21,"b":1}'
    assert crypto.canonical_json({"é": 1, "e": 2}) == '{"e":2,"é":1}'.encode()
    assert crypto.canonical_json({"a": "ü"}) == '{"a":"ü"}'.encode()
    with pytest.raises(rfc8785.IntegerDomainError):
        crypto.canonical_json({"a": crypto._SAFE_INTEGER + 1})


def test_the_content_mac_is_keyed_over_the_content() -> None:
    key = bytes(32)
    assert crypto.content_mac(key, b"a") != crypto.content_mac(key, b"b")
    assert crypto.content_mac(key, b"a") != crypto.content_mac(bytes([1]) * 32, b"a")


def test_base64_with_characters_outside_its_alphabet_is_refused_not_skipped() -> None:
    packet = sealed_for()
    envelope = packet.envelope.model_copy(update={"payload": packet.envelope.payload + "!"})
    with pytest.raises(PacketInvalid):
        crypto.verify_envelope(envelope, PACKET_TYPE, HUB_TRUST)


def test_a_signature_by_an_unknown_or_a_wrong_key_before_the_hubs_is_passed_over() -> None:
    packet = sealed_for()
    hub_signature = packet.envelope.signatures[0]
    stranger = Signature(keyid=MALLORY.public.signing_key_id, sig=hub_signature.sig)
    forged = Signature(keyid=hub_signature.keyid, sig=base64.b64encode(bytes(64)).decode())
    for first in (stranger, forged):
        envelope = packet.envelope.model_copy(update={"signatures": [first, hub_signature]})
        assert crypto.verify_envelope(envelope, PACKET_TYPE, HUB_TRUST)


def committed_for(salt: bytes | None, *, commitment: bool = True) -> crypto.SealedPacket:
    report = Report.model_validate(report_body())
    assert ALICE.sealing is not None
    signed = crypto.sign_envelope(PACKET_TYPE, report, HUB.signing) if commitment else None
    return crypto.seal_packet(
        report_id=report.report_id,
        canonical=crypto.canonical_bytes(report),
        recipient_id="at-police",
        recipient_key=ALICE.sealing.public_key,
        hub_key=HUB.signing,
        now=NOW,
        commitment=signed,
        salt=salt,
    )


def body_of(packet: crypto.SealedPacket) -> PacketBody:
    return PacketBody.model_validate_json(base64.b64decode(packet.envelope.payload))


def test_a_packet_with_a_commitment_and_its_salt_is_version_2_and_opens_to_the_salt() -> None:
    assert ALICE.sealing is not None
    salt = bytes(range(32))
    packet = committed_for(salt)
    body = body_of(packet)
    assert body.packet_version == 2
    assert body.commitment is not None
    assert body.sealed_salt is not None
    opened = crypto.open_packet(packet.envelope, hub_keys=HUB_TRUST, private=ALICE.sealing)
    assert opened.salt == salt
    assert opened.body == body


def test_a_commitment_without_its_salt_or_a_salt_without_its_commitment_seals_version_1() -> None:
    assert ALICE.sealing is not None
    for packet in (committed_for(None), committed_for(bytes(32), commitment=False)):
        body = body_of(packet)
        assert body.packet_version == 1
        assert body.commitment is None
        assert body.sealed_salt is None
        opened = crypto.open_packet(packet.envelope, hub_keys=HUB_TRUST, private=ALICE.sealing)
        assert opened.salt is None


def test_a_signed_packet_whose_body_is_not_a_packet_is_refused_naming_its_missing_fields() -> None:
    assert ALICE.sealing is not None
    payload = b'{"packet_version": 1}'
    signature = HUB.signing.sign(crypto.pae(PACKET_TYPE, payload)).signature
    envelope = Envelope(
        payload=base64.b64encode(payload).decode(),
        payload_type=PACKET_TYPE,
        signatures=[
            Signature(keyid=HUB.public.signing_key_id, sig=base64.b64encode(signature).decode())
        ],
    )
    with pytest.raises(BodyInvalid) as refused:
        crypto.open_packet(envelope, hub_keys=HUB_TRUST, private=ALICE.sealing)
    assert "packet_id" in {error.field for error in refused.value.errors}
    assert "packet_id" in str(refused.value)
