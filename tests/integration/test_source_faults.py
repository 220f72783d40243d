"""A source server failing in the middle of an ingest: real servers, real faults, no mocks.

* HBase: the Thrift server process of this checkout (``scripts/services.sh
  restart thrift``) is restarted while the ingest's scan tasks run. The scans
  retry (``hbase.retries``), resume after the last row received, and the
  ingest writes every reading of the source once, as an undisturbed run does.
* PostgreSQL: the backends streaming the bills to the ingest are killed with
  ``pg_terminate_backend`` from a second connection. ``read_table`` reads the
  table again (``jdbc.retries``) and the ingest writes the same rows; with no
  retries left it stops with ``JdbcReadError`` naming the source before any
  table is written, so every Delta table stays at its previous version.

The ingest runs in this process so that the fault can be timed from Spark's
status tracker (HBase) or ``pg_stat_activity`` (PostgreSQL). Delta versions
and rows are read with the ``deltalake`` package, independently of the code
under test.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from ntl_spark import generate, ingest, schemas
from ntl_spark.config import Config
from ntl_spark.io import hbase, jdbc
from tests.conftest import SERVICES, make_config, service_overrides, services_env

pytestmark = [pytest.mark.services, pytest.mark.integration]

PERIOD = ("2026-09-01", "2026-09-30")  # the generated readings' month
BILL_MONTHS = ("2025-08-01", "2026-09-30")  # every generated bill
ROW_SLEEP_S = 0.002  # per bill row streamed from the slow view: ~0.4 s per monthly partition


@pytest.fixture(scope="module")
def raw(services: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated source files: 200 customers, 14 months of bills, 30 days of readings of ~56 meters."""
    root = tmp_path_factory.mktemp("faults_raw")
    cfg = make_config(root, "generate.customers=200", "generate.months=14", "generate.reading_days=30",
                      "generate.end_month=2026-09-01")
    generate.run(cfg)
    return root / "raw"


def _frame(raw: Path, table: str) -> pd.DataFrame:
    return ds.dataset(raw / table, format="parquet").to_table().to_pandas()


def _config(root: Path, raw: Path, *overrides: str) -> Config:
    return make_config(root, *service_overrides(services_env()), f"ingest.input={raw}", *overrides)


def delta_versions(lakehouse: Path) -> dict[str, int]:
    """Version of every Delta table under ``lakehouse``."""
    return {p.name: DeltaTable(str(p)).version() for p in sorted(lakehouse.iterdir()) if (p / "_delta_log").is_dir()}


def bronze_rows(path: str, version: int, key: tuple[str, ...]) -> pd.DataFrame:
    """The contract columns of a bronze table at ``version`` (ingest metadata dropped), sorted by key."""
    df = DeltaTable(path, version=version).to_pandas()
    return df.drop(columns=[c for c in df.columns if c.startswith("_")]).sort_values(list(key)).reset_index(drop=True)


class Fault(threading.Thread):
    """Runs ``inject`` once, in the background, as soon as ``ready()`` returns true (polled every 50 ms)."""

    def __init__(self, ready: Callable[[], bool], inject: Callable[[], None], timeout_s: float = 90.0) -> None:
        super().__init__(daemon=True)
        self.ready, self.inject, self.timeout_s = ready, inject, timeout_s
        self.fired = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        try:
            while time.monotonic() < deadline:
                if self.ready():
                    self.fired.set()
                    self.inject()
                    return
                time.sleep(0.05)
        except BaseException as e:  # reported by the test
            self.error = e


# ---------------------------------------------------------------------- HBase
@pytest.fixture(scope="module")
def hbase_source(services: Config, raw: Path) -> Iterator[str]:
    """The generated readings in an HBase table of their own, pre-split into 4 regions."""
    hb = dataclasses.replace(services.hbase, table=f"t_faults_{uuid.uuid4().hex[:8]}")
    readings = _frame(raw, schemas.READINGS)
    hbase.create_table(hb, readings["meter_id"].unique(), regions=4, replace=True)
    hbase.write_readings(hb, readings)
    yield hb.table
    conn = hbase.connect(hb)
    conn.delete_table(hb.table, disable=True)
    conn.close()


