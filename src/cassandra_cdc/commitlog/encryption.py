"""Transparent data encryption of commit-log sections: AES/CBC/PKCS5Padding over LZ4-compressed chunks.

Follows db/commitlog/EncryptedSegment.write, security/EncryptionUtils (compress, encryptAndWrite,
decrypt, uncompress) and db/commitlog/EncryptedFileSegmentInputStream. An encrypted section is::

    sync marker (8) | int plain-text length of the whole section |
    blocks: int cipher-text length | int compressed length | cipher text

and each block decrypts (same key and IV for every block: the Java Cipher is reused after
doFinal) to ``int raw length | LZ4Compressor framing of the raw chunk``, followed by padding.

Keys come from a JCEKS keystore (security/JKSKeyProvider: aliases are lower-cased in JCEKS, the
key password defaults to the store password) or are given raw.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from cassandra_cdc.commitlog.compression import MAX_UNCOMPRESSED, CompressionError, LZ4Compressor

SUPPORTED_CIPHER = "AES/CBC/PKCS5Padding"
DEFAULT_CHUNK_LENGTH = 64 * 1024  # TransparentDataEncryptionOptions.chunk_length_kb = 64
_INT = struct.Struct(">i")
_BLOCK_HEADER = struct.Struct(">ii")
_AES_BLOCK = 16


class EncryptionError(ValueError):
    """A key that cannot be loaded, or a block that does not decrypt."""


@dataclass(frozen=True, slots=True)
class EncryptionConfig:
    """The secret key for encrypted segments (their header names the cipher, alias and IV).

    ``chunk_length`` is only used when writing. ``key_alias`` is what a writer puts in the header.
    """

    key: bytes = field(repr=False)
    key_alias: str = "testing:1"
    chunk_length: int = DEFAULT_CHUNK_LENGTH

    def __post_init__(self) -> None:
        if len(self.key) not in (16, 24, 32):
            raise EncryptionError(f"AES key must be 16, 24 or 32 bytes, got {len(self.key)}")
        if self.chunk_length <= 0:
            raise EncryptionError(f"chunk length must be positive, got {self.chunk_length}")

    @classmethod
    def from_keystore(
        cls,
        path: Path | str,
        store_password: str,
        alias: str,
        key_password: str | None = None,
        *,
        chunk_length: int = DEFAULT_CHUNK_LENGTH,
    ) -> EncryptionConfig:
        """Load a secret key from a JCEKS keystore as JKSKeyProvider.getSecretKey does."""
        return cls(load_keystore_key(path, store_password, alias, key_password), alias, chunk_length)

    @classmethod
    def from_raw_key(
        cls, text: str, *, key_alias: str = "testing:1", chunk_length: int = DEFAULT_CHUNK_LENGTH
    ) -> EncryptionConfig:
        """A raw AES key written as hex (32/48/64 digits) or base64."""
        return cls(parse_raw_key(text), key_alias, chunk_length)


def parse_raw_key(text: str) -> bytes:
    cleaned = text.strip()
    if len(cleaned) in (32, 48, 64):
        try:
            return bytes.fromhex(cleaned)
        except ValueError:
            pass
    try:
        key = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionError("raw key is neither hex nor base64") from None
    if len(key) not in (16, 24, 32):
        raise EncryptionError(f"raw key decodes to {len(key)} bytes; AES needs 16, 24 or 32")
    return key


def load_keystore_key(path: Path | str, store_password: str, alias: str, key_password: str | None = None) -> bytes:
    """The secret key ``alias`` from a JCEKS (or JKS) keystore, via pyjks."""
    import jks  # imported here: only encrypted deployments need it

    try:
        store = jks.KeyStore.load(str(path), store_password, try_decrypt_keys=False)
    except Exception as exc:  # pyjks raises its own KeystoreException hierarchy, and OSError
        raise EncryptionError(f"{path}: cannot load keystore: {exc}") from None
    # JCEKS stores aliases lower-cased (JKSKeyProvider lower-cases the lookup).
    entry = store.secret_keys.get(alias) or store.secret_keys.get(alias.lower())
    if entry is None:
        known = ", ".join(sorted(store.secret_keys)) or "none"
        raise EncryptionError(f"{path}: no secret key with alias {alias!r} (secret keys: {known})")
    password = key_password or store_password
    try:
        if not entry.is_decrypted():
            entry.decrypt(password)
    except Exception as exc:
        raise EncryptionError(f"{path}: cannot decrypt key {alias!r}: {exc}") from None
    key = bytes(entry.key)
    if len(key) not in (16, 24, 32):
        raise EncryptionError(f"{path}: key {alias!r} is {len(key)} bytes, not an AES key")
    return key


def check_cipher(cipher: str) -> None:
    if cipher != SUPPORTED_CIPHER:
        raise EncryptionError(f"unsupported commit-log cipher {cipher!r} (only {SUPPORTED_CIPHER})")


def encrypt_block(key: bytes, iv: bytes, plain: bytes) -> bytes:
    """Cipher.doFinal for AES/CBC/PKCS5Padding."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def decrypt_block(key: bytes, iv: bytes, cipher_text: bytes) -> bytes:
    """Cipher.doFinal for decryption; the padding is checked and removed."""
    if not cipher_text or len(cipher_text) % _AES_BLOCK:
        raise EncryptionError(f"cipher text of {len(cipher_text)} bytes is not a whole number of AES blocks")
    if len(iv) != _AES_BLOCK:
        raise EncryptionError(f"IV must be {_AES_BLOCK} bytes, got {len(iv)}")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(cipher_text) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise EncryptionError("bad padding after decryption (wrong key or corrupt block)") from None


