"""``cassandra-cdc dlq``: list, show and replay dead letters.

Mount with ``app.add_typer(dlq_app, name="dlq")``. The store comes from ``--config pipeline.yaml``
(its ``dead_letter`` section) or ``--store DIR`` (a JSONL store directory; overrides the config).
Keys that unseal raw entries come from the config or ``CASSANDRA_CDC_DLQ_KEYS`` ("id=key,id=key").
``show`` prints the letter with its masked rendering; raw bytes are never printed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from cassandra_cdc.deadletter.crypto import DeadLetterKeyError, Keyring
from cassandra_cdc.deadletter.jsonl_store import JsonlStore
from cassandra_cdc.deadletter.model import STATUSES, DeadLetter, EncryptedBlob, LetterFilter, Status
from cassandra_cdc.deadletter.settings import DeadLetterQueueSettings, build_keyring, build_store, settings_from
from cassandra_cdc.deadletter.store import DeadLetterNotFoundError, DeadLetterStore, DeadLetterStoreError

KEYS_ENV = "CASSANDRA_CDC_DLQ_KEYS"

dlq_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="The dead-letter queue: what failed permanently, and replay."
)

ConfigOption = Annotated[Path | None, typer.Option("--config", help="The pipeline configuration (pipeline.yaml).")]
StoreOption = Annotated[Path | None, typer.Option("--store", help="A JSONL dead-letter store directory.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@dataclass
class _Context:
    store: DeadLetterStore
    settings: DeadLetterQueueSettings
    config: Any  # PipelineConfig when --config was given


@contextmanager
def _open(config_path: Path | None, store_dir: Path | None) -> Iterator[_Context]:
    config: Any = None
    settings = DeadLetterQueueSettings()
    if config_path is not None:
        from cassandra_cdc.config import ConfigError, load_config

        try:
            config = load_config(config_path)
            settings = settings_from(config.dead_letter)
        except ConfigError as exc:
            raise _fail(str(exc)) from None
        except ValueError as exc:
            raise _fail(f"{config_path}: dead_letter: {exc}") from None
    try:
        if store_dir is not None:
            store: DeadLetterStore = JsonlStore(store_dir, max_bytes=settings.max_bytes, max_files=settings.max_files)
        elif settings.enabled:
            store = build_store(settings)
        else:
            raise _fail("no dead-letter store: give --store DIR, or --config with a dead_letter section")
    except (DeadLetterStoreError, ValueError) as exc:
        raise _fail(str(exc)) from None
    try:
        yield _Context(store, settings, config)
    finally:
        store.close()


def _public(letter: DeadLetter) -> dict[str, Any]:
    """The letter as shown: the raw entry described, never its bytes."""
    data = letter.to_dict()
    raw = letter.raw
    if isinstance(raw, EncryptedBlob):
        data["raw"] = {"type": "encrypted", "key_id": raw.key_id, "bytes": len(raw.ciphertext) - 16}
    return data


@dlq_app.command("list")
def list_letters(
    config: ConfigOption = None,
    store: StoreOption = None,
    status: Annotated[str | None, typer.Option(help="pending, replayed or failed.")] = None,
    destination: Annotated[str | None, typer.Option(help="Only letters for this sink.")] = None,
    kind: Annotated[str | None, typer.Option(help="e.g. value_rejected, undecodable_entry.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List dead letters, oldest first."""
    if status is not None and status not in STATUSES:
        raise _fail(f"--status must be one of {', '.join(STATUSES)}")
    where = LetterFilter(status=_status(status), destination=destination, kind=kind)
    with _open(config, store) as ctx:
        try:
            letters = ctx.store.list(where)
        except DeadLetterStoreError as exc:
            raise _fail(str(exc)) from None
    for letter in letters:
        if as_json:
            typer.echo(json.dumps(_public(letter), sort_keys=True))
            continue
        typer.echo(
            f"{letter.id}  {letter.status:<8}  {letter.kind:<17}  {letter.destination or '-':<12}  "
            f"{letter.source_node}:{letter.segment_id}:{letter.position}  {letter.table or '-'}  "
            f"attempts={letter.replay_attempts}  {letter.error[:100]}"
        )
    if not as_json:
        typer.echo(f"{len(letters)} dead letter(s)", err=True)


