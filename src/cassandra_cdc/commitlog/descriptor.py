"""The commit-log segment header (descriptor) and segment file names.

Follows db/commitlog/CommitLogDescriptor (writeHeader, readHeader, fromFileName,
getMessagingVersion) on the cassandra-3.0 and 5.0 branches.

Header layout, all big-endian::

    int version | long id | ushort params_length | params (UTF-8 JSON) | int crc

The CRC covers the version, the id as two ints (low word first, then high word), the
parameters length as an int and the parameter bytes (FBUtilities.updateChecksumInt feeds each
int as four big-endian bytes). Version 5 (2.2) has the same layout; versions below 5 (no
parameters) are not supported.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION_22 = 5
VERSION_30 = 6
VERSION_40 = 7
VERSION_50 = 8
SUPPORTED_VERSIONS = (VERSION_22, VERSION_30, VERSION_40, VERSION_50)

# MessagingService versions the mutations of each commit-log version are serialised with.
# (3.0.14+ nodes report messaging version 11 for version 6 segments; the mutation layout is the
# same as 10, so the decoder is handed 10.)
MESSAGING_VERSIONS: Mapping[int, int] = {VERSION_22: 9, VERSION_30: 10, VERSION_40: 12, VERSION_50: 13}

COMPRESSION_CLASS_KEY = "compressionClass"
COMPRESSION_PARAMETERS_KEY = "compressionParameters"
ENCRYPTION_CIPHER_KEY = "encCipher"
ENCRYPTION_KEY_ALIAS_KEY = "encKeyAlias"
ENCRYPTION_IV_KEY = "encIV"

_FIXED = struct.Struct(">iqH")
_CRC = struct.Struct(">I")
_MAX_PARAMS = 0xFFFF

_SEGMENT_NAME = re.compile(r"CommitLog-(\d+)-(\d+)(\.log|_cdc\.idx)")


class DescriptorError(ValueError):
    """A segment header that cannot be used; the message names the file and the reason."""

    def __init__(self, path: Path | str | None, reason: str) -> None:
        where = str(path) if path is not None else "<segment>"
        super().__init__(f"{where}: bad commit-log descriptor: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EncryptionParams:
    """What an encrypted segment's header says about its encryption (EncryptionContext.toHeaderParameters)."""

    cipher: str
    key_alias: str
    iv: bytes | None


@dataclass(frozen=True, slots=True)
class CommitLogDescriptor:
    """A parsed segment header. ``header_size`` is where the first sync marker starts."""

    version: int
    segment_id: int
    parameters: Mapping[str, Any] = field(default_factory=dict)
    header_size: int = 0

    @property
    def messaging_version(self) -> int:
        """CommitLogDescriptor.getMessagingVersion."""
        try:
            return MESSAGING_VERSIONS[self.version]
        except KeyError:
            raise ValueError(f"unknown commit-log version {self.version}") from None

    @property
    def compression_class(self) -> str | None:
        value = self.parameters.get(COMPRESSION_CLASS_KEY)
        return value if isinstance(value, str) else None

    @property
    def compression_parameters(self) -> Mapping[str, str]:
        value = self.parameters.get(COMPRESSION_PARAMETERS_KEY)
        return value if isinstance(value, dict) else {}

    @property
    def encryption(self) -> EncryptionParams | None:
        """EncryptionContext.createFromMap: encrypted only when both cipher and key alias are present."""
        cipher = self.parameters.get(ENCRYPTION_CIPHER_KEY)
        alias = self.parameters.get(ENCRYPTION_KEY_ALIAS_KEY)
        if not isinstance(cipher, str) or not isinstance(alias, str):
            return None
        iv_text = self.parameters.get(ENCRYPTION_IV_KEY)
        iv = bytes.fromhex(iv_text) if isinstance(iv_text, str) else None
        return EncryptionParams(cipher, alias, iv)

    def file_name(self) -> str:
        return segment_file_name(self.version, self.segment_id)

    def cdc_index_file_name(self) -> str:
        return cdc_index_file_name(self.version, self.segment_id)


def _crc_int(crc: int, value: int) -> int:
    """FBUtilities.updateChecksumInt: the int's four big-endian bytes."""
    return zlib.crc32(_CRC.pack(value & 0xFFFFFFFF), crc)


def id_crc(segment_id: int) -> int:
    """CRC32 state after the segment id (low int, then high int): the prefix of sync-marker CRCs."""
    return _crc_int(_crc_int(0, segment_id & 0xFFFFFFFF), (segment_id >> 32) & 0xFFFFFFFF)


def header_crc(version: int, segment_id: int, params: bytes) -> int:
    crc = _crc_int(0, version)
    crc = _crc_int(crc, segment_id & 0xFFFFFFFF)
    crc = _crc_int(crc, (segment_id >> 32) & 0xFFFFFFFF)
    crc = _crc_int(crc, len(params))
    return zlib.crc32(params, crc)


