"""Checks of a loaded configuration against what it refers to: the schema, keys, the masking rules.

``validate-config`` runs them after ``load_config``; each message names the file and the field.
"""

from __future__ import annotations

from pathlib import Path

from cassandra_cdc.config.model import PipelineConfig, TimescaleSinkSettings
from cassandra_cdc.pipeline.runner import (
    PipelineSetupError,
    build_nodes,
    build_schema,
    build_transform,
    table_selector,
)


def check_config(config: PipelineConfig, path: Path, *, load_schema: bool = True) -> tuple[list[str], list[str]]:
    """(problems, notes): problems make the configuration invalid; notes say what it describes."""
    problems: list[str] = []
    notes: list[str] = []
    try:
        build_nodes(config)  # loads keystores and keys
    except PipelineSetupError as exc:
        problems.append(f"{path}: {exc}")
    if not load_schema or config.schema_.cluster is not None:
        notes.append(f"{path}: valid (schema not loaded: tables, overrides and masking not checked)")
        return problems, notes
    try:
        schema, report = build_schema(config.schema_)
    except PipelineSetupError as exc:
        problems.append(f"{path}: {exc}")
        return problems, notes
    notes.extend(f"warning: {path}: schema: {m}" for m in report.messages())
    selected = [t for t in schema.tables.values() if table_selector(config.tables)(t)]
    if not selected:
        problems.append(f"{path}: tables: no table selected (none has cdc = true, or include/exclude leave nothing)")
    names = {t.qualified_name: t for t in schema.tables.values()}
    for pattern in config.tables.include:
        if not any(table_selector(type(config.tables)(include=[pattern]))(t) for t in schema.tables.values()):
            problems.append(f"{path}: tables.include: {pattern!r} matches no table of the schema")
    for sink_name, sink in config.sinks.items():
        for table_name, columns in sink.type_overrides.items():
            table = names.get(table_name)
            where = f"{path}: sinks.{sink_name}.type_overrides.{table_name}"
            if table is None:
                problems.append(f"{where}: no such table in the schema")
                continue
            problems.extend(f"{where}.{c}: no such column" for c in columns if table.column(c) is None)
        if isinstance(sink, TimescaleSinkSettings):
            for table_name, hyper in sink.hypertables.items():
                table = names.get(table_name)
                where = f"{path}: sinks.{sink_name}.hypertables.{table_name}"
                if table is None:
                    problems.append(f"{where}: no such table in the schema")
                elif table.column(hyper.time_column) is None:
                    problems.append(f"{where}.time_column: no column {hyper.time_column!r}")
    try:
        build_transform(config, schema)
    except PipelineSetupError as exc:
        problems.append(f"{path}: {exc}")
    if not problems:
        sinks = ", ".join(f"{name} ({s.type})" for name, s in config.sinks.items())
        notes.append(f"{path}: valid: {len(config.sources)} node(s), {len(selected)} table(s) selected, sinks: {sinks}")
    return problems, notes
