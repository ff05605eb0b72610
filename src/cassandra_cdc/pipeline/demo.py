"""`cassandra-cdc demo`: the whole pipeline on one machine, with nothing set up beforehand.

A simulated Cassandra 4.0 node writes a realistic workload (users with PII, patients with PHI,
orders, sensor readings; inserts, partial updates, TTLs, deletes) as real commit-log segments
into a temporary cdc_raw while the real :class:`~cassandra_cdc.pipeline.runner.Pipeline` runs,
from a ``pipeline.yaml`` the demo writes (and prints the path of): masking of the PII/PHI columns,
embedded PostgreSQL, TimescaleDB (PGlite) and ClickHouse (chdb) sinks (one that cannot start here
is skipped with its reason), the observability endpoint with its status page.

At the end it checks what it claims: every sink's row count per table equals the reference model
(``cassandra_cdc.oracle``) fed the *masked* changes read back from the segments; lag percentiles
come from the pipeline's metrics; the audit reads every sink back and looks for raw PII/PHI.
"""

from __future__ import annotations

import bisect
import contextlib
import importlib.util
import secrets
import shutil
import signal
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.config import load_config
from cassandra_cdc.config.model import PipelineConfig
from cassandra_cdc.observability.metrics import Percentiles
from cassandra_cdc.oracle import Oracle
from cassandra_cdc.pipeline.audit import SinkReader, first_line, masker_for, open_reader, raw_changes, run_audit
from cassandra_cdc.pipeline.observe import Observability, register_pipeline, start_observability
from cassandra_cdc.pipeline.runner import Pipeline
from cassandra_cdc.schema.model import Schema
from cassandra_cdc.servers.managed import ManagedServer
from cassandra_cdc.simulator.demo_workload import demo_generator
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import DEMO_CQL
from cassandra_cdc.transform.audit import AuditReport

# Cassandra 4.0+ commit-log messaging version: what the simulated node writes.
MESSAGING_VERSION = 12
NODE_ID = "node1"
# Sized to finish in well under a minute on 2 cores, servers' start included: PGlite (TimescaleDB
# in WASM) is the slowest sink (a few hundred changes per second), so the default stays modest.
DEFAULT_MUTATIONS = 3000
DEFAULT_DURATION = 10.0
SINK_KINDS = ("postgres", "timescaledb", "clickhouse")
SAMPLE_TABLES = {
    "users": ["user_id", "name", "email", "phone", "home"],
    "patients": ["patient_id", "ssn", "name", "date_of_birth", "diagnosis", "notes"],
}

PIPELINE_YAML = """\
# Written by `cassandra-cdc demo`: a real pipeline configuration (docs/configuration.md).
# Check it: cassandra-cdc validate-config {path}
# Audit it: cassandra-cdc audit --config {path}      (while the servers run: demo --keep-running)
# Secrets (masking pepper and token key) are in the .env file next to this one.

sources:
  {node}: {{cdc_raw: cdc_raw}}      # the simulated node's cdc_raw

schema: {{cql: schema.cql}}

tables: {{include: ["demo.*"]}}

sinks:
{sinks}
masking:                             # docs/masking.md: every change is masked before any sink sees it
  pepper: "secret:demo_pepper"
  keys: {{v1: "secret:demo_token_key"}}
  active_key: v1
  tables:
    demo.users:
      user_id:      {{classification: pii, rule: hash}}          # a key: one-to-one, joins still work
      email:        {{classification: pii, rule: partial, keep: email_domain}}
      phone:        {{classification: pii, rule: partial, keep: last_digits, digits: 4}}
      name:         {{classification: pii, rule: hmac}}          # tok_v1_...: keyed, rotatable
      home:         {{classification: pii, rule: redact}}        # the address UDT...
      home.city:    {{classification: none, rule: none}}         # ...but its city and country
      home.country: {{classification: none, rule: none}}
    demo.patients:
      patient_id:    {{classification: phi, rule: hmac, key_version: v1}}
      ssn:           {{classification: phi, rule: hash}}
      name:          {{classification: phi, rule: hmac}}
      date_of_birth: {{classification: phi, rule: redact}}
      diagnosis:     {{classification: phi, rule: hmac}}         # same diagnosis, same token
      notes:         {{classification: phi, rule: redact}}
      allergies:     {{classification: phi, rule: hash}}
    demo.orders:
      user_id:          {{classification: pii, rule: hash}}      # the same token as demo.users.user_id
      shipping:         {{classification: pii, rule: redact}}
      shipping.city:    {{classification: none, rule: none}}
      shipping.country: {{classification: none, rule: none}}

secrets:
  demo_pepper: ${{env:DEMO_MASKING_PEPPER}}
  demo_token_key: ${{env:DEMO_TOKEN_KEY}}

batching: {{batch_size: 2000, flush_interval: 0.2, poll_interval: 0.02}}
observability:
  http: {{host: 127.0.0.1, port: {http_port}}}          # /status, /metrics, /health, /ready
  log_level: WARNING
retention: {{mode: archive, archive_dir: archive, interval: 0.5}}
dead_letter: {{directory: dead-letter}}            # docs/dead-letter-queue.md
shutdown: {{grace_period: 10, supervise_interval: 0.1}}
"""