def _stage(spark, group: str, n_tasks: int):  # noqa: ANN001, ANN202
    """The scan stage (``n_tasks`` tasks) of the jobs of ``group``, or None before it starts."""
    tracker = spark.sparkContext.statusTracker()
    for job_id in tracker.getJobIdsForGroup(group):
        job = tracker.getJobInfo(job_id)
        for stage_id in job.stageIds if job else []:
            stage = tracker.getStageInfo(stage_id)
            if stage is not None and stage.numTasks == n_tasks:
                return stage
    return None


def test_thrift_restart_mid_ingest_retries_and_writes_the_same_rows(spark, services, raw, hbase_source, tmp_path):  # noqa: ANN001
    env = services_env()
    thrift_pid = Path(env["NTL_HBASE_CONF"]).parent / "run" / "thrift.pid"
    cfg = _config(
        tmp_path, raw, "ingest.source=hbase", "ingest.tables=[readings]",
        f"ingest.period_start={PERIOD[0]}", f"ingest.period_end={PERIOD[1]}",
        f"hbase.table={hbase_source}", "hbase.tasks_per_region=2",
        # One row per Thrift round trip: the scan lasts seconds, so the restart lands inside it.
        "hbase.batch_size=1",
        # Waits of 0.25, 0.5 ... 32 s: a minute of retries, longer than a Thrift restart (10-20 s).
        "hbase.retries=8", "hbase.retry_backoff_s=0.25",
    )
    n_tasks = len(hbase.region_tasks(hbase.table_regions(cfg.hbase), cfg.hbase.tasks_per_region))
    assert n_tasks == 8

    group = f"faults-{uuid.uuid4().hex[:8]}"
    seen: dict[str, object] = {}

    def scanning() -> bool:
        stage = _stage(spark, group, n_tasks)
        return stage is not None and stage.numActiveTasks > 0

    def restart() -> None:
        time.sleep(0.3)  # the running tasks are mid-scan
        stage = _stage(spark, group, n_tasks)
        seen["at_kill"] = (stage.numCompletedTasks, stage.numActiveTasks)
        seen["pid_before"] = thrift_pid.read_text().strip()
        started = time.monotonic()
        done = subprocess.run([str(SERVICES), "restart", "thrift"], capture_output=True, text=True, timeout=180)
        seen["restart"] = (done.returncode, done.stdout + done.stderr, time.monotonic() - started)
        seen["pid_after"] = thrift_pid.read_text().strip()
        stage = _stage(spark, group, n_tasks)
        seen["at_restart"] = (stage.numCompletedTasks, stage.numTasks)

    fault = Fault(scanning, restart)
    fault.start()
    spark.sparkContext.setJobGroup(group, "ingest while the Thrift server restarts")
    try:
        reports = ingest.run(spark, cfg)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
        fault.join(timeout=180)
    assert fault.error is None, fault.error
    assert fault.fired.is_set(), "the scan stage was never seen running"
    rc, out, seconds = seen["restart"]  # type: ignore[misc]
    assert rc == 0, out
    assert seen["pid_before"] != seen["pid_after"]
    completed, active = seen["at_kill"]  # type: ignore[misc]
    assert active > 0 and completed < n_tasks
    completed, total = seen["at_restart"]  # type: ignore[misc]
    assert completed < total, f"the scan ended before the Thrift server was back ({seconds:.0f} s): not a mid-scan fault"

    # The undisturbed answer is what the HBase table holds: every generated reading, once.
    key = list(schemas.PRIMARY_KEYS[schemas.READINGS])
    want = _frame(raw, schemas.READINGS).sort_values(key).reset_index(drop=True)
    version = delta_versions(Path(cfg.paths.resolve("lakehouse")))[schemas.READINGS]
    got = bronze_rows(cfg.paths.table(schemas.READINGS), version, schemas.PRIMARY_KEYS[schemas.READINGS])
    # Delta stores instants; the source's ts is wall-clock time of the session time zone.
    zone = spark.conf.get("spark.sql.session.timeZone")
    got["ts"] = pd.to_datetime(got["ts"], utc=True).dt.tz_convert(zone).dt.tz_localize(None)
    assert reports[schemas.READINGS].rows_read == len(want)
    pd.testing.assert_frame_equal(got[want.columns.tolist()], want, check_dtype=False)


