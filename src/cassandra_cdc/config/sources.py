"""Where configuration values come from: the YAML file, a ``.env`` file, the environment.

Precedence (highest first): environment variables, the ``.env`` file, the YAML file. Nested keys
are joined with ``__`` after the ``CDC_`` prefix: ``CDC_SINKS__WAREHOUSE__BATCH_SIZE=2000``.
Environment names are case-insensitive, so a variable overrides the file's entry whose name
matches ignoring case (``CDC_SOURCES__NODE1__CDC_RAW`` reaches ``sources: {Node1: ...}``).

Each value remembers where it came from (:class:`Origin`) so that an error can name the file and
line, or the variable, that set it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

from cassandra_cdc.config.model import ENV_NESTED_DELIMITER, ENV_PREFIX, PipelineConfig

ConfigPathKey = tuple[str | int, ...]


class ConfigSourceError(ValueError):
    """A configuration file that cannot be read or parsed; the message names the file (and line)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where one value was set: a file line, a ``.env`` file or an environment variable."""

    kind: str  # "file", "dotenv", "env"
    where: str  # file name, or variable name
    line: int | None = None

    def describe(self) -> str:
        if self.kind == "env":
            return f"environment variable {self.where}"
        if self.kind == "dotenv":
            return f"{self.where} ({self.line_name()})"
        return f"{self.where}:{self.line}" if self.line is not None else self.where

    def line_name(self) -> str:
        return f"line {self.line}" if self.line is not None else "entry"


@dataclass(slots=True)
class RawConfig:
    """The merged, not yet validated configuration and the origin of its values."""

    data: dict[str, Any]
    file: Path
    origins: dict[ConfigPathKey, Origin] = field(default_factory=dict)
    dotenv_values: dict[str, str] = field(default_factory=dict)

    def origin(self, path: ConfigPathKey) -> Origin | None:
        """The origin of ``path``, or of its nearest enclosing key that has one."""
        for end in range(len(path), 0, -1):
            found = self.origins.get(path[:end])
            if found is not None:
                return found
        return None


# --- YAML ------------------------------------------------------------------------------------------


def read_yaml(path: Path) -> tuple[dict[str, Any], dict[ConfigPathKey, int]]:
    """The file's top-level mapping, and the (1-based) line of every key in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigSourceError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigSourceError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigSourceError(f"{where}: not valid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigSourceError(f"{path}: the top level must be a mapping of settings, not {type(data).__name__}")
    lines: dict[ConfigPathKey, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, lines


def _collect_lines(node: yaml.Node, prefix: ConfigPathKey, lines: dict[ConfigPathKey, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            path = (*prefix, str(key_node.value))
            lines[path] = key_node.start_mark.line + 1
            _collect_lines(value_node, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = (*prefix, index)
            lines[path] = item.start_mark.line + 1
            _collect_lines(item, path, lines)


def normalise_sources(data: dict[str, Any], lines: dict[ConfigPathKey, int]) -> None:
    """``sources`` may be a list of ``{node_id: ..., cdc_raw: ...}``: make it a mapping by node id.

    (Environment variables address nodes by id, so the merged form is a mapping.)
    """
    sources = data.get("sources")
    if not isinstance(sources, list):
        return
    mapping: dict[str, Any] = {}
    for index, item in enumerate(sources):
        if not isinstance(item, dict) or "node_id" not in item:
            # Leave it to validation, which will name sources.<index>.
            mapping[str(index)] = item
            continue
        entry = dict(item)
        node_id = str(entry.pop("node_id"))
        if node_id in mapping:
            line = lines.get(("sources", index))
            raise ConfigSourceError(f"line {line}: sources: node_id {node_id!r} appears twice")
        mapping[node_id] = entry
        for path, line in list(lines.items()):
            if path[:2] == ("sources", index):
                lines[("sources", node_id, *path[2:])] = line
    data["sources"] = mapping


# --- environment -----------------------------------------------------------------------------------


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``CDC_*`` variables as a nested mapping (pydantic-settings' parsing: JSON for lists/maps)."""
    source = EnvSettingsSource(PipelineConfig)
    if environ is not None:
        source.env_vars = {k.lower(): v for k, v in environ.items()}
    return _rename_schema(source())


def dotenv_values(path: Path | None) -> tuple[dict[str, Any], dict[str, str]]:
    """``CDC_*`` entries of a ``.env`` file as a nested mapping, and every entry as read (for ${env:})."""
    if path is None or not path.is_file():
        return {}, {}
    from dotenv import dotenv_values as read_dotenv

    plain = {k: v for k, v in read_dotenv(path).items() if v is not None}
    source = DotEnvSettingsSource(PipelineConfig, env_file=path)
    fields = set(PipelineConfig.model_fields) | {"schema"}
    # Entries without the prefix (secrets for ${env:NAME}) come back as extras: not settings.
    nested = {k: v for k, v in _rename_schema(source()).items() if k in fields}
    return nested, plain


def _rename_schema(values: dict[str, Any]) -> dict[str, Any]:
    if "schema_" in values:
        values["schema"] = values.pop("schema_")
    return values


def env_var_name(path: ConfigPathKey) -> str:
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(p).upper() for p in path)


# --- merging ---------------------------------------------------------------------------------------


def merge(
    base: dict[str, Any],
    override: Mapping[str, Any],
    origins: dict[ConfigPathKey, Origin],
    origin_of: Any,
    prefix: ConfigPathKey = (),
) -> None:
    """Deep-merge ``override`` into ``base``; keys match ignoring case; records each leaf's origin.

    ``origin_of(path)`` gives the Origin of an overriding leaf.
    """
    by_lower = {k.lower(): k for k in base if isinstance(k, str)}
    for key, value in override.items():
        target = by_lower.get(key.lower(), key)
        path = (*prefix, target)
        current = base.get(target)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merge(current, value, origins, origin_of, path)
            continue
        base[target] = _plain(value)
        for known in [p for p in origins if p[: len(path)] == path]:
            del origins[known]  # the file's lines below a replaced value no longer apply
        _record(base[target], path, origins, origin_of)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _record(value: Any, path: ConfigPathKey, origins: dict[ConfigPathKey, Origin], origin_of: Any) -> None:
    origins[path] = origin_of(path)
    if isinstance(value, dict):
        for key, item in value.items():
            _record(item, (*path, key), origins, origin_of)


def gather(
    file: Path,
    *,
    env_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> RawConfig:
    """Read ``file``, then apply ``env_file`` (default: ``.env`` next to ``file``) and the environment."""
    data, lines = read_yaml(file)
    try:
        normalise_sources(data, lines)
    except ConfigSourceError as exc:
        raise ConfigSourceError(f"{file}: {exc}") from None
    name = str(file)
    origins: dict[ConfigPathKey, Origin] = {path: Origin("file", name, line) for path, line in lines.items()}
    raw = RawConfig(data, file, origins)
    dotenv_path = env_file if env_file is not None else file.parent / ".env"
    nested, plain = dotenv_values(dotenv_path)
    raw.dotenv_values = plain
    dotenv_lines = _dotenv_lines(dotenv_path) if nested else {}

    def from_dotenv(path: ConfigPathKey) -> Origin:
        return Origin("dotenv", str(dotenv_path), dotenv_lines.get(env_var_name(path)))

    merge(raw.data, nested, raw.origins, from_dotenv)
    merge(raw.data, environment_values(environ), raw.origins, lambda path: Origin("env", env_var_name(path)))
    return raw


def _dotenv_lines(path: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return found
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().removeprefix("export ").strip()
        name, sep, _ = stripped.partition("=")
        if sep and not stripped.startswith("#"):
            found[name.strip().upper()] = number
    return found
