"""Dropping tombstones (and what they shadow) once they are older than the grace.

A tombstone must outlive every older write that could still arrive (a replica's late copy, a
replay), which is what the grace bounds: ``grace_seconds`` when given, else each table's
gc_grace_seconds. As in Cassandra's gc (``localDeletionTime < now - grace``), a tombstone's age is
its local deletion time, kept in the payload's ``exp`` (where an expiring cell keeps its expiry:
both are Cassandra's localDeletionTime). Facts stored before it was kept there have ``exp`` at
NO_DELETION_TIME; for them the write timestamp stands in. Each purge deletes whole fact identities
(every partial state of that identity), so no older version of a purged cell survives to resurrect.

Purged: cell tombstones and expired cells; row deletions with every cell and liveness of their
row written at or before them; partition deletions with everything at or before them in the
partition (not its key texts). Range tombstones and collection deletions are kept (documented limit).
"""

from __future__ import annotations

from cassandra_cdc.sinks.base import NO_DELETION_TIME
from cassandra_cdc.sinks.clickhouse import ddl
from cassandra_cdc.sinks.clickhouse.client import ClickHouseClient

_SYNC = "SETTINGS mutations_sync = 2"


def purge(client: ClickHouseClient, layouts: list[ddl.TableLayout], now: int, grace_seconds: int | None = None) -> int:
    purged = 0
    for layout in layouts:
        grace = layout.table.gc_grace_seconds if grace_seconds is None else grace_seconds
        cutoff_s = now - grace
        cutoff_us = cutoff_s * 1_000_000
        cells = layout.name("__cells")
        ident = "pk, rk, ck, fact, col, path"
        resolved = f"SELECT {ident}, {ddl.RESOLVED_CELL} FROM {cells} GROUP BY {ident}"
        # c = (value, key, kind, ts, ttl, exp): a deletion is past the grace by its local deletion time.
        old = f"(c.6 < {cutoff_s} OR (c.6 = {NO_DELETION_TIME} AND c.4 < {cutoff_us}))"
        deletions = f"""SELECT pk, rk, ck, fact, c.4 AS d FROM ({resolved})
            WHERE fact IN ({ddl.ROW_DELETION}, {ddl.PARTITION_DELETION}) AND {old}"""
        expired = f"""SELECT {ident} FROM ({resolved}) WHERE
            (fact = {ddl.CELL} AND (c.6 < {cutoff_s} OR (bitAnd(c.3, 2) != 0 AND {old})))
            OR (fact = {ddl.LIVENESS} AND c.6 < {cutoff_s})
            OR (fact IN ({ddl.ROW_DELETION}, {ddl.PARTITION_DELETION}) AND {old})"""
        shadowed = f"""SELECT f.pk, f.rk, f.ck, f.fact, f.col, f.path FROM ({resolved}) AS f
            INNER JOIN ({deletions}) AS x ON f.pk = x.pk
            WHERE f.fact IN ({ddl.CELL}, {ddl.LIVENESS}) AND f.c.4 <= x.d
              AND (x.fact = {ddl.PARTITION_DELETION} OR (x.rk = f.rk AND x.ck = f.ck))"""
        doomed = f"SELECT DISTINCT * FROM ({expired} UNION ALL {shadowed})"
        rows = client.query(f"SELECT count() FROM ({doomed})")
        count = int(rows[0][0])
        if count:
            client.command(f"ALTER TABLE {cells} DELETE WHERE ({ident}) IN ({doomed}) {_SYNC}")
        purged += count
    return purged