# ----------------------------------------------------------------- PostgreSQL
@pytest.fixture(scope="module")
def jdbc_source(services: Config, raw: Path) -> Iterator[dict[str, str]]:
    """Customers and bills in PostgreSQL tables of their own; bills through a view that streams slowly."""
    suffix = uuid.uuid4().hex[:8]
    names = {"customers": f"customers_{suffix}", "bills": f"bills_{suffix}"}
    jc = dataclasses.replace(services.jdbc, tables=names)
    jdbc.load_tables(jc, {t: raw / t for t in names})
    slow = f"bills_slow_{suffix}"
    conn = jdbc.pg_connect(jc)
    with conn, conn.cursor() as cur:
        # pg_sleep in the condition runs for every row that passes the period predicate, so each
        # monthly partition's query streams for a while and a fault sent meanwhile lands mid-stream.
        cur.execute(f"create view {slow} as select b.* from {names['bills']} b "
                    f"where pg_sleep({ROW_SLEEP_S})::text = ''")
    conn.close()
    yield {"customers": names["customers"], "bills": slow}
    conn = jdbc.pg_connect(jc)
    with conn, conn.cursor() as cur:
        cur.execute(f"drop view if exists {slow}")
        for name in names.values():
            cur.execute(f"drop table if exists {name}")
    conn.close()


def _jdbc_config(root: Path, raw: Path, tables: dict[str, str], app: str, *overrides: str) -> Config:
    url = services_env()["NTL_JDBC_URL"]
    return _config(
        root, raw, "ingest.source=jdbc", "ingest.tables=[customers,bills]",
        f"ingest.period_start={BILL_MONTHS[0]}", f"ingest.period_end={BILL_MONTHS[1]}",
        f"jdbc.tables={{customers: {tables['customers']}, bills: {tables['bills']}}}",
        # The application name tells the ingest's backends from everyone else's.
        f"jdbc.url={url}?ApplicationName={app}", "jdbc.fetchsize=20", *overrides,
    )


