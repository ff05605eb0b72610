"""The pipeline runner: schema, sinks, one lane per sink, supervision, retention, clean shutdown.

Every sink runs in a lane of its own (pipeline.lane), from its own committed positions, so a slow
or failing sink never holds the others back. A lane whose sink fails for good (a non-retryable
SinkError, or retries exhausted) is *parked*: its sink is closed and, after an exponential backoff
with jitter (the retry policy, via tenacity), a fresh sink is built, opened and the lane resumes
from the positions that sink committed; the segments it still needs are kept meanwhile
(pipeline.retention). ``shutdown`` asks every lane to commit what it holds and waits up to the
grace period.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cassandra_cdc.commitlog.encryption import EncryptionError
from cassandra_cdc.commitlog.follower import GapDetected
from cassandra_cdc.config.model import (
    ClickHouseSinkSettings,
    PipelineConfig,
    PostgresSinkSettings,
    RetrySettings,
    SchemaSettings,
    SinkSettings,
    TableSelection,
    TimescaleSinkSettings,
)
from cassandra_cdc.deadletter.recorder import DeadLetterRecorder
from cassandra_cdc.deadletter.settings import DeadLetterQueueSettings, build_recorder
from cassandra_cdc.observability.tracing import Tracer
from cassandra_cdc.pipeline.disk_guard import DiskGuard, ResyncMarker, ResyncMarkers, default_cdc_total_space
from cassandra_cdc.pipeline.lane import Problem, RetryPolicy, SafeObserver, SinkLane, SourceNode, Transform
from cassandra_cdc.pipeline.retention import RetentionCoordinator, backlog_bytes, durable_segments
from cassandra_cdc.schema.loader import SchemaLoadReport, load_schema
from cassandra_cdc.schema.model import Schema, TableSchema
from cassandra_cdc.sinks.base import ConflictRules, Sink
from cassandra_cdc.transform import Masker, masker_from_config

log = logging.getLogger(__name__)

SinkFactory = Callable[[str, SinkSettings], Sink]


class PipelineSetupError(ValueError):
    """The pipeline cannot be built from the configuration; the message names the field."""


# --- building blocks -------------------------------------------------------------------------------


def build_schema(settings: SchemaSettings) -> tuple[Schema, SchemaLoadReport]:
    """Load the schema the configuration names (a .cql file or directory, recorded rows, or a cluster)."""
    report = SchemaLoadReport(source="schema")
    if settings.cluster is not None:
        from cassandra_cdc.schema.system_schema import load_from_cluster

        cluster = settings.cluster
        try:
            return load_from_cluster(
                cluster.contact_points,
                cluster.port,
                username=cluster.username,
                password=cluster.password.get_secret_value() if cluster.password is not None else None,
                keyspaces=cluster.keyspaces,
                connect_timeout=cluster.connect_timeout,
            )
        except Exception as exc:
            raise PipelineSetupError(f"schema.cluster: cannot read the schema: {exc}") from exc
    path = settings.cql if settings.cql is not None else settings.rows
    field = "schema.cql" if settings.cql is not None else "schema.rows"
    assert path is not None
    try:
        return load_schema(path, report), report
    except (OSError, ValueError) as exc:
        raise PipelineSetupError(f"{field}: {path}: {exc}") from exc


def table_selector(selection: TableSelection) -> Callable[[TableSchema], bool]:
    """``include`` globs over ``keyspace.table`` (none: tables with cdc = true), minus ``exclude``."""
    include, exclude = list(selection.include), list(selection.exclude)

    def selected(table: TableSchema) -> bool:
        name = table.qualified_name
        if any(fnmatch.fnmatchcase(name, p) for p in exclude):
            return False
        if not include:
            return table.cdc
        return any(fnmatch.fnmatchcase(name, p) for p in include)

    return selected


def build_nodes(config: PipelineConfig) -> list[SourceNode]:
    nodes = []
    for node_id, source in config.sources.items():
        encryption = None
        if source.encryption is not None:
            try:
                encryption = source.encryption.build()
            except (OSError, EncryptionError) as exc:
                raise PipelineSetupError(f"sources.{node_id}.encryption: {exc}") from exc
        nodes.append(SourceNode(node_id, source.cdc_raw, encryption, source.mode, source.stale_index_timeout))
    return nodes


def retry_policy(settings: RetrySettings) -> RetryPolicy:
    return RetryPolicy(settings.attempts, settings.base, settings.cap, settings.multiplier, settings.jitter)


def build_sink(name: str, settings: SinkSettings) -> Sink:
    """A sink object from its settings (sink modules are imported only when used)."""
    rules = ConflictRules(settings.conflict_rules)
    connect_kwargs: dict[str, object] = {}
    if isinstance(settings, PostgresSinkSettings):
        from cassandra_cdc.pipeline.pg_watchdog import postgres_connect_kwargs

        connect_kwargs = postgres_connect_kwargs(
            settings.dsn.get_secret_value(), settings.connect_options, settings.query_timeout, name=name
        )
    if isinstance(settings, TimescaleSinkSettings):
        from cassandra_cdc.sinks.postgres.writer import CopyLoader, InsertLoader
        from cassandra_cdc.sinks.timescale import HypertableOptions, TimescaleSink

        return TimescaleSink(
            settings.dsn.get_secret_value(),
            name=name,
            hypertables={
                table: HypertableOptions(h.time_column, h.chunk_interval, h.compress_after, h.retention)
                for table, h in settings.hypertables.items()
            },
            conflict_rules=rules,
            overrides=settings.type_overrides,
            schema_names=settings.schema_names,
            positions_schema=settings.positions_schema,
            grace_seconds=settings.tombstone_grace,
            loader=CopyLoader() if settings.loader == "copy" else InsertLoader(),
            connect_kwargs=connect_kwargs,
        )
    if isinstance(settings, PostgresSinkSettings):
        from cassandra_cdc.sinks.postgres.writer import CopyLoader, InsertLoader, PostgresSink

        return PostgresSink(
            settings.dsn.get_secret_value(),
            name=name,
            conflict_rules=rules,
            overrides=settings.type_overrides,
            schema_names=settings.schema_names,
            positions_schema=settings.positions_schema,
            grace_seconds=settings.tombstone_grace,
            loader=InsertLoader() if settings.loader == "insert" else CopyLoader(),
            connect_kwargs=connect_kwargs,
            background=settings.background_commit,
        )
    if isinstance(settings, ClickHouseSinkSettings):
        from cassandra_cdc.sinks.clickhouse.writer import ClickHouseSink

        # It buffers across the lane's batches into large blocks; the lane counts only its durable positions.
        return ClickHouseSink(
            settings.url.get_secret_value(),
            name=name,
            conflict_rules=rules,
            overrides=settings.type_overrides,
            metadata_database=settings.metadata_database,
            flush_changes=settings.insert_changes,
            flush_interval=settings.insert_interval,
            grace_seconds=settings.tombstone_grace,
        )
    raise PipelineSetupError(f"sinks.{name}.type: unknown sink type")


def build_transform(config: PipelineConfig, schema: Schema) -> Transform | None:
    """The masking transform from the ``masking`` section (None when the section is empty)."""
    if not config.masking:
        return None
    secrets = {name: value.get_secret_value() for name, value in config.secrets.items()}
    try:
        return masker_from_config(config.masking, schema, secrets)
    except ValueError as exc:
        raise PipelineSetupError(str(exc) if str(exc).startswith("masking") else f"masking: {exc}") from exc


def build_tracer(config: PipelineConfig) -> Tracer:
    """Spans read -> decode -> mask -> write per sink, exported over OTLP when an endpoint is configured."""
    try:
        return Tracer(otlp_endpoint=config.observability.otlp_endpoint)
    except (ImportError, RuntimeError, ValueError) as exc:
        raise PipelineSetupError(f"observability.otlp_endpoint: {exc}") from exc


def build_dead_letter_recorder(
    config: PipelineConfig, schema: Schema, nodes: list[SourceNode], transform: Transform | None
) -> DeadLetterRecorder | None:
    """The dead-letter queue's recorder (None when the ``dead_letter`` section names no store)."""
    settings = DeadLetterQueueSettings.model_validate(config.dead_letter.model_dump(by_alias=True, exclude_none=True))
    if not settings.enabled:
        return None
    archive = config.retention.archive_dir
    segment_dirs = {n.node_id: [n.cdc_raw, *([archive / n.node_id] if archive is not None else [])] for n in nodes}
    encryption = {n.node_id: n.encryption for n in nodes if n.encryption is not None}
    masker = transform if isinstance(transform, Masker) else None
    return build_recorder(
        settings, schema=schema, masker=masker, segment_dirs=segment_dirs, segment_encryption=encryption
    )