# --- options and results ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoOptions:
    mutations: int = DEFAULT_MUTATIONS
    duration: float = DEFAULT_DURATION  # seconds over which the node writes them
    seed: int = 1
    sinks: tuple[str, ...] = SINK_KINDS
    http_port: int = 0  # 0: any free port
    keep_running: bool = False  # after the summary, until Ctrl-C
    workdir: Path | None = None  # keep the files here (default: a temporary directory, deleted)
    catch_up_timeout: float = 120.0


@dataclass(slots=True)
class SinkResult:
    name: str
    label: str
    endpoint: str
    state: str = "starting"
    reason: str | None = None
    caught_up: bool = False
    changes_written: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    read_error: str | None = None


@dataclass(slots=True)
class DemoReport:
    workdir: Path
    config_path: Path
    mutations: int = 0
    written: int = 0
    raw_changes: list[RowChange] = field(default_factory=list, repr=False)
    status_url: str | None = None
    status_answered: int | None = None  # HTTP status of /status fetched during the run
    skipped: dict[str, str] = field(default_factory=dict)
    sinks: dict[str, SinkResult] = field(default_factory=dict)
    oracle_counts: dict[str, int] = field(default_factory=dict)
    lag: dict[str, tuple[Percentiles, Percentiles]] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    samples_from: str | None = None
    audit: AuditReport | None = None
    audit_problems: dict[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0
    kept: bool = False  # the work directory outlives the demo (--workdir)

    @property
    def equal(self) -> bool:
        """Every running sink caught up and holds exactly the oracle's rows per table."""
        return bool(self.sinks) and all(
            s.caught_up and s.read_error is None and s.counts == self.oracle_counts for s in self.sinks.values()
        )

    @property
    def ok(self) -> bool:
        audit_ok = self.audit is not None and self.audit.ok and not self.audit_problems
        return self.equal and audit_ok and self.status_answered == 200 and self.written == self.mutations


# --- servers --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Server:
    kind: str
    label: str
    server: ManagedServer
    endpoint: str
    seconds: float


def _make_server(kind: str) -> tuple[str, ManagedServer]:
    if kind == "postgres":
        from cassandra_cdc.servers.postgres import PostgresServer

        return "PostgreSQL 15", PostgresServer()
    if kind == "timescaledb":
        from cassandra_cdc.servers.timescale import TimescaleServer

        return "TimescaleDB (PGlite)", TimescaleServer()
    if kind == "clickhouse":
        if importlib.util.find_spec("chdb") is None:
            raise RuntimeError("chdb is not installed (pip install 'cassandra-cdc[demo]', or run scripts/demo)")
        from cassandra_cdc.servers.clickhouse import ClickHouseWorker

        return "ClickHouse (chdb)", ClickHouseWorker()
    raise ValueError(f"unknown sink kind {kind!r} (known: {', '.join(SINK_KINDS)})")


def _endpoint(server: ManagedServer) -> str:
    return str(getattr(server, "dsn", "") or getattr(server, "url", ""))


def start_servers(kinds: tuple[str, ...]) -> tuple[dict[str, _Server], dict[str, str]]:
    """Start the embedded servers in parallel; a server that cannot start is skipped with its reason."""
    started: dict[str, _Server] = {}
    skipped: dict[str, str] = {}
    lock = threading.Lock()

    def start(kind: str) -> None:
        began = time.monotonic()
        try:
            label, server = _make_server(kind)
        except Exception as exc:
            with lock:
                skipped[kind] = first_line(exc)
            return
        try:
            server.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                server.close()
            with lock:
                skipped[kind] = first_line(exc)
            return
        with lock:
            started[kind] = _Server(kind, label, server, _endpoint(server), time.monotonic() - began)

    threads = [threading.Thread(target=start, args=(kind,), name=f"demo-start-{kind}") for kind in kinds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {k: started[k] for k in kinds if k in started}, {k: skipped[k] for k in kinds if k in skipped}


def stop_servers(servers: dict[str, _Server]) -> None:
    threads = [threading.Thread(target=_close_quietly, args=(s.server,)) for s in servers.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def _close_quietly(server: ManagedServer) -> None:
    with contextlib.suppress(Exception):
        server.close()


# --- configuration -------------------------------------------------------------------------------------


def _sink_yaml(kind: str, endpoint: str) -> str:
    if kind == "postgres":
        return f"  postgres: {{type: postgres, dsn: '{endpoint}'}}\n"
    if kind == "timescaledb":
        return (
            f"  timescaledb:\n    type: timescaledb\n    dsn: '{endpoint}'\n"
            "    hypertables: {demo.sensor_readings: {time_column: ts, chunk_interval: 1 day}}\n"
        )
    return f"  clickhouse: {{type: clickhouse, url: '{endpoint}'}}\n"


def write_demo_config(workdir: Path, servers: dict[str, _Server], http_port: int) -> Path:
    """schema.cql, pipeline.yaml and .env (fresh random secrets) in ``workdir``; returns the YAML's path."""
    (workdir / "cdc_raw").mkdir(parents=True, exist_ok=True)
    (workdir / "schema.cql").write_text(DEMO_CQL.lstrip(), encoding="utf-8")
    env = workdir / ".env"
    env.write_text(
        f"DEMO_MASKING_PEPPER={secrets.token_hex(32)}\nDEMO_TOKEN_KEY={secrets.token_hex(32)}\n", encoding="utf-8"
    )
    env.chmod(0o600)
    path = workdir / "pipeline.yaml"
    sinks = "".join(_sink_yaml(s.kind, s.endpoint) for s in servers.values())
    path.write_text(PIPELINE_YAML.format(path=path, node=NODE_ID, sinks=sinks, http_port=http_port), encoding="utf-8")
    return path


# --- the simulated node -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Writer:
    """Writes the workload in small sync sections spread over the duration, on the wall clock."""

    node: SimulatedNode
    schema: Schema
    mutations: int
    duration: float
    seed: int
    written: int = 0
    positions: list[tuple[int, int]] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            self._write()
        except BaseException as exc:  # reported by the demo: a writer failure must not hang it
            self.error = exc
        finally:
            with contextlib.suppress(Exception):
                self.node.close()  # the last segment COMPLETED: retention may archive it
            self.done.set()

    def _write(self) -> None:
        generator = demo_generator(self.schema, seed=self.seed, now=int(time.time()))
        encoder = MutationEncoder(self.schema)
        tick = 0.1
        sections = max(1, int(self.duration / tick))
        per_section = max(1, -(-self.mutations // sections))
        began = time.monotonic()
        section = 0
        while self.written < self.mutations and not self.stop.is_set():
            # Cassandra stamps writes with the coordinator's clock: keep the generator on the wall clock.
            generator.now = int(time.time())
            generator.timestamp = max(generator.timestamp, time.time_ns() // 1000)
            batch = generator.mutations(min(per_section, self.mutations - self.written))
            synced = self.node.sync([encoder.encode(m, MESSAGING_VERSION) for m in batch])
            self.positions.extend((p.segment_id, p.position) for p in synced)
            self.written += len(batch)
            section += 1
            delay = began + section * tick - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)

    def entries_before(self, position: tuple[int, int] | None) -> int:
        """How many written entries end at or before ``position``."""
        if position is None:
            return 0
        return bisect.bisect_right(self.positions, position)

    @property
    def last(self) -> tuple[int, int] | None:
        return self.positions[-1] if self.positions else None


# --- the run ---------------------------------------------------------------------------------------


class _Interrupted(Exception):
    pass


def run_demo(
    options: DemoOptions | None = None,
    *,
    console: Console | None = None,
    on_running: Callable[[DemoReport], None] | None = None,
) -> DemoReport:
    """Run the demo; ``on_running`` is called once while the pipeline runs and the node writes."""
    options = options or DemoOptions()
    console = console or Console(stderr=True)
    with _workdir(options.workdir) as workdir:
        report = DemoReport(
            workdir=workdir,
            config_path=workdir / "pipeline.yaml",
            mutations=options.mutations,
            kept=options.workdir is not None,
        )
        console.print(
            f"[bold]cassandra-cdc demo[/]: a simulated Cassandra 4.0 node writes {options.mutations} mutations "
            f"over {options.duration:g} s into {workdir / 'cdc_raw'}; starting the sinks' servers..."
        )
        servers, report.skipped = start_servers(options.sinks)
        try:
            for server in servers.values():
                console.print(
                    f"  [green]started[/] {server.label:22} {server.endpoint}  ({server.seconds:.1f} s)",
                    highlight=False,
                )
            for kind, reason in report.skipped.items():
                console.print(f"  [yellow]skipped[/] {kind}: {escape(reason)}", highlight=False)
            if not servers:
                console.print("[red]no sink could start here; nothing to demonstrate[/]")
                return report
            _run_pipeline(options, report, servers, console, on_running)
        finally:
            stop_servers(servers)
        report.elapsed = time.monotonic() - report.started_at
    return report


CONFIG_HEADER = "# Written by `cassandra-cdc demo`"


@contextlib.contextmanager
def _workdir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        prepare_workdir(given)
        yield given.resolve()
        return
    path = Path(tempfile.mkdtemp(prefix="cassandra-cdc-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def prepare_workdir(path: Path) -> None:
    """An empty directory, or a previous demo's (its segments, archive and dead letters are removed:
    the new run's segment ids start over). Anything else is refused (ValueError)."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "pipeline.yaml"
    if config.is_file() and config.read_text(encoding="utf-8").startswith(CONFIG_HEADER):
        for name in ("cdc_raw", "archive", "dead-letter"):
            shutil.rmtree(path / name, ignore_errors=True)
        return
    if any(path.iterdir()):
        raise ValueError(f"{path}: not empty and not a previous demo's directory; give an empty or new one")


def _run_pipeline(
    options: DemoOptions,
    report: DemoReport,
    servers: dict[str, _Server],
    console: Console,
    on_running: Callable[[DemoReport], None] | None,
) -> None:
    config_path = write_demo_config(report.workdir, servers, options.http_port)
    # The demo's own file only: the user's CDC_* variables are for their pipelines, not this one.
    config = load_config(config_path, environ={})
    observability = start_observability(config.observability)
    try:
        pipeline = Pipeline(config, observer=observability.observer)
        register_pipeline(observability, pipeline)
        if observability.server is not None:
            report.status_url = f"{observability.server.url}/status"
        console.print(f"config:      {config_path}  (secrets in {config_path.parent / '.env'})", highlight=False)
        console.print(f"status page: {report.status_url}  (metrics: /metrics)", highlight=False)
        for name, server in servers.items():
            report.sinks[name] = SinkResult(name, server.label, server.endpoint)
        stop = threading.Event()
        runner = threading.Thread(target=pipeline.run, args=(stop,), name="demo-pipeline", daemon=True)
        writer = _Writer(
            SimulatedNode(config.sources[NODE_ID].cdc_raw, segment_size=256 * 1024),
            pipeline.schema,
            options.mutations,
            options.duration,
            options.seed,
        )
        writer_thread = threading.Thread(target=writer.run, name="demo-node", daemon=True)
        runner.start()
        writer_thread.start()
        try:
            _follow(options, report, pipeline, writer, console, on_running)
            if writer.error is not None:
                raise RuntimeError(f"the simulated node failed: {first_line(writer.error)}")
            _wait_for_retention(config)
            _summarise(config, report, pipeline, observability)
            print_summary(report, console)
            if options.keep_running:
                _wait_for_interrupt(console)
        finally:
            writer.stop.set()
            writer_thread.join(10)
            stop.set()
            runner.join(config.shutdown.grace_period + 5)
    finally:
        observability.stop()


def _follow(
    options: DemoOptions,
    report: DemoReport,
    pipeline: Pipeline,
    writer: _Writer,
    console: Console,
    on_running: Callable[[DemoReport], None] | None,
) -> None:
    """Live progress until the node has written everything and every running sink committed it."""
    columns = (TextColumn("{task.description:28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    deadline: float | None = None
    with Progress(*columns, console=console, transient=False, refresh_per_second=8) as progress:
        node_task = progress.add_task(f"{NODE_ID} writes mutations", total=options.mutations)
        sink_tasks: dict[str, TaskID] = {
            name: progress.add_task(f"{name} commits", total=options.mutations) for name in report.sinks
        }
        while True:
            progress.update(node_task, completed=writer.written)
            states = {s.sink: s for s in pipeline.status()}
            at_end: dict[str, bool] = {}
            for name, task in sink_tasks.items():
                committed = pipeline.lanes[name].committed_positions().get(NODE_ID)
                position = (committed.segment_id, committed.position) if committed is not None else None
                done = writer.entries_before(position)
                status = states.get(name)
                state = status.state if status is not None else "starting"
                label = f"{name} commits" if state != "parked" else f"{name} [red]parked[/]"
                progress.update(task, completed=done, description=label)
                at_end[name] = writer.done.is_set() and position is not None and position == writer.last
            if report.status_answered is None and report.status_url is not None and writer.written > 0:
                report.status_answered = _fetch_status(report.status_url)
                if on_running is not None:
                    on_running(report)
            if writer.done.is_set():
                if deadline is None:
                    deadline = time.monotonic() + options.catch_up_timeout
                waiting = [n for n, ok in at_end.items() if not ok and states[n].state != "parked"]
                if not waiting or time.monotonic() > deadline:
                    break
            time.sleep(0.1)
    report.written = writer.written
    for status in pipeline.status():
        result = report.sinks[status.sink]
        result.state, result.reason, result.changes_written = status.state, status.reason, status.changes
        committed = pipeline.lanes[status.sink].committed_positions().get(NODE_ID)
        result.caught_up = committed is not None and (committed.segment_id, committed.position) == writer.last


def _fetch_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _wait_for_retention(config: PipelineConfig, timeout: float = 5.0) -> None:
    """Let retention archive the completed segments first, so they are not moved while being read."""
    cdc_raw = config.sources[NODE_ID].cdc_raw
    deadline = time.monotonic() + timeout
    while any(cdc_raw.glob("CommitLog-*.log")) and time.monotonic() < deadline:
        time.sleep(0.1)


def _summarise(config: PipelineConfig, report: DemoReport, pipeline: Pipeline, observability: Observability) -> None:
    schema = pipeline.schema
    tables = sorted(pipeline.tables, key=lambda t: t.qualified_name)
    errors: list[str] = []
    report.raw_changes = list(raw_changes(config, schema, errors))
    # The oracle gets what the sinks got: the changes read back from the segments, masked.
    masker = masker_for(config, schema)
    oracle = Oracle(tables)
    for change in report.raw_changes:
        oracle.apply(masker(change))
    now = int(time.time())
    report.oracle_counts = {t.qualified_name: len(oracle.rows(t.keyspace, t.name, now=now)) for t in tables}
    readers: dict[str, SinkReader] = {}
    try:
        for name, result in report.sinks.items():
            try:
                reader = open_reader(name, config.sinks[name])
            except Exception as exc:
                result.read_error = first_line(exc)
                continue
            readers[name] = reader
            try:
                result.counts = {t.qualified_name: reader.count(t) for t in tables}
            except Exception as exc:
                result.read_error = first_line(exc)
        _take_samples(report, readers, schema)
        audited = {name: r for name, r in readers.items() if report.sinks[name].read_error is None}
        run = run_audit(config, schema=schema, sinks=list(audited), changes=report.raw_changes, readers=audited)
        report.audit = run.report
        report.audit.read_errors.extend(errors)
        report.audit_problems = dict(run.unreachable)
    finally:
        for reader in readers.values():
            with contextlib.suppress(Exception):
                reader.close()
    snapshot = observability.metrics.snapshot()
    report.lag = {d.destination: (d.end_to_end, d.pipeline) for d in snapshot.destinations}


def _take_samples(report: DemoReport, readers: dict[str, SinkReader], schema: Schema) -> None:
    for name in ("postgres", "timescaledb", "clickhouse"):
        reader = readers.get(name)
        if reader is None or report.sinks[name].read_error is not None:
            continue
        for table_name, columns in SAMPLE_TABLES.items():
            table = schema.by_name("demo", table_name)
            assert table is not None
            rows = reader.rows(table, limit=3)
            report.samples[f"demo.{table_name}"] = [{c: row.get(c) for c in columns} for row in rows]
        report.samples_from = name
        return


def _wait_for_interrupt(console: Console) -> None:
    console.print("[bold]--keep-running[/]: the pipeline and the servers keep running; Ctrl-C stops them.")
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("stopping: the sinks commit what they hold, then the servers stop")


# --- the summary -------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_cell(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_cell(v) for v in value) + ")"
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def workload_mix(changes: list[RowChange]) -> str:
    """``1350 insert, 900 update, ...; 240 with a TTL`` for a list of changes."""
    ops = Counter(change.op.value for change in changes)
    with_ttl = sum(
        1
        for change in changes
        if (change.liveness is not None and change.liveness.ttl) or any(cell.ttl for cell in change.cells)
    )
    return ", ".join(f"{n} {op}" for op, n in ops.most_common()) + f"; {with_ttl} with a TTL"


def query_hints(report: DemoReport) -> list[str]:
    """How to query each sink (valid while the demo's servers run)."""
    hints = []
    for name, sink in report.sinks.items():
        if name == "postgres":
            hints.append(f"PostgreSQL:  psql '{sink.endpoint}' -c 'SELECT * FROM demo.users LIMIT 5'")
        elif name == "timescaledb":
            hints.append(
                f"TimescaleDB: psql '{sink.endpoint}' -c \"SELECT time_bucket('1 hour', ts) AS hour, "
                'avg(temperature) FROM demo.sensor_readings GROUP BY 1 ORDER BY 1 DESC LIMIT 5"'
            )
        elif name == "clickhouse":
            hints.append(
                f"ClickHouse:  curl '{sink.endpoint}/' "
                "--data-binary 'SELECT plan, count() FROM demo.users GROUP BY plan'"
            )
    return hints


def print_summary(report: DemoReport, console: Console) -> None:
    tables = sorted(report.oracle_counts)
    sinks = list(report.sinks.values())
    console.print()
    console.print(
        f"[bold]wrote[/] {report.written} mutations = {len(report.raw_changes)} row changes "
        f"(read back from the segments): {workload_mix(report.raw_changes)}"
    )
    counts = Table(title="rows per table (final state)", title_justify="left")
    counts.add_column("table")
    counts.add_column("oracle", justify="right")
    for sink in sinks:
        counts.add_column(sink.name, justify="right")
    for table in tables:
        expected = report.oracle_counts[table]
        cells = [table, str(expected)]
        for sink in sinks:
            got = sink.counts.get(table)
            mark = "[green]=[/]" if got == expected else "[red]≠[/]"
            cells.append("-" if got is None else f"{got} {mark}")
        counts.add_row(*cells)
    console.print(counts)
    console.print(
        "oracle = the reference model (cassandra_cdc.oracle) fed the same changes, MASKED, read back from the segments."
    )
    for sink in sinks:
        if sink.read_error is not None:
            console.print(f"  [red]{sink.name}: could not be read: {escape(sink.read_error)}[/]")
        elif not sink.caught_up:
            why = f" ({escape(sink.reason)})" if sink.reason else ""
            console.print(f"  [red]{sink.name}: did not catch up: {sink.state}{why}[/]")
    if report.equal:
        console.print(f"[bold green]EQUAL[/]: every sink ({', '.join(s.name for s in sinks)}) matches the oracle.")
    else:
        console.print("[bold red]NOT EQUAL[/]: see above.")
    for kind, reason in report.skipped.items():
        console.print(f"  (skipped {kind}: {escape(reason)})", highlight=False)

    lag = Table(title="latency per change: p50 / p95 / p99", title_justify="left")
    lag.add_column("sink")
    lag.add_column("end to end (writetime → committed)")
    lag.add_column("pipeline (visible in cdc_raw → committed)")
    for name, (end_to_end, pipeline) in report.lag.items():
        lag.add_row(
            name,
            f"{_ms(end_to_end.p50)} / {_ms(end_to_end.p95)} / {_ms(end_to_end.p99)}",
            f"{_ms(pipeline.p50)} / {_ms(pipeline.p95)} / {_ms(pipeline.p99)}",
        )
    console.print(lag)

    for table_name, rows in report.samples.items():
        if not rows:
            continue
        sample = Table(title=f"masked sample: {table_name} in {report.samples_from}", title_justify="left")
        for column in rows[0]:
            sample.add_column(column, overflow="fold")
        for row in rows:
            sample.add_row(*[escape(_cell(v)) for v in row.values()])
        console.print(sample)

    if report.audit is not None:
        verdict = "[bold green]passed[/]" if report.audit.ok and not report.audit_problems else "[bold red]FAILED[/]"
        leaks = len(report.audit.leaks)
        console.print(
            f"audit (cassandra-cdc audit): {verdict}: {len(report.audit.tables)} sink tables checked against the raw "
            f"PII/PHI values in the segments, {leaks} leak(s)"
        )
        if leaks or report.audit_problems:
            console.print(escape(report.audit.render()), highlight=False)
            for name, reason in report.audit_problems.items():
                console.print(f"  {name}: not audited: {escape(reason)}")
    console.print(f"status page: {report.status_url} (answered {report.status_answered} during the run)")
    kept = "" if report.kept else " (deleted at the end: --workdir DIR keeps it)"
    console.print(f"config:      {report.config_path}{kept}", highlight=False)
    console.print("query the sinks (while the servers run: add --keep-running):")
    for hint in query_hints(report):
        console.print(f"  {hint}", highlight=False, soft_wrap=True)
    console.print(f"finished in {time.monotonic() - report.started_at:.1f} s")
