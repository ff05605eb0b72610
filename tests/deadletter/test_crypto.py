"""Sealing raw entries: AES-256-GCM round trip, wrong or missing keys, key rotation."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cassandra_cdc.deadletter import DeadLetterKeyError, EncryptedBlob, Keyring
from cassandra_cdc.deadletter.crypto import parse_key

K1 = bytes(range(32))
K2 = bytes(range(32, 64))
RAW = b"\x01\x00mutation bytes with alice@example.org"


def test_seal_open_round_trip_and_ciphertext_hides_the_bytes() -> None:
    ring = Keyring.from_config({"k1": K1.hex()})
    blob = ring.seal(RAW, "letter-1")
    assert blob.key_id == "k1" and len(blob.nonce) == 12
    assert b"alice" not in blob.ciphertext and len(blob.ciphertext) == len(RAW) + 16
    assert ring.open(blob, "letter-1") == RAW
    # Standard AES-GCM underneath: the library opens it with our associated data.
    assert AESGCM(K1).decrypt(blob.nonce, blob.ciphertext, b"cassandra-cdc/dead-letter/v1:letter-1") == RAW


def test_wrong_key_unknown_key_and_moved_blob_give_clear_errors() -> None:
    blob = Keyring.from_config({"k1": K1}).seal(RAW, "letter-1")
    with pytest.raises(DeadLetterKeyError, match=r"key 'k1' does not open the blob"):
        Keyring.from_config({"k1": K2}).open(blob, "letter-1")
    with pytest.raises(DeadLetterKeyError, match=r"sealed with key 'k1', which is not configured \(configured: k2\)"):
        Keyring.from_config({"k2": K2}).open(blob, "letter-1")
    with pytest.raises(DeadLetterKeyError, match="does not open"):
        Keyring.from_config({"k1": K1}).open(blob, "letter-2")  # bound to its letter
    tampered = EncryptedBlob(blob.key_id, blob.nonce, blob.ciphertext[:-1] + bytes([blob.ciphertext[-1] ^ 1]))
    with pytest.raises(DeadLetterKeyError):
        Keyring.from_config({"k1": K1}).open(tampered, "letter-1")


def test_key_rotation_old_blobs_readable_then_resealed() -> None:
    old = Keyring.from_config({"k1": K1})
    blob = old.seal(RAW, "x")
    rotated = Keyring.from_config({"k1": K1, "k2": base64.b64encode(K2).decode()}, active="k2")
    assert rotated.open(blob, "x") == RAW
    assert rotated.seal(RAW, "y").key_id == "k2"
    resealed = rotated.reseal(blob, "x")
    assert resealed.key_id == "k2" and rotated.reseal(resealed, "x") is resealed
    assert Keyring.from_config({"k2": K2}).open(resealed, "x") == RAW  # k1 can now be dropped


def test_key_configuration_errors() -> None:
    with pytest.raises(DeadLetterKeyError, match="'k': 16 bytes"):
        parse_key("k", "00" * 16)
    with pytest.raises(DeadLetterKeyError, match="neither hex nor base64"):
        parse_key("k", "not a key!")
    with pytest.raises(DeadLetterKeyError, match="say which one is active"):
        Keyring.from_config({"a": K1, "b": K2})
    with pytest.raises(DeadLetterKeyError, match="active key 'c'"):
        Keyring.from_config({"a": K1}, active="c")
    with pytest.raises(DeadLetterKeyError, match="no keys"):
        Keyring.from_config({})
    assert parse_key("k", "ab" * 32) == b"\xab" * 32
