"""AES-256-GCM sealing of raw entry bytes kept in the dead-letter queue.

Keys are configured as a mapping key id -> 32-byte key plus the active id: new blobs use the
active key, old blobs stay readable as long as their key id is configured (rotation: add a key,
make it active, re-seal with :meth:`Keyring.reseal`, then drop the old one). The letter id is
bound in as associated data, so a blob cannot be moved to another letter unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cassandra_cdc.deadletter.model import EncryptedBlob

KEY_SIZE = 32
NONCE_SIZE = 12
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_AAD_PREFIX = b"cassandra-cdc/dead-letter/v1:"


class DeadLetterKeyError(ValueError):
    """A key that is missing, malformed, or does not open a blob (the message names the key id)."""


def parse_key(key_id: str, value: str | bytes) -> bytes:
    """A 32-byte key from raw bytes, or text in hex (64 digits) or base64."""
    if isinstance(value, bytes):
        key = value
    else:
        text = value.strip()
        key = b""
        try:
            # Hex digits only: hex (base64 of 32 bytes always ends in '=').
            key = bytes.fromhex(text) if _HEX.fullmatch(text) else base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise DeadLetterKeyError(f"dead-letter key {key_id!r}: neither hex nor base64") from None
    if len(key) != KEY_SIZE:
        raise DeadLetterKeyError(f"dead-letter key {key_id!r}: {len(key)} bytes, AES-256 needs {KEY_SIZE}")
    return key


def _aad(letter_id: str) -> bytes:
    return _AAD_PREFIX + letter_id.encode("utf-8")


@dataclass(frozen=True)
class Keyring:
    """The configured dead-letter keys and which one seals new blobs."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise DeadLetterKeyError(
                f"dead-letter active key {self.active!r} is not among the keys {sorted(self.keys)}"
            )
        for key_id, key in self.keys.items():
            if len(key) != KEY_SIZE:
                raise DeadLetterKeyError(f"dead-letter key {key_id!r}: {len(key)} bytes, AES-256 needs {KEY_SIZE}")

    @classmethod
    def from_config(cls, keys: Mapping[str, str | bytes], active: str | None = None) -> Keyring:
        """From key id -> key (hex/base64 text or bytes); ``active`` defaults to the only key."""
        if not keys:
            raise DeadLetterKeyError("dead-letter encryption: no keys configured")
        if active is None:
            if len(keys) != 1:
                raise DeadLetterKeyError("dead-letter encryption: several keys, say which one is active")
            active = next(iter(keys))
        return cls({key_id: parse_key(key_id, value) for key_id, value in keys.items()}, active)

    def seal(self, plaintext: bytes, letter_id: str) -> EncryptedBlob:
        nonce = os.urandom(NONCE_SIZE)  # random 96-bit nonces: fine for the handful of blobs a key seals
        ciphertext = AESGCM(self.keys[self.active]).encrypt(nonce, plaintext, _aad(letter_id))
        return EncryptedBlob(self.active, nonce, ciphertext)

    def open(self, blob: EncryptedBlob, letter_id: str) -> bytes:
        key = self.keys.get(blob.key_id)
        if key is None:
            raise DeadLetterKeyError(
                f"dead letter {letter_id}: sealed with key {blob.key_id!r}, which is not configured "
                f"(configured: {', '.join(sorted(self.keys)) or 'none'})"
            )
        try:
            return AESGCM(key).decrypt(blob.nonce, blob.ciphertext, _aad(letter_id))
        except InvalidTag:
            raise DeadLetterKeyError(
                f"dead letter {letter_id}: key {blob.key_id!r} does not open the blob "
                "(wrong key for that id, or the blob was altered)"
            ) from None

    def reseal(self, blob: EncryptedBlob, letter_id: str) -> EncryptedBlob:
        """The blob sealed with the active key (itself if it already is)."""
        if blob.key_id == self.active:
            return blob
        return self.seal(self.open(blob, letter_id), letter_id)
