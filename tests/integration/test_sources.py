"""HBase and JDBC readers against real servers started by scripts/services.sh.

The session fixture starts (or finds running) the standalone HBase + Thrift1
and PostgreSQL; if the script fails the tests error with its output. Each test
uses its own HBase / PostgreSQL table names, so runs do not interfere.
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
from ntl_spark.config import HbaseConf, JdbcConf, load_config
from ntl_spark.io import hbase, jdbc

# Python workers must import the same environment as the driver (numpy, happybase).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("NTL_JDBC_PASSWORD", "ntl")

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
# The servers from scripts/services.sh listen where conf/base.yaml points hbase and jdbc.
CFG = load_config("test")


@pytest.fixture(scope="session")
def services() -> None:
    """Start HBase and PostgreSQL (idempotent); a failure errors the tests with the script's output."""
    done = subprocess.run(
        [str(REPO / "scripts" / "services.sh"), "start", "all"], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/services.sh start failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


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
def readings_table(services: None) -> Iterator[tuple[HbaseConf, pd.DataFrame]]:
    hb = dataclasses.replace(CFG.hbase, table=_name("t_readings"), tasks_per_region=2, retries=1,
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


def test_services_script_is_idempotent(services: None) -> None:
    again = subprocess.run([str(REPO / "scripts/services.sh"), "start", "all"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    status = subprocess.run([str(REPO / "scripts/services.sh"), "status"], capture_output=True, text=True)
    assert status.returncode == 0 and "127.0.0.1:9090" in status.stdout and "127.0.0.1:5432" in status.stdout


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


def test_double_encoding_round_trip(spark, services: None) -> None:  # noqa: ANN001
    hb = dataclasses.replace(CFG.hbase, table=_name("t_double"), value_encoding="double")
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


def test_dead_port_fails_clearly(spark, services: None) -> None:  # noqa: ANN001
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    hb = dataclasses.replace(CFG.hbase, port=port, retries=1, retry_backoff_s=0.1, timeout_ms=2000)
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
def bills_source(services: None) -> Iterator[tuple[JdbcConf, pd.DataFrame, str]]:
    table = _name("bills")
    jc = dataclasses.replace(CFG.jdbc, tables={"bills": table}, partition_columns={}, num_partitions=3)
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


def test_write_scores_replaces_a_run_atomically(spark, services: None) -> None:  # noqa: ANN001
    jc = CFG.jdbc
    table = _name("scores")
    row = ("C1", "NORTE", 0.9, 1, 1, "DAICE", "1", "run-a", dt.date(2026, 9, 1), dt.date(2026, 8, 1), "{}",
           [("C1_mean", 0.5)])
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
            cur.execute("select count(*) from information_schema.tables where table_name like %s",
                        (f"{table}_stg_%",))
            assert cur.fetchone()[0] == 0  # staging tables are dropped
        conn.close()
    finally:
        conn = jdbc.pg_connect(jc)
        with conn, conn.cursor() as cur:
            cur.execute(f"drop table if exists {table}")
        conn.close()
