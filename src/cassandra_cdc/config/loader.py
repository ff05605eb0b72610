"""Load and validate a pipeline configuration; every error names the field and where it was set.

``load_config("pipeline.yaml")`` reads the file, the ``.env`` file next to it (or ``env_file``) and
``CDC_*`` environment variables, resolves secret references (config.secrets), validates, and checks
that the files and directories it names exist. Failures raise :class:`ConfigError` whose
``messages`` read like ``pipeline.yaml:14: sinks.warehouse.batch_size: must be > 0 (got 0)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cassandra_cdc.config import model as m
from cassandra_cdc.config.secrets import SecretError, SecretResolver, VaultReader
from cassandra_cdc.config.sources import ConfigPathKey, ConfigSourceError, RawConfig, gather


class ConfigError(ValueError):
    """An invalid configuration; ``messages`` has one line per problem."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def load_config(
    path: str | Path,
    *,
    env_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    check_paths: bool = True,
) -> m.PipelineConfig:
    """Read, merge, resolve and validate; raises ConfigError (every problem found, not just the first)."""
    file = Path(path)
    try:
        raw = gather(file, env_file=Path(env_file) if env_file is not None else None, environ=environ)
    except ConfigSourceError as exc:
        raise ConfigError([str(exc)]) from None
    base_dir = file.resolve().parent
    errors: list[SecretError] = []
    vault_raw = raw.data.get("vault")
    resolver = SecretResolver(environ, raw.dotenv_values)
    if isinstance(vault_raw, dict):
        resolver.resolve_tree(vault_raw, ("vault",), errors)
    resolver.vault_factory = lambda: _vault_reader(vault_raw, base_dir, environ)
    for key in list(raw.data):
        if key != "vault":
            raw.data[key] = resolver.resolve_tree(raw.data[key], (key,), errors)
    if errors:
        raise ConfigError([_message(raw, e.path, str(e)) for e in errors])
    try:
        config = m.PipelineConfig.model_validate(raw.data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, raw, resolver.resolved)) from None
    m.resolve_relative_paths(config, base_dir)
    if check_paths:
        problems = path_problems(config)
        if problems:
            raise ConfigError([_message(raw, p, text) for p, text in problems])
    return config


def _vault_reader(raw: Any, base_dir: Path, environ: Mapping[str, str] | None) -> VaultReader:
    try:
        settings = m.VaultSettings.model_validate(raw or {})
        m.resolve_relative_paths(settings, base_dir)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"vault.{where}: {first['msg']}") from None
    token = settings.token.get_secret_value() if settings.token is not None else None
    if token is None and settings.token_file is not None:
        try:
            token = settings.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"vault.token_file: cannot read {settings.token_file}: {exc.strerror}") from None
    return VaultReader(
        settings.address,
        token,
        namespace=settings.namespace,
        verify=settings.verify,
        timeout=settings.timeout,
        environ=environ,
    )


# --- messages --------------------------------------------------------------------------------------


def _dotted(path: ConfigPathKey) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _message(raw: RawConfig, path: ConfigPathKey, text: str) -> str:
    origin = raw.origin(path)
    if origin is None:
        return f"{raw.file}: {_dotted(path)}: {text}"
    if origin.kind == "file":
        return f"{origin.describe()}: {_dotted(path)}: {text}"
    if origin.kind == "dotenv":
        return f"{raw.file}: {_dotted(path)}: {text} (set in {origin.describe()})"
    return f"{raw.file}: {_dotted(path)}: {text} (set by {origin.describe()})"


def _vocabulary() -> list[str]:
    names: set[str] = set()
    pending: list[type[BaseModel]] = [m.PipelineConfig]
    seen: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add("schema" if name == "schema_" else name)
            for candidate in _models_in(info.annotation):
                pending.append(candidate)
    return sorted(names)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        found.extend(_models_in(getattr(annotation, "__origin__", None)))
    return found