def encrypt_section(plain: bytes, key: bytes, iv: bytes, chunk_length: int = DEFAULT_CHUNK_LENGTH) -> bytes:
    """One section's blocks (after its marker and plain-text length); follows EncryptedSegment.write."""
    lz4 = LZ4Compressor()
    out = bytearray()
    for start in range(0, len(plain), chunk_length):
        chunk = plain[start : start + chunk_length]
        compressed = _INT.pack(len(chunk)) + lz4.compress(chunk)  # EncryptionUtils.compress
        cipher_text = encrypt_block(key, iv, compressed)  # EncryptionUtils.encryptAndWrite
        out += _BLOCK_HEADER.pack(len(cipher_text), len(compressed))
        out += cipher_text
    return bytes(out)


def decrypt_section(payload: bytes | memoryview, key: bytes, iv: bytes, plain_length: int) -> bytes:
    """Decrypt and uncompress the blocks of one section; raises EncryptionError/CompressionError.

    ``payload`` is everything between the section's plain-text length and the next sync marker.
    """
    if plain_length < 0 or plain_length > MAX_UNCOMPRESSED:
        raise EncryptionError(f"implausible section plain-text length {plain_length}")
    lz4 = LZ4Compressor()
    out = bytearray()
    pos = 0
    # EncryptedFileSegmentInputStream stops asking for chunks once it is within a byte of the section end.
    while pos < len(payload) - 1 and len(out) < plain_length:
        if pos + _BLOCK_HEADER.size > len(payload):
            raise EncryptionError(f"block header at +{pos} runs past the section end")
        cipher_len, compressed_len = _BLOCK_HEADER.unpack_from(payload, pos)
        pos += _BLOCK_HEADER.size
        if cipher_len <= 0 or pos + cipher_len > len(payload):
            raise EncryptionError(f"block at +{pos - 8} claims {cipher_len} cipher bytes, {len(payload) - pos} left")
        decrypted = decrypt_block(key, iv, bytes(payload[pos : pos + cipher_len]))
        pos += cipher_len
        if compressed_len < 4 or compressed_len > len(decrypted):
            raise EncryptionError(f"block claims {compressed_len} compressed bytes, decrypted {len(decrypted)}")
        (raw_len,) = _INT.unpack_from(decrypted, 0)
        if raw_len < 0 or len(out) + raw_len > plain_length:
            raise EncryptionError(f"block claims {raw_len} raw bytes, past the section's {plain_length}")
        try:
            out += lz4.uncompress(decrypted[4:compressed_len], raw_len)
        except CompressionError as exc:
            raise EncryptionError(f"block at +{pos - cipher_len - 8}: {exc}") from None
    if len(out) != plain_length:
        raise EncryptionError(f"section decrypted to {len(out)} bytes, its header says {plain_length}")
    return bytes(out)
