"""AES/CBC/PKCS5Padding sections and key loading, against the real 3.4 fixture and keystore."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from cassandra_cdc.commitlog.encryption import (
    EncryptionConfig,
    EncryptionError,
    decrypt_block,
    decrypt_section,
    encrypt_block,
    encrypt_section,
    load_keystore_key,
    parse_raw_key,
)

# NIST SP 800-38A F.2.1, CBC-AES128 first block.
NIST_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
NIST_IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
NIST_PLAIN = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
NIST_CIPHER = bytes.fromhex("7649abac8119b246cee98e9b12e9197d")
TESTING_1 = bytes.fromhex("b7d96fb9b11d829179aeeb0b4e81f97a")


def test_cbc_vector_and_pkcs5_padding() -> None:
    out = encrypt_block(NIST_KEY, NIST_IV, NIST_PLAIN)
    assert out[:16] == NIST_CIPHER and len(out) == 32  # a full block of padding follows
    assert decrypt_block(NIST_KEY, NIST_IV, out) == NIST_PLAIN
    with pytest.raises(EncryptionError, match="padding"):
        decrypt_block(bytes(16), NIST_IV, out)
    with pytest.raises(EncryptionError, match="whole number"):
        decrypt_block(NIST_KEY, NIST_IV, out[:20])


def test_section_layout() -> None:
    plain = bytes(range(256)) * 10  # 2560 bytes, chunks of 1000
    section = encrypt_section(plain, NIST_KEY, NIST_IV, 1000)
    cipher_len, compressed_len = struct.unpack_from(">ii", section, 0)
    block = decrypt_block(NIST_KEY, NIST_IV, section[8 : 8 + cipher_len])
    assert len(block) == compressed_len
    # EncryptionUtils.compress: big-endian raw length, then LZ4Compressor's little-endian one.
    assert block[:8] == struct.pack(">i", 1000) + struct.pack("<i", 1000)
    assert decrypt_section(section, NIST_KEY, NIST_IV, len(plain)) == plain
    with pytest.raises(EncryptionError, match="header says"):
        decrypt_section(section, NIST_KEY, NIST_IV, len(plain) + 5)
    damaged = bytearray(section)
    damaged[20] ^= 1
    with pytest.raises(ValueError):
        decrypt_section(bytes(damaged), NIST_KEY, NIST_IV, len(plain))
    assert decrypt_section(b"", NIST_KEY, NIST_IV, 0) == b""


def test_raw_keys() -> None:
    assert parse_raw_key(TESTING_1.hex()) == TESTING_1
    assert parse_raw_key(base64.b64encode(TESTING_1).decode()) == TESTING_1
    assert EncryptionConfig.from_raw_key(TESTING_1.hex()).key == TESTING_1
    with pytest.raises(EncryptionError):
        parse_raw_key("not a key!")
    with pytest.raises(EncryptionError):
        EncryptionConfig(b"short")


@pytest.mark.fixtures
def test_keystore(commitlog_fixtures: Path) -> None:
    store = commitlog_fixtures / "keys" / "cassandra.keystore"
    assert load_keystore_key(store, "cassandra", "testing:1") == TESTING_1
    assert load_keystore_key(store, "cassandra", "TESTING:1", "cassandra") == TESTING_1  # JCEKS lower-cases
    config = EncryptionConfig.from_keystore(store, "cassandra", "testing:1")
    assert config.key == TESTING_1 and config.key_alias == "testing:1"
    with pytest.raises(EncryptionError, match="no secret key with alias 'nope'"):
        load_keystore_key(store, "cassandra", "nope")
    with pytest.raises(EncryptionError, match="cannot load keystore"):
        load_keystore_key(store, "wrong", "testing:1")
    with pytest.raises(EncryptionError, match="cannot decrypt key"):
        load_keystore_key(store, "cassandra", "testing:1", "wrong")


@pytest.mark.fixtures
def test_real_encrypted_section(commitlog_fixtures: Path) -> None:
    """The 3.4 fixture's section: marker, plain length, then blocks that decrypt with key testing:1."""
    data = (commitlog_fixtures / "3.4-encrypted" / "CommitLog-6-1480001790338.log").read_bytes()
    iv = bytes.fromhex("4927e54951a0c100d93d9de98da8ccd9")
    next_marker, _crc, plain_len = struct.unpack_from(">iIi", data, 125)
    assert (next_marker, plain_len) == (1452345, 2949446)
    cipher_len, compressed_len = struct.unpack_from(">ii", data, 137)
    first = decrypt_block(TESTING_1, iv, data[145 : 145 + cipher_len])
    assert len(first) == compressed_len
    assert struct.unpack_from(">i", first)[0] == 64 * 1024  # chunk_length_kb = 64
    plain = decrypt_section(data[137:next_marker], TESTING_1, iv, plain_len)
    assert len(plain) == plain_len
    # Re-encrypting gives the same plain text back (cipher bytes differ only through LZ4's output).
    again = encrypt_section(plain, TESTING_1, iv)
    assert decrypt_section(again, TESTING_1, iv, plain_len) == plain