@dlq_app.command("show")
def show(
    letter_id: Annotated[str, typer.Argument(help="The letter's id.")],
    config: ConfigOption = None,
    store: StoreOption = None,
) -> None:
    """Show one letter: context, error, stack trace and the masked rendering (never raw values)."""
    with _open(config, store) as ctx:
        try:
            letter = ctx.store.get(letter_id)
        except DeadLetterNotFoundError as exc:
            raise _fail(str(exc)) from None
    typer.echo(json.dumps(_public(letter), indent=2, sort_keys=True, ensure_ascii=False))


def _env_keys() -> dict[str, str]:
    text = os.environ.get(KEYS_ENV, "").strip()
    keys = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key_id, sep, value = item.partition("=")
        if not sep:
            raise _fail(f"{KEYS_ENV}: expected id=key pairs separated by commas")
        keys[key_id.strip()] = value.strip()
    return keys


@dlq_app.command("replay")
def replay_cmd(
    letter_ids: Annotated[list[str] | None, typer.Argument(help="Letter ids (or --all).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="The pipeline configuration (required).")] = None,
    store: StoreOption = None,
    all_letters: Annotated[bool, typer.Option("--all", help="Every pending or failed letter.")] = False,
    status: Annotated[str | None, typer.Option(help="With --all: only pending, or only failed.")] = None,
    active_key: Annotated[str | None, typer.Option(help="Active key id when keys come from the environment.")] = None,
) -> None:
    """Re-apply letters through their sinks (idempotent; positions untouched); marks them replayed/failed."""
    if config is None:
        raise _fail("replay needs --config (schema, sinks and masking come from it)")
    if bool(letter_ids) == all_letters:
        raise _fail("give letter ids or --all (not both)")
    if status is not None and status not in STATUSES:
        raise _fail(f"--status must be one of {', '.join(STATUSES)}")
    with _open(config, store) as ctx:
        try:
            keyring = build_keyring(ctx.settings, _env_keys())
            if keyring is not None and active_key is not None:
                keyring = Keyring(keyring.keys, active_key)
        except DeadLetterKeyError as exc:
            raise _fail(str(exc)) from None
        outcomes = _run_replay(ctx, letter_ids or None, status, keyring)
    failed = 0
    for outcome in outcomes:
        detail = f"{outcome.changes} change(s) -> {', '.join(outcome.sinks)}" if outcome.status == "replayed" else ""
        if outcome.error:
            detail = outcome.error
            failed += 1
        typer.echo(f"{outcome.letter_id}  {outcome.status}  {detail}".rstrip())
    typer.echo(f"{len(outcomes) - failed} replayed or skipped, {failed} failed", err=True)
    if failed:
        raise typer.Exit(1)


def _run_replay(ctx: _Context, letter_ids: list[str] | None, status: str | None, keyring: Keyring | None) -> list[Any]:
    from cassandra_cdc.deadletter.replay import replay
    from cassandra_cdc.pipeline import runner

    config = ctx.config
    try:
        schema, _ = runner.build_schema(config.schema_)
        selected = runner.table_selector(config.tables)
        masker = runner.build_transform(config, schema)
        nodes = runner.build_nodes(config)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        letters = [ctx.store.get(i) for i in letter_ids] if letter_ids is not None else None
    except DeadLetterNotFoundError as exc:
        raise _fail(str(exc)) from None
    where = LetterFilter(status=_status(status))
    chosen = letters if letters is not None else [le for le in ctx.store.list(where) if le.status != "replayed"]
    wanted = {le.destination for le in chosen}
    names = [n for n, s in config.sinks.items() if s.enabled and (None in wanted or n in wanted)]
    tables = [t for t in schema.tables.values() if selected(t)]
    with ExitStack() as stack:
        sinks = {}
        for name in names:
            sink = runner.build_sink(name, config.sinks[name])
            stack.callback(sink.close)
            sink.start(tables)
            sinks[name] = sink
        return replay(
            ctx.store,
            [le.id for le in chosen],
            schema=schema,
            sinks=sinks,
            keyring=keyring,
            masker=masker,
            segment_encryption={n.node_id: n.encryption for n in nodes if n.encryption is not None},
            include_replayed=letter_ids is not None,
        )


def _status(value: str | None) -> Status | None:
    return value if value in STATUSES else None  # type: ignore[return-value]