def format_validation_error(
    exc: ValidationError, raw: RawConfig, secret_paths: set[ConfigPathKey] | None = None
) -> list[str]:
    """One message per pydantic error, with the field's dotted path and where it was set."""
    secret_paths = secret_paths or set()
    messages: list[str] = []
    for error in exc.errors():
        loc = _clean_loc(tuple(error["loc"]))
        kind = error["type"]
        ctx = error.get("ctx") or {}
        text = str(error["msg"])
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
            text = "name must be letters, digits and '_' (it is part of CDC_* variable names)"
            if loc[:1] == ("sources",):
                text = "node id must be letters, digits, '_', '.', ':' or '-'"
        elif kind == "greater_than":
            text = f"must be > {ctx.get('gt')}"
        elif kind == "greater_than_equal":
            text = f"must be >= {ctx.get('ge')}"
        elif kind == "less_than_equal":
            text = f"must be <= {ctx.get('le')}"
        elif kind == "less_than":
            text = f"must be < {ctx.get('lt')}"
        elif kind == "missing":
            text = "required"
        elif kind == "extra_forbidden":
            name = str(loc[-1]) if loc else ""
            close = difflib.get_close_matches(name, _vocabulary(), n=1)
            text = "unknown setting" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            text = f"must be one of {', '.join(m.SINK_TYPES)}"
            tag = ctx.get("tag")
            if tag is not None:
                text += f" (got {tag!r})"
            loc = (*loc, "type") if loc[-1:] != ("type",) else loc
        elif kind == "value_error":
            text = text.removeprefix("Value error, ")
        elif kind == "too_short" and ctx.get("min_length") == 1:
            text = "must not be empty"
        else:
            text = text.replace("Input should be", "must be")
        value = error.get("input")
        shown = isinstance(value, int | float | bool) or (isinstance(value, str) and kind.startswith("literal"))
        if shown and kind != "extra_forbidden" and loc not in secret_paths:
            text += f" (got {value!r})"
        messages.append(_message(raw, loc, text))
    return messages


def _clean_loc(loc: tuple[Any, ...]) -> ConfigPathKey:
    """Drop pydantic's union tags (sinks.<name>.<type>.field -> sinks.<name>.field)."""
    cleaned: list[str | int] = []
    for index, part in enumerate(loc):
        if index == 2 and loc[:1] == ("sinks",) and part in m.SINK_TYPES:
            continue
        cleaned.append(part if isinstance(part, int) else str(part))
    return tuple(cleaned)


# --- files the configuration names -----------------------------------------------------------------


def path_problems(config: m.PipelineConfig) -> list[tuple[ConfigPathKey, str]]:
    """Files and directories that must exist before the pipeline starts."""
    problems: list[tuple[ConfigPathKey, str]] = []
    for node_id, source in config.sources.items():
        if not source.cdc_raw.is_dir():
            problems.append((("sources", node_id, "cdc_raw"), f"{source.cdc_raw} is not a directory"))
        keystore = source.encryption.keystore if source.encryption is not None else None
        if keystore is not None and not keystore.is_file():
            problems.append((("sources", node_id, "encryption", "keystore"), f"{keystore}: no such file"))
    schema = config.schema_
    if schema.cql is not None and not schema.cql.exists():
        problems.append((("schema", "cql"), f"{schema.cql}: no such file or directory"))
    if schema.rows is not None and not schema.rows.is_file():
        problems.append((("schema", "rows"), f"{schema.rows}: no such file"))
    if config.retention.mode == "archive" and config.retention.archive_dir is not None:
        parent = config.retention.archive_dir.parent
        if not parent.is_dir():
            problems.append((("retention", "archive_dir"), f"{parent} (its parent) is not a directory"))
    for field in ("directory", "path"):
        where = getattr(config.dead_letter, field)
        if where is not None and not where.parent.is_dir():
            problems.append((("dead_letter", field), f"{where.parent} is not a directory"))
    return problems
