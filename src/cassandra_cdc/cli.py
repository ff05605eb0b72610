"""The `cassandra-cdc` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cassandra_cdc.commitlog.encryption import EncryptionConfig, EncryptionError
from cassandra_cdc.commitlog.model import CommitLogPosition
from cassandra_cdc.pipeline.dlq_cli import dlq_app
from cassandra_cdc.pipeline.inspect import inspect_paths, summary_lines
from cassandra_cdc.schema.loader import load_schema_file_with_report

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Change-data-capture from Cassandra commit logs.")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command()
def inspect(
    paths: Annotated[list[Path], typer.Argument(help="Segment files, hint files or directories of them.")],
    schema: Annotated[Path, typer.Option("--schema", help="CQL schema (DESCRIBE ... WITH INTERNALS).")],
    keystore: Annotated[Path | None, typer.Option(help="JCEKS keystore holding the commit-log key.")] = None,
    keystore_password: Annotated[str | None, typer.Option(envvar="CDC_KEYSTORE_PASSWORD")] = None,
    key_alias: Annotated[str | None, typer.Option(help="Alias of the key in the keystore.")] = None,
    key: Annotated[str | None, typer.Option(envvar="CDC_COMMITLOG_KEY", help="Raw AES key, hex or base64.")] = None,
    from_position: Annotated[
        str | None, typer.Option("--from", help="Start after SEGMENT_ID:POSITION (a position printed earlier).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No summary on stderr.")] = False,
) -> None:
    """Print one JSON object per changed row, per line."""
    try:
        loaded, report = load_schema_file_with_report(schema)
    except (OSError, ValueError) as exc:
        raise _fail(f"{schema}: {exc}") from exc
    for message in report.messages():
        typer.echo(f"warning: {message}", err=True)
    encryption = None
    try:
        if keystore is not None:
            if keystore_password is None or key_alias is None:
                raise _fail("--keystore needs --keystore-password and --key-alias")
            encryption = EncryptionConfig.from_keystore(keystore, keystore_password, key_alias)
        elif key is not None:
            encryption = EncryptionConfig.from_raw_key(key)
    except (OSError, EncryptionError) as exc:
        raise _fail(f"{keystore or 'key'}: {exc}") from exc
    start = None
    if from_position is not None:
        try:
            start = CommitLogPosition.parse(from_position)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
    stats = inspect_paths(paths, loaded, sys.stdout, sys.stderr, encryption=encryption, start=start)
    if not quiet:
        for line in summary_lines(stats, loaded):
            typer.echo(line, err=True)
    if stats.errors:
        raise typer.Exit(1)


@app.command()
def demo(
    mutations: Annotated[int, typer.Option(help="How many mutations the simulated node writes.")] = 3000,
    duration: Annotated[float, typer.Option(help="Seconds over which the node writes them.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of the generated workload.")] = 1,
    sink: Annotated[
        list[str] | None,
        typer.Option("--sink", help="Only these sinks: postgres, timescaledb, clickhouse (repeatable)."),
    ] = None,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="After the summary, keep the pipeline and servers up until Ctrl-C.")
    ] = False,
    http_port: Annotated[int, typer.Option(help="Port of the status page and metrics (0: any free port).")] = 0,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep cdc_raw, pipeline.yaml and the archive here (default: a temp dir).")
    ] = None,
) -> None:
    """The whole pipeline on this machine: a simulated node, masking, embedded PostgreSQL, TimescaleDB, ClickHouse."""
    from rich.console import Console

    from cassandra_cdc.config.model import ObservabilitySettings
    from cassandra_cdc.pipeline.demo import SINK_KINDS, DemoOptions, prepare_workdir, run_demo
    from cassandra_cdc.pipeline.observe import configure_logging

    kinds = tuple(sink) if sink else SINK_KINDS
    unknown = [k for k in kinds if k not in SINK_KINDS]
    if unknown:
        raise _fail(f"--sink: unknown {', '.join(unknown)} (known: {', '.join(SINK_KINDS)})")
    if mutations <= 0 or duration <= 0:
        raise _fail("--mutations and --duration must be positive")
    if workdir is not None:
        try:
            prepare_workdir(workdir)
        except (OSError, ValueError) as exc:
            raise _fail(f"--workdir: {exc}") from None
    configure_logging(ObservabilitySettings(log_level="WARNING"))
    options = DemoOptions(
        mutations=mutations,
        duration=duration,
        seed=seed,
        sinks=kinds,
        http_port=http_port,
        keep_running=keep_running,
        workdir=workdir,
    )
    report = run_demo(options, console=Console())
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def audit(
    config: Annotated[Path, typer.Option("--config", "-c", help="The pipeline configuration (YAML).")],
    env_file: Annotated[Path | None, typer.Option(help="A .env file (default: .env next to the file).")] = None,
    sink: Annotated[
        list[str] | None, typer.Option("--sink", help="Audit only this sink (repeatable; default: every enabled one).")
    ] = None,
) -> None:
    """Check that no classified (PII/PHI) value reached a sink unmasked: exit 0 passed, 1 leak, 2 bad config.

    Reads the raw values from the configured sources' segments (cdc_raw, and the archive when
    retention archives) and every sink's final-state rows; prints a per-table report.
    """
    from cassandra_cdc.config.loader import ConfigError, load_config
    from cassandra_cdc.pipeline.audit import EXIT_CONFIG, render, run_audit
    from cassandra_cdc.pipeline.runner import PipelineSetupError

    try:
        loaded = load_config(config, env_file=env_file)
    except ConfigError as exc:
        for message in exc.messages:
            typer.echo(f"error: {message}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    try:
        result = run_audit(loaded, sinks=sink)
    except PipelineSetupError as exc:
        typer.echo(f"error: {config}: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    typer.echo(render(result))
    raise typer.Exit(result.exit_code)


@app.command("validate-config")
def validate_config(
    config: Annotated[Path, typer.Argument(help="The pipeline configuration (YAML).")],
    env_file: Annotated[Path | None, typer.Option(help="A .env file (default: .env next to the file).")] = None,
    schema_check: Annotated[
        bool, typer.Option("--schema/--no-schema", help="Also load the schema and check tables, overrides, masking.")
    ] = True,
) -> None:
    """Check a configuration without running it: exit 0 when valid, 2 with the errors on stderr."""
    from cassandra_cdc.config.loader import ConfigError, load_config
    from cassandra_cdc.pipeline.config_check import check_config

    try:
        loaded = load_config(config, env_file=env_file)
    except ConfigError as exc:
        for message in exc.messages:
            typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2) from None
    problems, notes = check_config(loaded, config, load_schema=schema_check)
    for message in problems:
        typer.echo(f"error: {message}", err=True)
    if problems:
        raise typer.Exit(2)
    for note in notes:
        typer.echo(note)


@app.command()
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="The pipeline configuration (YAML).")],
    env_file: Annotated[Path | None, typer.Option(help="A .env file (default: .env next to the file).")] = None,
) -> None:
    """Run the pipeline until SIGTERM or SIGINT; in-flight batches are committed before exit."""
    from cassandra_cdc.pipeline.cli_run import run_pipeline

    raise typer.Exit(run_pipeline(config, env_file))


@app.command()
def version() -> None:
    """Print the version."""
    from cassandra_cdc import __version__

    typer.echo(__version__)


app.add_typer(dlq_app, name="dlq", help="Dead-letter queue: list, show and replay what could not be delivered.")


def main() -> None:
    app()
