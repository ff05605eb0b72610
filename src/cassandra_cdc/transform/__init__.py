"""Masking of PII/PHI in row changes before any sink writes them (see docs/masking.md)."""

from cassandra_cdc.transform.config import MaskingConfig, MaskingConfigError, parse_masking_config
from cassandra_cdc.transform.masker import (
    Masker,
    MaskingState,
    compile_masking,
    masker_from_config,
    redacted_dict,
    redacted_repr,
)
from cassandra_cdc.transform.rules import MaskingError

__all__ = [
    "Masker",
    "MaskingConfig",
    "MaskingConfigError",
    "MaskingError",
    "MaskingState",
    "compile_masking",
    "masker_from_config",
    "parse_masking_config",
    "redacted_dict",
    "redacted_repr",
]
