"""Chaos on real servers and sockets: the pipeline's PostgreSQL and ClickHouse sinks connect through
fault-injecting proxies while a simulated node writes live; afterwards both equal the oracle.

* PostgreSQL killed (SIGKILL) and restarted mid-stream.
* A 30 s partition to PostgreSQL that silently drops bytes (half-dead connections): the query
  watchdog and connect_timeout keep the lane from hanging; replication resumes within 60 s of healing.
* ClickHouse throttled to well under a tenth of the source rate: its backlog grows, memory stays bounded,
  PostgreSQL stays current.
* A corrupt section in a live segment and a truncated completed one: dead-letter entries, the rest
  replicates.
* Reset storms on both proxies: retries, convergence.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cassandra_cdc.commitlog.cdc_index import write_cdc_index
from cassandra_cdc.commitlog.descriptor import cdc_index_file_name
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.deadletter.jsonl_store import JsonlStore
from cassandra_cdc.servers.clickhouse import ClickHouseWorker
from cassandra_cdc.servers.postgres import PostgresServer
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.workload import WorkloadGenerator
from tests.chaos.harness import Writer, chaos_world, readable_changes, rss_bytes
from tests.pipeline.support import wait_for


@pytest.mark.timeout(180)
def test_postgres_killed_and_restarted_mid_stream(
    tmp_path: Path, postgres_server: PostgresServer, clickhouse_server: ClickHouseWorker
) -> None:
    with chaos_world(tmp_path, postgres_server, clickhouse_server, "kill") as world:
        pipeline = world.start()
        node = world.node()
        writer = Writer(node, world.schema, seed=31, batches=40).start()
        wait_for(lambda: world.committed(world.pg_name) is not None, 30, "PostgreSQL's first commit")
        ch_before = world.committed(world.ch_name) or (0, 0)
        postgres_server.kill()
        try:
            # ClickHouse goes on while PostgreSQL is down.
            wait_for(lambda: (world.committed(world.ch_name) or (0, 0)) > ch_before, 10, "ClickHouse to go on")
            time.sleep(1.5)
        finally:
            postgres_server.start()
        writer.join()
        world.wait_at_end(node, 60)
        assert pipeline.lanes[world.pg_name].stats.retries > 0  # it did see the crash
        world.stop()
        assert world.result == [True]
        assert world.assert_converged() > 0


@pytest.mark.timeout(240)
def test_30s_partition_to_postgres_resumes_within_60s_of_healing(
    tmp_path: Path, postgres_server: PostgresServer, clickhouse_server: ClickHouseWorker
) -> None:
    with chaos_world(tmp_path, postgres_server, clickhouse_server, "partition") as world:
        pipeline = world.start(pg_extra=", batch_size: 300")
        node = world.node()
        writer = Writer(node, world.schema, seed=32, batches=70, per_sync=50, interval=0.5).start()
        wait_for(lambda: world.committed(world.pg_name) is not None, 30, "PostgreSQL's first commit")
        lane = pipeline.lanes[world.pg_name]
        retries_before = lane.stats.retries
        # Bytes vanish both ways and nobody is told: without client-side timeouts the lane would wait forever.
        world.pg_proxy.blackhole(drop=True)
        partition_started = time.monotonic()
        time.sleep(15)
        # ClickHouse stays current during the partition.
        behind = node.positions[-1]
        wait_for(lambda: (world.committed(world.ch_name) or (0, 0)) >= (behind.segment_id, behind.position), 5, "ch")
        time.sleep(max(0.0, 30 - (time.monotonic() - partition_started)))
        stuck_retries = lane.stats.retries - retries_before
        stalled_at = world.committed(world.pg_name)
        world.pg_proxy.heal()
        healed = time.monotonic()
        writer.join()
        world.wait_at_end(node, 60)
        resumed_in = time.monotonic() - healed
        assert resumed_in < 60
        # The watchdog / connect timeouts fired during the partition: the lane retried, never hung.
        assert stuck_retries >= 2, stuck_retries
        last = node.positions[-1]
        assert stalled_at is not None and stalled_at < (last.segment_id, last.position)
        assert world.pg_proxy.stats.dropped > 0
        world.stop()
        assert world.result == [True]
        assert world.assert_converged() > 0


@pytest.mark.timeout(180)
def test_a_ten_times_slower_sink_lags_in_bounded_memory_while_the_other_stays_current(
    tmp_path: Path, postgres_server: PostgresServer, clickhouse_server: ClickHouseWorker
) -> None:
    with chaos_world(tmp_path, postgres_server, clickhouse_server, "slow") as world:
        pipeline = world.start(ch_extra=", batch_size: 200")
        node = world.node()
        # Both sinks open at full speed (the runner opens sinks from its supervising thread).
        wait_for(lambda: all(s.state == "running" for s in pipeline.status()), 30, "both sinks running")
        # The node writes ~1,000 mutations/s (~1 MB/s of commit log); ClickHouse's link carries 1.5 kB/s
        # (its inserts are large, compressed blocks), which makes it well over ten times slower than the source.
        world.ch_proxy.set_bandwidth(1_500)
        world.ch_proxy.set_latency(0.05)
        baseline = rss_bytes()
        writer = Writer(node, world.schema, seed=33, batches=150, per_sync=100, interval=0.1).start()
        samples: list[tuple[float, float, float, int]] = []  # (t, ch backlog, pg backlog, rss)
        started = time.monotonic()
        while writer.thread is not None and writer.thread.is_alive():
            time.sleep(0.5)
            samples.append(
                (time.monotonic() - started, world.backlog(world.ch_name), world.backlog(world.pg_name), rss_bytes())
            )
        writer.join()
        # What each sink holds (its committed position; ClickHouse buffers, so not what its lane accepted).
        ch_at, pg_at = world.committed(world.ch_name) or (0, 0), world.committed(world.pg_name) or (0, 0)
        # PostgreSQL keeps up with the source...
        world.wait_at_end(node, 15, (world.pg_name,))
        assert not world.at_end(world.ch_name, node)
        # ...while ClickHouse managed less than a tenth of the changes in the same time, and its
        # backlog (metric cdc_backlog_depth) grew through the run.
        held = readable_changes([world.archive / "n1", world.cdc_raw], world.schema)
        sources = [(c.source.segment_id, c.source.position) for c in held]
        ch_written = sum(1 for at in sources if at <= ch_at)
        pg_written = sum(1 for at in sources if at <= pg_at)
        assert ch_written * 10 < pg_written, (ch_written, pg_written)
        ch_backlog = [s[1] for s in samples if s[0] >= 2.0]
        assert len(ch_backlog) >= 10
        assert all(b >= a for a, b in zip(ch_backlog[::4], ch_backlog[4::4], strict=False)), ch_backlog
        assert ch_backlog[-1] > 3 * ch_backlog[0] > 0
        assert max(s[2] for s in samples) < ch_backlog[-1] / 10
        # Memory stays bounded: the lag sits in cdc_raw, not in the process.
        growth = max(s[3] for s in samples) - baseline
        assert growth < 150 * 1024 * 1024, f"RSS grew {growth / 1e6:.0f} MB"
        world.ch_proxy.heal()
        world.wait_at_end(node, 90)
        world.stop()
        assert world.result == [True]
        assert world.assert_converged() > 0


class _CorruptingNode(SimulatedNode):
    """A simulated node that can damage a section before it becomes durable (before its index moves)."""

    def damaged_sync(self, entries: list[bytes], *, truncate_and_close: bool = False) -> None:
        self.roll()  # a fresh segment: the damaged section cannot make the writer roll with no index
        self.write_index = False
        try:
            positions = self.sync(entries)
        finally:
            self.write_index = True
        writer = self._writer
        assert writer is not None and positions
        path = writer.path
        assert path is not None
        index = self.cdc_raw / cdc_index_file_name(self.version, writer.segment_id)
        middle = positions[len(positions) // 2].position
        if truncate_and_close:
            # The segment ends here (closed, COMPLETED) but the file lost the tail of its last section.
            durable = writer.position
            self.write_index = False
            try:
                self.roll()
            finally:
                self.write_index = True
            with path.open("r+b") as f:
                f.truncate(middle - 7)
            write_cdc_index(index, durable, completed=True)
            return
        data = bytearray(path.read_bytes())
        for i in range(middle - 40, middle - 36):
            data[i] ^= 0xA5
        path.write_bytes(bytes(data))
        write_cdc_index(index, writer.position)


@pytest.mark.timeout(180)
def test_corrupt_and_truncated_segments_go_to_the_dead_letter_queue_and_the_rest_replicates(
    tmp_path: Path, postgres_server: PostgresServer, clickhouse_server: ClickHouseWorker
) -> None:
    with chaos_world(tmp_path, postgres_server, clickhouse_server, "corrupt") as world:
        pipeline = world.start()
        node = _CorruptingNode(world.cdc_raw, segment_size=256 * 1024)
        encoder = MutationEncoder(world.schema)
        generator = WorkloadGenerator(list(world.schema.tables.values()), seed=34, now=int(time.time()))

        def batch(n: int = 100) -> list[bytes]:
            return [encoder.encode(m, 12) for m in generator.mutations(n)]

        for step in range(30):
            if step == 8:
                node.damaged_sync(batch())  # flipped bytes in the live segment's newest durable section
            elif step == 16:
                node.damaged_sync(batch(), truncate_and_close=True)  # a completed segment cut short
            else:
                node.sync(batch())
            time.sleep(0.05)
        node.close()
        world.wait_at_end(node, 60)
        problems = {name: lane.stats.problems for name, lane in pipeline.lanes.items()}
        world.stop()
        assert world.result == [True]
        assert all(count >= 2 for count in problems.values()), problems
        letters = JsonlStore(tmp_path / "dlq").list()
        # One letter per damaged place (an undecodable entry is the source's, whichever sinks met it).
        assert sorted(letter.kind for letter in letters) == ["undecodable_entry", "undecodable_entry"]
        errors = " | ".join(letter.error for letter in letters)
        assert "CRC mismatch" in errors and "past the end of the file" in errors
        # The sinks hold exactly what could be read: everything around the damage.
        changes = readable_changes([world.archive / "n1", world.cdc_raw], world.schema)
        assert len(changes) > 2000
        assert world.assert_converged(changes) > 0


@pytest.mark.timeout(180)
def test_reset_storms_are_retried_and_converge(
    tmp_path: Path, postgres_server: PostgresServer, clickhouse_server: ClickHouseWorker
) -> None:
    with chaos_world(tmp_path, postgres_server, clickhouse_server, "resets") as world:
        pipeline = world.start(pg_extra=", batch_size: 200", ch_extra=", batch_size: 200")
        node = world.node()
        writer = Writer(node, world.schema, seed=35, batches=40, per_sync=100, interval=0.1).start()
        wait_for(lambda: world.committed(world.pg_name) is not None, 30, "a first commit")
        resets = 0
        storm_end = time.monotonic() + 5
        while time.monotonic() < storm_end:
            resets += world.pg_proxy.reset_connections() + world.ch_proxy.reset_connections()
            time.sleep(0.2)
        # Then a second of refused connections.
        world.pg_proxy.set_reject(True)
        world.ch_proxy.set_reject(True)
        time.sleep(1.0)
        world.pg_proxy.heal()
        world.ch_proxy.heal()
        writer.join()
        world.wait_at_end(node, 60)
        # Each sink met the resets: retried batches (sink_retryable) or, when the sink's own client
        # gave up first, a parked lane probed again (sink_fatal); either way nothing was lost.
        errors = {
            name: sum(
                world.metrics.registry.get_sample_value("cdc_errors_total", {"destination": name, "error_type": kind})
                or 0.0
                for kind in ("sink_retryable", "sink_fatal")
            )
            for name in pipeline.lanes
        }
        world.stop()
        assert world.result == [True]
        assert resets >= 5
        assert all(count > 0 for count in errors.values()), errors
        assert world.assert_converged() > 0