@pytest.fixture(scope="module")
def jdbc_lakehouse(spark, raw: Path, jdbc_source: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """A lakehouse holding one undisturbed ingest of customers and bills (the tests' previous version)."""
    root = tmp_path_factory.mktemp("faults_jdbc")
    ingest.run(spark, _jdbc_config(root, raw, jdbc_source, "ntl-faults-baseline"))
    return root


def _backend_killer(cfg: Config, app: str, view: str) -> tuple[Callable[[], bool], Callable[[], None], list[int]]:
    """Wait until a backend of ``app`` streams from ``view``; then terminate every such backend."""
    admin = jdbc.pg_connect(cfg.jdbc)
    admin.autocommit = True
    killed: list[int] = []
    # A partition's query is running, or its cursor is open between two fetches.
    streaming = ("select pid from pg_stat_activity where application_name = %s "
                 "and state in ('active', 'idle in transaction') "
                 "and query ilike %s and query not like '%%1=0%%' and pid <> pg_backend_pid()")

    def reading() -> bool:
        with admin.cursor() as cur:
            cur.execute(streaming, (app, f"%{view}%"))
            return cur.fetchone() is not None

    def kill() -> None:
        time.sleep(0.2)  # some rows of the partitions are through
        try:
            with admin.cursor() as cur:
                cur.execute(f"select pid, pg_terminate_backend(pid) from ({streaming}) a", (app, f"%{view}%"))
                killed.extend(pid for pid, ok in cur.fetchall() if ok)
        finally:
            admin.close()

    return reading, kill, killed


def test_backend_killed_mid_ingest_is_read_again(spark, raw, jdbc_source, jdbc_lakehouse, caplog):  # noqa: ANN001
    app = f"ntl-faults-{uuid.uuid4().hex[:8]}"
    cfg = _jdbc_config(jdbc_lakehouse, raw, jdbc_source, app, "jdbc.retries=2", "jdbc.retry_backoff_s=0.5")
    lakehouse = Path(cfg.paths.resolve("lakehouse"))
    before = delta_versions(lakehouse)

    reading, kill, killed = _backend_killer(cfg, app, jdbc_source["bills"])
    fault = Fault(reading, kill)
    fault.start()
    with caplog.at_level(logging.WARNING, logger="ntl_spark.io.jdbc"):
        reports = ingest.run(spark, cfg)
    fault.join(timeout=60)
    assert fault.error is None, fault.error
    assert killed, "no backend of the ingest was terminated"
    retries = [r.getMessage() for r in caplog.records if "retry 1/2" in r.getMessage()]
    assert retries and "'bills'" in retries[0] and "SQLState 57P01" in retries[0], retries

    after = delta_versions(lakehouse)
    for table in (schemas.CUSTOMERS, schemas.BILLS):
        assert after[table] == before[table] + 1
        path, key = cfg.paths.table(table), schemas.PRIMARY_KEYS[table]
        pd.testing.assert_frame_equal(bronze_rows(path, after[table], key), bronze_rows(path, before[table], key))
    assert reports[schemas.BILLS].rows_read == len(_frame(raw, schemas.BILLS))


def test_backend_killed_without_retries_stops_before_any_write(spark, raw, jdbc_source, jdbc_lakehouse, capsys):  # noqa: ANN001
    from jobs import ingest as ingest_job

    app = f"ntl-faults-{uuid.uuid4().hex[:8]}"
    cfg = _jdbc_config(jdbc_lakehouse, raw, jdbc_source, app, "jdbc.retries=0")
    lakehouse = Path(cfg.paths.resolve("lakehouse"))
    before = delta_versions(lakehouse)
    assert {schemas.CUSTOMERS, schemas.BILLS} <= set(before)

    reading, kill, killed = _backend_killer(cfg, app, jdbc_source["bills"])
    fault = Fault(reading, kill)
    fault.start()
    args = ["--env", "test"]
    for key in ("paths.root", "ingest.input", "ingest.source", "ingest.tables", "ingest.period_start",
                "ingest.period_end", "jdbc.url", "jdbc.tables", "jdbc.fetchsize", "jdbc.retries"):
        args += ["--set", f"{key}={_override(cfg, key)}"]
    code = ingest_job.main(args)
    fault.join(timeout=60)
    assert fault.error is None, fault.error
    assert killed, "no backend of the ingest was terminated"
    err = capsys.readouterr().err
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("ntl_spark.io.jdbc.JdbcReadError: JDBC source jdbc:postgresql://"), last
    assert f"table 'bills' ({jdbc_source['bills']})" in last and "SQLState 57P01" in last, last
    assert delta_versions(lakehouse) == before  # customers was read too, but nothing was written


@pytest.mark.parametrize(
    ("make", "transient", "why"),
    [
        (lambda jvm: jvm.java.sql.SQLException("FATAL: terminating connection\ndetail", "57P01"), True,
         "SQLState 57P01 SQLException: FATAL: terminating connection"),
        (lambda jvm: jvm.java.sql.SQLException("I/O error", "08006"), True, "SQLState 08006 SQLException: I/O error"),
        (lambda jvm: jvm.java.sql.SQLRecoverableException("No more data to read from socket"), True,
         "SQLState - SQLRecoverableException: No more data to read from socket"),
        (lambda jvm: jvm.java.sql.SQLException("relation does not exist", "42P01"), False,
         "SQLState 42P01 SQLException: relation does not exist"),
        (lambda jvm: jvm.java.lang.IllegalStateException("boom"), False, "org.apache.spark.SparkException: job aborted"),
    ],
    ids=["admin-shutdown", "connection", "recoverable", "missing-relation", "not-sql"],
)
def test_jdbc_failures_are_classified_by_sqlstate_and_type(spark, make, transient: bool, why: str) -> None:  # noqa: ANN001
    """What ``read_table`` retries: found through the causes of Spark's job failure, never from message text."""
    jvm = spark.sparkContext._jvm
    failure = SimpleNamespace(java_exception=jvm.org.apache.spark.SparkException("job aborted", make(jvm)))
    assert jdbc.classify_failure(failure) == (transient, why)  # type: ignore[arg-type]


def _override(cfg: Config, key: str) -> str:
    """``key``'s value in ``cfg`` written back as an override (YAML flow style for mappings and lists)."""
    section, name = key.split(".")
    value = getattr(getattr(cfg, section), name)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(value) + "]"
    return str(value)