def _escape_json_simple(text: str) -> str:
    # json-simple (3.x headers) escapes '/' as '\/'; Jackson (4.0+) does not.
    return text.replace("/", "\\/")


def encode_parameters(parameters: Mapping[str, Any], *, version: int) -> bytes:
    """The header's JSON as Cassandra writes it: keys sorted (a TreeMap), no spaces.

    Versions 5 and 6 were written with json-simple (which escapes '/'), 7 and 8 with Jackson.
    """
    text = json.dumps(dict(parameters), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if version <= VERSION_30:
        text = _escape_json_simple(text)
    return text.encode("utf-8")


def build_parameters(
    *,
    compression: str | None = None,
    compression_parameters: Mapping[str, str] | None = None,
    encryption: EncryptionParams | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """CommitLogDescriptor.constructParametersString's map (before JSON encoding)."""
    params: dict[str, Any] = {}
    if compression is not None:
        params[COMPRESSION_CLASS_KEY] = compression
        params[COMPRESSION_PARAMETERS_KEY] = dict(compression_parameters or {})
    if encryption is not None:
        params[ENCRYPTION_CIPHER_KEY] = encryption.cipher
        params[ENCRYPTION_KEY_ALIAS_KEY] = encryption.key_alias
        if encryption.iv:
            params[ENCRYPTION_IV_KEY] = encryption.iv.hex()
    if extra:
        params.update(extra)
    return params


def encode_descriptor(version: int, segment_id: int, parameters: Mapping[str, Any] | bytes = b"{}") -> bytes:
    """Follows CommitLogDescriptor.writeHeader. ``parameters`` is a map, or the exact JSON bytes."""
    raw = parameters if isinstance(parameters, bytes) else encode_parameters(parameters, version=version)
    if len(raw) > _MAX_PARAMS:
        raise ValueError(f"descriptor parameters too long: {len(raw)} bytes (max {_MAX_PARAMS})")
    crc = header_crc(version, segment_id, raw)
    return _FIXED.pack(version, segment_id, len(raw)) + raw + _CRC.pack(crc)


def parse_descriptor(data: bytes | bytearray | memoryview, path: Path | str | None = None) -> CommitLogDescriptor:
    """Follows CommitLogDescriptor.readHeader; raises DescriptorError naming ``path``."""
    if len(data) < _FIXED.size + _CRC.size:
        raise DescriptorError(path, f"file is {len(data)} bytes, shorter than a header")
    version, segment_id, params_len = _FIXED.unpack_from(data, 0)
    if version not in SUPPORTED_VERSIONS:
        raise DescriptorError(path, f"unsupported commit-log version {version}")
    end = _FIXED.size + params_len
    if end + _CRC.size > len(data):
        raise DescriptorError(path, f"parameters length {params_len} runs past the end of the file")
    raw = bytes(data[_FIXED.size : end])
    (stored,) = _CRC.unpack_from(data, end)
    expected = header_crc(version, segment_id, raw)
    if stored != expected:
        raise DescriptorError(path, f"header CRC mismatch (stored {stored:#010x}, computed {expected:#010x})")
    try:
        decoded = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise DescriptorError(path, f"parameters are not JSON: {exc}") from None
    if decoded is None:
        decoded = {}
    if not isinstance(decoded, dict):
        raise DescriptorError(path, f"parameters are not a JSON object: {raw!r}")
    return CommitLogDescriptor(version, segment_id, decoded, end + _CRC.size)


def read_descriptor(path: Path | str) -> CommitLogDescriptor:
    """Read and check the header of the segment at ``path``."""
    with open(path, "rb") as fh:
        head = fh.read(_FIXED.size + _MAX_PARAMS + _CRC.size)
    return parse_descriptor(head, path)


@dataclass(frozen=True, slots=True)
class SegmentFileName:
    """What a segment's (or its CDC index's) file name says."""

    version: int
    segment_id: int
    is_cdc_index: bool

    @property
    def log_name(self) -> str:
        return segment_file_name(self.version, self.segment_id)

    @property
    def index_name(self) -> str:
        return cdc_index_file_name(self.version, self.segment_id)


def parse_segment_file_name(name: str) -> SegmentFileName:
    """``CommitLog-<version>-<id>.log`` or ``..._cdc.idx``; follows CommitLogDescriptor.fromFileName."""
    match = _SEGMENT_NAME.fullmatch(Path(name).name)
    if match is None:
        raise ValueError(f"{name!r} is not a commit-log segment name (CommitLog-<version>-<id>.log)")
    return SegmentFileName(int(match.group(1)), int(match.group(2)), match.group(3) == "_cdc.idx")


def is_segment_file_name(name: str) -> bool:
    match = _SEGMENT_NAME.fullmatch(Path(name).name)
    return match is not None and match.group(3) == ".log"


def segment_file_name(version: int, segment_id: int) -> str:
    return f"CommitLog-{version}-{segment_id}.log"


def cdc_index_file_name(version: int, segment_id: int) -> str:
    return f"CommitLog-{version}-{segment_id}_cdc.idx"
