"""Decoding throughput: a realistic mixed workload written as real segments, read back and decoded.

    python benchmarks/decode.py [--mutations 200000] [--compression none,LZ4Compressor,...]

Per compression it prints mutations/s and cells/s of reading + decoding per CPU-second of this
process (one core, the segments already in the page cache), and the wall-clock rate beside it;
the last line is the uncompressed figure: ``mutations_per_s: N``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cassandra_cdc.commitlog.entries import RawEntry
from cassandra_cdc.commitlog.model import Row
from cassandra_cdc.commitlog.mutation_decoder import MutationDecoder
from cassandra_cdc.commitlog.mutation_encoder import MutationEncoder
from cassandra_cdc.commitlog.segment_reader import read_segment
from cassandra_cdc.simulator.node import SimulatedNode
from cassandra_cdc.simulator.schemas import benchmark_schema
from cassandra_cdc.simulator.workload import WorkloadGenerator

COMPRESSIONS = ["none", "LZ4Compressor", "SnappyCompressor", "DeflateCompressor", "ZstdCompressor"]
SECTION_ENTRIES = 200  # entries per sync section: a busy node's 10 s sync holds many more


def _write(directory: Path, payloads: list[bytes], compression: str | None) -> None:
    node = SimulatedNode(directory, compression=compression)
    for start in range(0, len(payloads), SECTION_ENTRIES):
        node.sync(payloads[start : start + SECTION_ENTRIES])
    node.close()


def _read_and_decode(directory: Path, decoder: MutationDecoder) -> tuple[int, int, int]:
    mutations = cells = errors = 0
    for segment in sorted(directory.glob("CommitLog-*.log")):
        for entry in read_segment(segment):
            if not isinstance(entry, RawEntry):
                errors += 1
                continue
            result = decoder.decode(entry.data, entry.messaging_version)
            if result.error is not None:
                errors += 1
            mutations += 1
            for update in result.updates:
                for unfiltered in update.unfiltereds:
                    if isinstance(unfiltered, Row):
                        cells += len(unfiltered.cells)
                if update.static_row is not None:
                    cells += len(update.static_row.cells)
    return mutations, cells, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mutations", type=int, default=200_000)
    parser.add_argument("--compression", default=",".join(COMPRESSIONS))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    schema = benchmark_schema()
    generator = WorkloadGenerator(list(schema.tables.values()), seed=args.seed, partitions_per_table=5000)
    encoder = MutationEncoder(schema)
    started = time.perf_counter()
    payloads = [encoder.encode(m, 12) for m in generator.mutations(args.mutations)]
    print(f"generated and encoded {len(payloads)} mutations in {time.perf_counter() - started:.1f} s")

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.compression.split(","):
            directory = Path(tmp) / name
            _write(directory, payloads, None if name == "none" else name)
            size = sum(p.stat().st_size for p in directory.glob("CommitLog-*.log"))
            decoder = MutationDecoder(schema)
            started, cpu_started = time.perf_counter(), time.process_time()
            mutations, cells, errors = _read_and_decode(directory, decoder)
            wall = time.perf_counter() - started
            # CPU time of this process: on a shared machine wall time also counts other work.
            elapsed = time.process_time() - cpu_started
            if mutations != len(payloads) or errors:
                raise SystemExit(f"{name}: decoded {mutations} of {len(payloads)} mutations, {errors} errors")
            figures[name] = mutations / elapsed
            print(
                f"{name:18} {mutations / elapsed:>10,.0f} mutations/s {cells / elapsed:>12,.0f} cells/s"
                f"  ({cells / mutations:.1f} cells/mutation, {size / 2**20:.1f} MiB on disk,"
                f" {mutations / wall:,.0f} mutations/s wall)"
            )
    print(f"mutations_per_s: {figures.get('none', min(figures.values())):.0f}")


if __name__ == "__main__":
    main()
