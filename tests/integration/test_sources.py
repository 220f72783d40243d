"""HBase and JDBC readers against real servers started by scripts/services.sh.

The session fixture ``services`` (tests/conftest.py) starts (or finds running)
the standalone HBase + Thrift1 and PostgreSQL and gives the test configuration
pointing at this checkout's ports; if the script fails the tests error with its
output. Each test uses its own HBase / PostgreSQL table names, so runs do not
interfere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ntl_spark import schemas
from ntl_spark.config import Config, HbaseConf, JdbcConf
from ntl_spark.io import hbase, jdbc
from tests.conftest import SERVICES, services_env

# Python workers must import the same environment as the driver (numpy, happybase).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("NTL_JDBC_PASSWORD", "ntl")

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def make_readings(meters: int, days: int, first: dt.date, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"M{i:06d}" for i in range(meters)]
    ts = pd.date_range(pd.Timestamp(first), periods=days * 96, freq="15min")
    df = pd.DataFrame({"meter_id": np.repeat(ids, len(ts)), "ts": np.tile(ts, meters)})
    df["kwh"] = rng.gamma(2.0, 0.2, len(df))  # full-precision doubles: the text encoding must round-trip them
    df.loc[rng.random(len(df)) < 0.01, "kwh"] = np.nan
    return df


def checksum(df: pd.DataFrame) -> tuple[int, int, float]:
    return len(df), int(df["kwh"].isna().sum()), round(float(np.nansum(df["kwh"].to_numpy())), 6)


@pytest.fixture(scope="module")
def readings_table(services: Config) -> Iterator[tuple[HbaseConf, pd.DataFrame]]:
    hb = dataclasses.replace(services.hbase, table=_name("t_readings"), tasks_per_region=2, retries=1,
                             retry_backoff_s=0.2)
    data = make_readings(60, 6, dt.date(2026, 8, 30))
    splits = hbase.create_table(hb, data["meter_id"].unique(), regions=4, replace=True)
    assert len(splits) == 3
    hbase.write_readings(hb, data)
    events = pd.DataFrame({
        "meter_id": ["M000001", "M000001", "M000059", "M000030"],
        "ts": pd.to_datetime(["2026-08-31 00:00:00", "2026-08-31 13:04:05", "2026-09-04 23:59:59",
                              "2026-08-30 10:00:00"]),
        "code": ["COVER_OPEN", "MAGNETIC_TAMPER", "POWER_FAIL", "CLOCK_SET"],
    })
    hbase.write_events(hb, events)
    yield hb, data
    conn = hbase.connect(hb)
    conn.delete_table(hb.table, disable=True)
    conn.close()


def test_services_script_is_idempotent(services: Config) -> None:
    again = subprocess.run([str(SERVICES), "start", "all"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    status = subprocess.run([str(SERVICES), "status"], capture_output=True, text=True)
    env = services_env()
    assert status.returncode == 0
    assert f"127.0.0.1:{env['NTL_HBASE_THRIFT_PORT']}" in status.stdout and f"127.0.0.1:{env['NTL_PG_PORT']}" in status.stdout
    assert services.hbase.port == int(env["NTL_HBASE_THRIFT_PORT"]) and f":{env['NTL_PG_PORT']}/" in services.jdbc.url


def _listen() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def test_port_chooser_skips_a_taken_port(tmp_path: Path) -> None:
    """A recorded port taken by another process is replaced by the next free one; an explicit one fails."""
    taken = _listen()
    others = [_listen() for _ in range(4)]
    free = [o.getsockname()[1] for o in others]
    for o in others:
        o.close()  # free again: the chooser may keep them
    port = taken.getsockname()[1]
    (tmp_path / "services.env").write_text(
        f"NTL_PG_PORT={port}\nNTL_HBASE_THRIFT_PORT={free[0]}\nNTL_HBASE_ZK_PORT={free[1]}\n"
        f"NTL_HBASE_MASTER_PORT={free[2]}\nNTL_HBASE_RS_PORT={free[3]}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NTL_PG_", "NTL_HBASE_"))}
    try:
        done = subprocess.run([str(SERVICES), "ports"], capture_output=True, text=True, timeout=60,
                              env={**env, "NTL_SERVICES_DIR": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        got = dict(line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("NTL_"))
        assert int(got["NTL_PG_PORT"]) > port and int(got["NTL_PG_PORT"]) not in free
        assert got["NTL_JDBC_URL"] == f"jdbc:postgresql://127.0.0.1:{got['NTL_PG_PORT']}/ntl"
        assert [int(got[k]) for k in ("NTL_HBASE_THRIFT_PORT", "NTL_HBASE_ZK_PORT", "NTL_HBASE_MASTER_PORT",
                                      "NTL_HBASE_RS_PORT")] == free
        assert f"NTL_PG_PORT={got['NTL_PG_PORT']}\n" in (tmp_path / "services.env").read_text()
        explicit = subprocess.run([str(SERVICES), "ports"], capture_output=True, text=True, timeout=60,
                                  env={**env, "NTL_SERVICES_DIR": str(tmp_path), "NTL_PG_PORT": str(port)})
        assert explicit.returncode != 0 and f"127.0.0.1:{port} ($NTL_PG_PORT) is taken" in explicit.stderr
    finally:
        taken.close()


def test_region_parallel_read_matches_input(spark, readings_table) -> None:  # noqa: ANN001
    hb, data = readings_table
    start, end = dt.date(2026, 8, 31), dt.date(2026, 9, 3)
    df = hbase.read_readings(spark, hb, start, end)
    assert [(f.name, f.dataType) for f in df.schema] == [(f.name, f.dataType) for f in schemas.READINGS_SCHEMA]
    assert df.rdd.getNumPartitions() == 4 * 2  # regions x tasks_per_region
    got = df.toPandas()
    want = data[(data["ts"] >= pd.Timestamp(start)) & (data["ts"] < pd.Timestamp(end + dt.timedelta(days=1)))]
    assert checksum(got) == checksum(want)
    merged = want.merge(got, on=["meter_id", "ts"], how="outer", suffixes=("_in", "_out"), indicator=True)
    assert (merged["_merge"] == "both").all()
    same = (merged["kwh_in"] == merged["kwh_out"]) | (merged["kwh_in"].isna() & merged["kwh_out"].isna())
    assert same.all()


def test_read_subset_of_meters(spark, readings_table) -> None:  # noqa: ANN001
    hb, data = readings_table
    meters = ["M000000", "M000031", "M000059", "M999999"]
    got = hbase.read_readings(spark, hb, dt.date(2026, 9, 1), dt.date(2026, 9, 1), meter_ids=meters).toPandas()
    assert sorted(got["meter_id"].unique()) == meters[:3]
    assert len(got) == 3 * 96


def test_events_round_trip(spark, readings_table) -> None:  # noqa: ANN001
    hb, _ = readings_table
    got = hbase.read_events(spark, hb, dt.date(2026, 8, 31), dt.date(2026, 9, 4)).toPandas()
    got = got.sort_values(["meter_id", "ts"]).reset_index(drop=True)
    assert got["code"].tolist() == ["COVER_OPEN", "MAGNETIC_TAMPER", "POWER_FAIL"]  # CLOCK_SET is out of range
    assert got["ts"].tolist()[1] == pd.Timestamp("2026-08-31 13:04:05")


def test_double_encoding_round_trip(spark, services: Config) -> None:  # noqa: ANN001
    hb = dataclasses.replace(services.hbase, table=_name("t_double"), value_encoding="double")
    data = make_readings(10, 2, dt.date(2026, 9, 1), seed=3)
    hbase.create_table(hb, data["meter_id"].unique(), regions=2, replace=True)
    try:
        hbase.write_readings(hb, data)
        conn = hbase.connect(hb)
        row = conn.table(hb.table).row(b"M000000|20260901")
        conn.close()
        assert all(len(v) in (0, 8) for v in row.values())  # 8-byte big-endian doubles (empty = null)
        got = hbase.read_readings(spark, hb, dt.date(2026, 9, 1), dt.date(2026, 9, 2)).toPandas()
        assert checksum(got) == checksum(data)
    finally:
        conn = hbase.connect(hb)
        conn.delete_table(hb.table, disable=True)
        conn.close()


def test_dead_port_fails_clearly(spark, services: Config) -> None:  # noqa: ANN001
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    hb = dataclasses.replace(services.hbase, port=port, retries=1, retry_backoff_s=0.1, timeout_ms=2000)
    with pytest.raises(hbase.HbaseReadError, match=rf"127\.0\.0\.1:{port}"):
        hbase.read_readings(spark, hb, dt.date(2026, 9, 1), dt.date(2026, 9, 2))


class _Proxy:
    """TCP proxy in front of the Thrift server that can cut every connection mid-stream."""

    def __init__(self, target_port: int, cut_after_bytes: int, permanent: bool) -> None:
        self.target = target_port
        self.cut_after = cut_after_bytes
        self.permanent = permanent
        self.sent = 0
        self.cut = threading.Event()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.cut.is_set() and self.permanent:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
                if count:
                    with self.lock:
                        self.sent += len(chunk)
                        trip = self.sent > self.cut_after and not self.cut.is_set()
                    if trip:
                        self._cut_all()
                        return
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib_suppress():
                    s.close()

    def _cut_all(self) -> None:
        self.cut.set()
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            with contextlib_suppress():
                s.shutdown(socket.SHUT_RDWR)
                s.close()
        if self.permanent:
            self.server.close()

    def close(self) -> None:
        with contextlib_suppress():
            self.server.close()
        self._cut_all()


def contextlib_suppress():  # noqa: ANN201
    import contextlib

    return contextlib.suppress(OSError)


def test_thrift_lost_mid_read_fails_naming_server_and_region(spark, readings_table) -> None:  # noqa: ANN001
    hb, _ = readings_table
    proxy = _Proxy(hb.port, cut_after_bytes=300_000, permanent=True)
    try:
        via = dataclasses.replace(hb, port=proxy.port, retries=1, retry_backoff_s=0.1, timeout_ms=5000)
        df = hbase.read_readings(spark, via, dt.date(2026, 8, 30), dt.date(2026, 9, 4))
        with pytest.raises(Exception, match=rf"HBase Thrift server 127\.0\.0\.1:{proxy.port}.*region"):
            df.count()
        assert proxy.cut.is_set()
    finally:
        proxy.close()


def test_transient_cut_is_retried_without_duplicates(spark, readings_table) -> None:  # noqa: ANN001
    hb, data = readings_table
    proxy = _Proxy(hb.port, cut_after_bytes=300_000, permanent=False)
    try:
        via = dataclasses.replace(hb, port=proxy.port, retries=2, retry_backoff_s=0.1, tasks_per_region=1)
        got = hbase.read_readings(spark, via, dt.date(2026, 8, 30), dt.date(2026, 9, 4)).toPandas()
        assert proxy.cut.is_set()
        assert checksum(got) == checksum(data)
        assert not got.duplicated(["meter_id", "ts"]).any()
    finally:
        proxy.close()


# ------------------------------------------------------------------- JDBC
@pytest.fixture()
def bills_source(services: Config) -> Iterator[tuple[JdbcConf, pd.DataFrame, str]]:
    table = _name("bills")
    jc = dataclasses.replace(services.jdbc, tables={"bills": table}, partition_columns={}, num_partitions=3)
    rng = np.random.default_rng(5)
    periods = pd.date_range("2025-01-01", periods=14, freq="MS").date
    n = 150
    bills = pd.DataFrame({
        "customer_id": np.repeat([f"C{i:05d}" for i in range(n)], len(periods)),
        "period": np.tile(periods, n),
        "kwh": rng.gamma(3.0, 90.0, n * len(periods)),
        "days": rng.integers(28, 36, n * len(periods)).astype("int32"),
        "read_type": rng.choice(["actual", "estimated"], n * len(periods)),
    })
    bills.loc[::40, "kwh"] = np.nan
    assert jdbc.load_tables(jc, {"bills": bills}) == {"bills": len(bills)}
    yield jc, bills, table
    conn = jdbc.pg_connect(jc)
    with conn, conn.cursor() as cur:
        cur.execute(f"drop table if exists {table}")
    conn.close()


def _sorted(pdf: pd.DataFrame) -> pd.DataFrame:
    return pdf.sort_values(["customer_id", "period"]).reset_index(drop=True)


def test_jdbc_bills_equal_input(spark, bills_source) -> None:  # noqa: ANN001
    jc, bills, _ = bills_source
    start, end = dt.date(2025, 3, 1), dt.date(2025, 10, 31)
    df = jdbc.read_table(spark, jc, "bills", schemas.BILLS_SCHEMA, "period", start, end)
    assert df.schema.names == schemas.BILLS_SCHEMA.names
    assert [f.dataType for f in df.schema.fields] == [f.dataType for f in schemas.BILLS_SCHEMA.fields]
    assert df.rdd.getNumPartitions() == 8  # one predicate per month
    want = _sorted(bills[(bills["period"] >= start) & (bills["period"] <= end)])
    got = _sorted(df.toPandas())
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # whole table, hash-partitioned on the customer id
    jc_hash = dataclasses.replace(jc, partition_columns={"bills": "customer_id"})
    whole = jdbc.read_table(spark, jc_hash, "bills", schemas.BILLS_SCHEMA)
    assert whole.rdd.getNumPartitions() == 3
    pd.testing.assert_frame_equal(_sorted(whole.toPandas()), _sorted(bills), check_dtype=False)


@pytest.mark.parametrize(
    ("ddl", "column"),
    [("drop column kwh", "'kwh'"), ("alter column days type text", "'days'")],
    ids=["dropped", "retyped"],
)
def test_jdbc_schema_change_stops_read(spark, bills_source, ddl: str, column: str) -> None:  # noqa: ANN001
    jc, _, table = bills_source
    conn = jdbc.pg_connect(jc)
    with conn, conn.cursor() as cur:
        cur.execute(f"alter table {table} {ddl}")
    conn.close()
    with pytest.raises(ValueError, match=column):
        jdbc.read_table(spark, jc, "bills", schemas.BILLS_SCHEMA, "period", dt.date(2025, 1, 1), dt.date(2025, 2, 28))


def test_write_scores_replaces_a_run_atomically(spark, services: Config) -> None:  # noqa: ANN001
    jc = services.jdbc
    table = _name("scores")
    row = ("C1", "NORTE", 0.9, 1, 1, "DAICE", "1", "run-a", dt.date(2026, 9, 1), dt.date(2026, 8, 1),
           {"monthly_features": 3}, [("C1_mean", 0.5)])
    first = spark.createDataFrame([row, ("C2", *row[1:])], schemas.SCORES_SCHEMA)
    other = spark.createDataFrame([(*row[:7], "run-b", *row[8:])], schemas.SCORES_SCHEMA)
    try:
        assert jdbc.write_scores(first, jc, table) == 2
        assert jdbc.write_scores(other, jc, table) == 1
        assert jdbc.write_scores(first.limit(1), jc, table) == 1  # run-a re-scored: replaced, not appended
        conn = jdbc.pg_connect(jc)
        with conn, conn.cursor() as cur:
            cur.execute(f"select run_id, count(*) from {table} group by run_id order by run_id")
            assert cur.fetchall() == [("run-a", 1), ("run-b", 1)]
            cur.execute(f"select distinct data_versions from {table}")
            assert cur.fetchall() == [('{"monthly_features":3}',)]  # the lineage map as JSON text
            cur.execute("select count(*) from information_schema.tables where table_name like %s",
                        (f"{table}_stg_%",))
            assert cur.fetchone()[0] == 0  # staging tables are dropped
        conn.close()
    finally:
        conn = jdbc.pg_connect(jc)
        with conn, conn.cursor() as cur:
            cur.execute(f"drop table if exists {table}")
        conn.close()