# --- supervision -----------------------------------------------------------------------------------


@dataclass(slots=True)
class LaneStatus:
    sink: str
    state: str  # "starting", "running", "parked", "detached", "stopped"
    failures: int = 0
    reason: str | None = None
    next_probe_in: float | None = None
    batches: int = 0
    changes: int = 0
    problems: int = 0
    retries: int = 0


@dataclass(slots=True)
class _Supervised:
    name: str
    settings: SinkSettings
    lane: SinkLane
    retry: RetryPolicy
    state: str = "starting"
    failures: int = 0
    reason: str | None = None
    next_probe: float = 0.0
    batches_at_start: int = 0
    parked_since: float | None = None  # clock() at the first failure since it last committed (disk guard)
    close_pending: bool = False  # detached while its lane still ran: close the sink once it stops


class Pipeline:
    """Lanes for every enabled sink of ``config``, supervised; see the module docstring.

    ``sink_factory(name, settings)`` builds sinks (default :func:`build_sink`); ``observer`` gets the
    lane events (pipeline.lane.LaneObserver) plus ``on_backlog``/``on_disk_usage``/``on_state``;
    ``transform`` defaults to the masking section's masker.
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        schema: Schema | None = None,
        sink_factory: SinkFactory | None = None,
        observer: object | None = None,
        transform: Transform | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        if schema is None:
            schema, report = build_schema(config.schema_)
            report.log(log)
        self.schema = schema
        self.capture = table_selector(config.tables)
        self.tables = [t for t in schema.tables.values() if self.capture(t)]
        if not self.tables:
            raise PipelineSetupError(
                "tables: no table selected (none has cdc = true, or include/exclude leave nothing)"
            )
        for table in self.tables:
            if not table.cdc:
                log.warning(
                    "%s: included although cdc is not enabled: only changes sharing a segment with CDC "
                    "data reach cdc_raw, so it will be incomplete",
                    table.qualified_name,
                )
        self.nodes = build_nodes(config)
        self.transform = transform if transform is not None else build_transform(config, schema)
        self.sink_factory = sink_factory or build_sink
        self.observer = SafeObserver(observer)
        self.clock = clock
        self.dead_letter = build_dead_letter_recorder(config, schema, self.nodes, self.transform)
        # The lanes' events go to the observer, and gaps to the disk guard first.
        self._lane_observer = SafeObserver(_LaneEvents(self._on_gap, self.observer))
        lanes_at_once = config.parallelism.max_active_lanes
        gate = threading.Semaphore(lanes_at_once) if lanes_at_once is not None else None
        self.tracer = build_tracer(config)
        self._lanes: list[_Supervised] = []
        for name, settings in config.sinks.items():
            if not settings.enabled:
                continue
            policy = retry_policy(config.sink_retry(name))
            lane = SinkLane(
                self.sink_factory(name, settings),
                self.nodes,
                schema,
                capture=self.capture,
                batch_size=config.sink_batch_size(name),
                flush_interval=config.sink_flush_interval(name),
                poll_interval=config.batching.poll_interval,
                retry=policy,
                on_problem=self._problem,
                transform=self.transform,
                observer=self._lane_observer,
                tracer=self.tracer,
                purge_interval=settings.purge_interval,
                gate=gate,
            )
            self._lanes.append(_Supervised(name, settings, lane, policy))
        if not self._lanes:
            raise PipelineSetupError("sinks: every sink is disabled")
        retention = config.retention
        self.retention = RetentionCoordinator(
            self.nodes,
            [s.lane for s in self._lanes],
            mode=retention.mode,
            archive_dir=retention.archive_dir,
        )
        self._next_retention = 0.0
        guard = config.disk_guard
        self.disk_guard = DiskGuard(
            {
                node.node_id: config.sources[node.node_id].cdc_total_space or default_cdc_total_space(node.cdc_raw)
                for node in self.nodes
            },
            ResyncMarkers(guard.state_dir),
            warn_fraction=guard.warn_fraction,
            max_sink_lag_bytes=guard.max_sink_lag_bytes,
            max_parked_seconds=guard.max_parked_seconds,
            on_marker=self._on_marker,
        )
        self._stopping = False
        self._started = False

    # -- public ----------------------------------------------------------------------------------
    @property
    def lanes(self) -> dict[str, SinkLane]:
        return {s.name: s.lane for s in self._lanes}

    def sink_types(self) -> dict[str, str]:
        return {s.name: s.settings.type for s in self._lanes}

    def start(self) -> None:
        """Open every sink and start its lane; a sink that cannot open is parked, not fatal."""
        self._started = True
        for sup in self._lanes:
            marker = self.disk_guard.marker(sup.lane.name)
            if marker is not None:
                self._on_marker(marker)
                if marker.detached:
                    log.error("sink %s: detached, needs a re-sync (%s); not started", sup.name, marker.reason)
                    self._detach(sup, marker)
                    continue
            self._try_start(sup)

    def run(self, stop: threading.Event, *, on_started: Callable[[Pipeline], None] | None = None) -> bool:
        """Start, supervise until ``stop`` is set, shut down; True when every lane stopped cleanly."""
        self.start()
        if on_started is not None:
            on_started(self)
        try:
            while not stop.wait(self.config.shutdown.supervise_interval):
                self.supervise_once()
        finally:
            clean = self.shutdown()
        return clean

    def supervise_once(self) -> None:
        """Park failed lanes, probe parked ones that are due, and run retention when it is due."""
        now = self.clock()
        for sup in self._lanes:
            lane = sup.lane
            if sup.state == "running":
                if not lane.alive:
                    error = lane.error
                    if error is None:
                        sup.state = "stopped"
                    else:
                        self._park(sup, error)
                elif sup.failures and lane.stats.batches > sup.batches_at_start:
                    sup.failures = 0  # committed again: the next failure starts the backoff afresh
                    sup.parked_since = None  # and the disk guard's parked time
            elif sup.state == "parked" and not self._stopping and now >= sup.next_probe:
                self._probe(sup)
            elif sup.state == "detached" and sup.close_pending and not lane.alive:
                sup.close_pending = False
                self._close_sink(sup)
        if now >= self._next_retention:
            self._next_retention = now + self.config.retention.interval
            self.retention_pass()

    def retention_pass(self) -> None:
        durable = {node.node_id: durable_segments(node.cdc_raw) for node in self.nodes}
        backlogs: dict[str, dict[str, int]] = {}
        for sup in self._lanes:
            committed = sup.lane.committed_positions()
            backlogs[sup.name] = {
                node_id: backlog_bytes(segments, committed.get(node_id)) for node_id, segments in durable.items()
            }
        # Detach first, so this very pass frees what only a detached sink held.
        now = self.clock()
        for sup in self._lanes:
            if sup.state in ("detached", "stopped") or self._stopping:
                continue
            parked_for = now - sup.parked_since if sup.state == "parked" and sup.parked_since is not None else None
            marker = self.disk_guard.evaluate(sup.lane.name, parked_for, backlogs[sup.name])
            if marker is not None:
                self._detach(sup, marker)
        report = self.retention.run_once()
        for usage in self.disk_guard.check_usage(report.usage_bytes):
            self.observer.emit("on_disk_capacity", usage.node, usage.capacity)
        for node_id, used in report.usage_bytes.items():
            self.observer.emit("on_disk_usage", node_id, used)
        for sup in self._lanes:
            for node_id, backlog in backlogs[sup.name].items():
                self.observer.emit("on_backlog", sup.name, node_id, backlog)

    def status(self) -> list[LaneStatus]:
        now = self.clock()
        out = []
        for sup in self._lanes:
            stats = sup.lane.stats
            out.append(
                LaneStatus(
                    sup.name,
                    sup.state,
                    sup.failures,
                    sup.reason,
                    max(0.0, sup.next_probe - now) if sup.state == "parked" else None,
                    stats.batches,
                    stats.changes_written,
                    stats.problems,
                    stats.retries,
                )
            )
        return out

    def shutdown(self, grace: float | None = None) -> bool:
        """Let every lane commit what it holds and stop, within ``grace`` seconds; close the sinks."""
        self._stopping = True
        grace = self.config.shutdown.grace_period if grace is None else grace
        deadline = time.monotonic() + grace
        for sup in self._lanes:
            sup.lane.request_stop()
        for sup in self._lanes:
            sup.lane.join(max(0.0, deadline - time.monotonic()))
        clean = True
        for sup in self._lanes:
            lane = sup.lane
            if lane.alive:
                lane.abort()
                lane.join(1.0)
            if lane.alive:
                clean = False
                log.error("sink %s: did not stop within %.1fs; its last batch will be replayed", sup.name, grace)
                continue  # still inside the sink: closing it under the lane would only add errors
            if lane.error is not None and sup.state == "running":
                clean = False
                log.error("sink %s: stopped with an error: %s", sup.name, lane.error)
            self._close_sink(sup)
            if sup.state not in ("parked", "detached"):
                self._set_state(sup, "stopped", None)
        if self._started:
            try:
                self.retention.run_once()
            except Exception:
                log.exception("final retention pass failed")
        if self.dead_letter is not None:
            self.dead_letter.store.close()
        self.tracer.shutdown()  # flushes spans still held by the exporter
        return clean

    # -- internals -------------------------------------------------------------------------------
    def _problem(self, problem: Problem) -> None:
        if self.dead_letter is not None:
            self.dead_letter(problem)

    def _try_start(self, sup: _Supervised) -> None:
        try:
            sup.lane.open()
            sup.lane.start()
        except Exception as exc:
            self._park(sup, exc)
            return
        sup.batches_at_start = sup.lane.stats.batches
        self._set_state(sup, "running", None)

    def _park(self, sup: _Supervised, error: BaseException) -> None:
        if sup.parked_since is None:
            sup.parked_since = self.clock()
        sup.failures += 1
        delay = sup.retry.delay(sup.failures)
        sup.next_probe = self.clock() + delay
        reason = f"{type(error).__name__}: {error}"
        log.error("sink %s parked (failure %d): %s; next try in %.1fs", sup.name, sup.failures, reason, delay)
        self._close_sink(sup)
        self._set_state(sup, "parked", reason)

    def _probe(self, sup: _Supervised) -> None:
        log.info("sink %s: trying again after %d failure(s)", sup.name, sup.failures)
        try:
            sink = self.sink_factory(sup.name, sup.settings)
        except Exception as exc:
            self._park(sup, exc)
            return
        sup.lane.replace_sink(sink)
        self._try_start(sup)

    def _detach(self, sup: _Supervised, marker: ResyncMarker) -> None:
        """Stop ``sup``'s lane for good (until re-synced) and let retention go on without it."""
        self.retention.ignore(sup.lane.name)
        if sup.lane.alive:
            sup.lane.abort()  # the sink is closed by supervise_once once the lane has stopped
            sup.close_pending = True
        self._set_state(sup, "detached", f"needs re-sync: {marker.reason}")

    def _on_gap(self, sink: str, node: str, gap: GapDetected) -> None:
        self.disk_guard.gap(sink, gap)

    def _on_marker(self, marker: ResyncMarker) -> None:
        self.observer.emit("on_resync", marker.sink, marker.kind, marker.reason)

    def _close_sink(self, sup: _Supervised) -> None:
        try:
            sup.lane.sink.close()
        except Exception as exc:  # a sink that is down may fail to close; nothing is lost by it
            log.warning("sink %s: close failed: %s", sup.name, exc)

    def _set_state(self, sup: _Supervised, state: str, reason: str | None) -> None:
        changed = state != sup.state or reason != sup.reason
        sup.state, sup.reason = state, reason
        if changed:
            self.observer.emit("on_state", sup.name, state, reason)


