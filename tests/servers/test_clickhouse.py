"""ClickHouse (chdb worker) test server: clickhouse-connect over HTTP, engines the sink needs, restarts, crashes."""

from __future__ import annotations

import datetime as dt

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from cassandra_cdc.servers.clickhouse import ClickHouseWorker, _split_request
from cassandra_cdc.servers.ports import ServerError

COLUMNS = ["k", "v", "ts", "ver", "tags"]


def test_clickhouse_connect_round_trip(clickhouse_server: ClickHouseWorker) -> None:
    client = clickhouse_connect.get_client(dsn=clickhouse_server.url)
    version = client.server_version
    assert version is not None and int(version.split(".")[0]) >= 23
    client.command("CREATE DATABASE IF NOT EXISTS rt")
    client.command(
        "CREATE TABLE rt.r (k String, v Nullable(Float64), ts DateTime64(6, 'UTC'), ver UInt64, "
        "tags Map(String, String)) ENGINE = ReplacingMergeTree(ver) ORDER BY k"
    )
    when = dt.datetime(2024, 1, 1, 1, 2, 3, 456789, tzinfo=dt.UTC)
    summary = client.insert(
        "rt.r",
        [["a", 1.5, when, 1, {"x": "y"}], ["a", None, when, 2, {}], ["b", 3.0, when, 1, {}]],
        column_names=COLUMNS,
    )
    assert summary.written_rows == 3
    rows = client.query("SELECT k, v, ts, ver, tags FROM rt.r FINAL ORDER BY k").result_rows
    naive = when.replace(tzinfo=None)  # clickhouse-connect returns UTC columns as naive UTC datetimes
    assert rows == [("a", None, naive, 2, {}), ("b", 3.0, naive, 1, {})]
    assert client.query("SELECT argMax(ver, ver) FROM rt.r WHERE k = 'a'").result_rows == [(2,)]
    assert client.query("SELECT {x:UInt32} + 1", parameters={"x": 41}).result_rows == [(42,)]
    db_client = clickhouse_connect.get_client(dsn=clickhouse_server.url + "/rt")
    assert db_client.query("SELECT currentDatabase(), count() FROM r FINAL").result_rows == [("rt", 2)]
    client.command("DELETE FROM rt.r WHERE k = 'b'")  # lightweight delete
    assert client.query("SELECT count() FROM rt.r FINAL").result_rows == [(1,)]
    with pytest.raises(DatabaseError, match="Code: 62"):
        client.command("SELEC 1")


def test_aggregating_merge_tree(clickhouse_server: ClickHouseWorker) -> None:
    clickhouse_server.query(
        "CREATE TABLE agg (k String, s AggregateFunction(argMax, String, UInt64)) "
        "ENGINE = AggregatingMergeTree ORDER BY k"
    )
    clickhouse_server.query("INSERT INTO agg SELECT 'k', argMaxState('old', toUInt64(1))")
    clickhouse_server.query("INSERT INTO agg SELECT 'k', argMaxState('new', toUInt64(2))")
    assert clickhouse_server.query("SELECT k, argMaxMerge(s) FROM agg GROUP BY k") == "k\tnew\n"
    with pytest.raises(ServerError, match="UNKNOWN_TABLE"):
        clickhouse_server.query("SELECT * FROM no_such_table")


def test_stop_direct_access_kill_and_restart() -> None:
    with ClickHouseWorker() as worker:
        client = clickhouse_connect.get_client(dsn=worker.url)
        client.command("CREATE TABLE t (k UInt32) ENGINE = MergeTree ORDER BY k")
        client.insert("t", [[1], [2]], column_names=["k"])
        worker.stop()
        with worker.open_direct() as session:
            assert bytes(session.query("SELECT sum(k) FROM t", "CSV").bytes()) == b"3\n"
            session.query("INSERT INTO t VALUES (10)")
        worker.start()
        assert client.query("SELECT sum(k) FROM t").result_rows == [(13,)]

        client.insert("t", [[100]], column_names=["k"])
        worker.kill()
        with pytest.raises(OperationalError):
            client.query("SELECT 1")
        worker.start()
        assert client.query("SELECT sum(k) FROM t").result_rows == [(113,)]
        with pytest.raises(ServerError, match="stop the clickhouse worker"), worker.open_direct():
            pass


def test_split_request_separates_insert_data() -> None:
    body = b"INSERT INTO t (a, b) FORMAT Native\n\x02\x01\x01a"
    assert _split_request(None, body) == ("INSERT INTO t (a, b) FORMAT Native", b"\x02\x01\x01a")
    assert _split_request(None, b"SELECT 1") == ("SELECT 1", None)
    assert _split_request("INSERT INTO t FORMAT CSV", b"1,2\n") == ("INSERT INTO t FORMAT CSV", b"1,2\n")
    assert _split_request("SELECT 1", b"") == ("SELECT 1", None)
