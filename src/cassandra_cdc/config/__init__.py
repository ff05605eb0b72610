"""Pipeline configuration: YAML + .env + CDC_* environment variables + secret references (docs/configuration.md)."""

from cassandra_cdc.config.loader import ConfigError, load_config
from cassandra_cdc.config.model import (
    ClickHouseSinkSettings,
    PipelineConfig,
    PostgresSinkSettings,
    RetrySettings,
    SinkSettings,
    SourceSettings,
    TimescaleSinkSettings,
)

__all__ = [
    "ClickHouseSinkSettings",
    "ConfigError",
    "PipelineConfig",
    "PostgresSinkSettings",
    "RetrySettings",
    "SinkSettings",
    "SourceSettings",
    "TimescaleSinkSettings",
    "load_config",
]