class _LaneEvents:
    """The lanes' observer: gaps go to ``on_gap`` first, then every event to ``downstream``."""

    def __init__(self, on_gap: Callable[[str, str, GapDetected], None], downstream: SafeObserver) -> None:
        self._on_gap = on_gap
        self._downstream = downstream

    def on_gap(self, sink: str, node: str, gap: GapDetected) -> None:
        self._on_gap(sink, node, gap)
        self._downstream.emit("on_gap", sink, node, gap)

    def __getattr__(self, name: str) -> Callable[..., None]:
        if not name.startswith("on_") or getattr(self._downstream.target, name, None) is None:
            raise AttributeError(name)

        def forward(*args: object) -> None:
            self._downstream.emit(name, *args)

        return forward


def reload_masking(pipeline: Pipeline, config: PipelineConfig) -> None:
    """Apply ``config``'s masking rules and keys to the changes masked from now on (SIGHUP).

    Changes already delivered keep the tokens they were given; an invalid section, or one that would
    change how a key position is masked, raises and leaves the rules in force.
    """
    if not isinstance(pipeline.transform, Masker):
        raise PipelineSetupError("masking: the pipeline started without a masking section; restart it to add one")
    secrets = {name: value.get_secret_value() for name, value in config.secrets.items()}
    try:
        pipeline.transform.reload(config.masking, secrets)
    except ValueError as exc:
        raise PipelineSetupError(str(exc) if str(exc).startswith("masking") else f"masking: {exc}") from exc


def summary_line(pipeline: Pipeline) -> str:
    """One line saying what runs: nodes, tables, sinks (no secrets)."""
    config = pipeline.config
    sinks = ", ".join(f"{name} ({kind})" for name, kind in pipeline.sink_types().items())
    extras: list[str] = []
    if pipeline.transform is not None:
        extras.append("masking on")
    extras.append(f"retention {config.retention.mode}")
    return (
        f"cassandra-cdc: {len(pipeline.nodes)} node(s) [{', '.join(n.node_id for n in pipeline.nodes)}], "
        f"{len(pipeline.tables)} table(s), sinks: {sinks}; {'; '.join(extras)}"
    )
