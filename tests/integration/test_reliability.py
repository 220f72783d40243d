"""Reliability promises on real Delta tables and real processes.

- A rerun of a stage for one period replaces exactly that period: rows of
  other periods keep their content (row hashes compared), the rerun period
  gets the same rows from the same input.
- An empty or failing source never deletes rows: the job fails with a clear
  message (or skips an empty source it is allowed to skip) and every table
  keeps its version and rows.
- ``kill -9`` while a job writes leaves every table at its previous version,
  readable by another Delta reader (``deltalake``), and a rerun gives the rows
  of an undisturbed run.
- The same inputs, configuration and seed give the same model and ranking.

One lakehouse (400 customers, 20 days of readings) is built once for the
module, with a few customers moved outside ``ingest.bbox`` so that the
quarantine holds customer rows whose bills and readings are kept; every test
takes its own "before" state, so the tests do not depend on their order. The
kill tests rerun one period (a day of readings, a reference month, a scoring
day and model), so they also prove the period promise for those stages. The
determinism test builds a second lakehouse from the same raw files.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from pyspark.sql import Column
from pyspark.sql import functions as F

from ntl_spark import generate, schemas
from ntl_spark.config import Config
from tests.conftest import make_config

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Small data: 400 customers (40 months of bills), 20 days of readings (2026-09-11 .. 2026-09-30).
COMMON = ("generate.customers=400", "generate.reading_days=20", "windows.days=14")
SCORED_ON = "2026-10-01"
INGEST_META = ("_ingest_run_id", "_ingested_at")
# A killed run writes with 16 shuffle partitions and no coalescing, so that its
# write is 8 waves of tasks on local[2]: the kill, sent when the first data file
# of the write appears, lands well before the commit (asserted, not assumed).
SLOW_WRITE = ("spark.shuffle_partitions=16", 'spark.conf={"spark.sql.adaptive.coalescePartitions.enabled": "false"}')


# ------------------------------------------------------------------ helpers
def _args(root: Path, overrides: Sequence[str]) -> list[str]:
    args = ["--env", "test", "--set", f"paths.root={root}"]
    for o in (*COMMON, *overrides):
        args += ["--set", o]
    return args


def scoring(day: str, model: str | None = None) -> tuple[str, ...]:
    """Overrides that score on ``day`` with the version train just registered (no model gate here)."""
    return (f"score.scored_on={day}", "score.model_ref=candidate", *([f"model.name={model}"] if model else []))


def run_job(name: str, root: Path, *overrides: str) -> int:
    """Run ``jobs/<name>.py`` in this process (the test session is reused); return its exit code."""
    module = importlib.import_module(f"jobs.{name}")
    return int(module.main(_args(root, overrides)))


def table_state(lake: Path) -> dict[str, tuple[int, int]]:
    """Version and row count of every Delta table under ``lake``, read by the ``deltalake`` package."""
    state = {}
    for folder in sorted(lake.iterdir()):
        if (folder / "_delta_log").is_dir():
            table = DeltaTable(str(folder))
            state[folder.name] = (table.version(), table.to_pyarrow_table().num_rows)
    return state


def row_hashes(
    spark, path: Path, group: Sequence[str | Column], exclude: Sequence[str] = ()
) -> dict[tuple[str, ...], tuple[int, str]]:
    """Per group: row count and a digest of the sorted row hashes (every column but ``exclude``).

    Two groups compare equal exactly when they hold the same multiset of rows.
    """
    df = spark.read.format("delta").load(str(path))
    cols = [c for c in df.columns if c not in exclude]
    keys = [(F.col(g) if isinstance(g, str) else g).cast("string").alias(f"_g{i}") for i, g in enumerate(group)]
    row = F.xxhash64(F.to_json(F.struct(*cols))).alias("_h")
    per_group = df.select(*keys, row).groupBy(*[f"_g{i}" for i in range(len(keys))]).agg(
        F.count("*").alias("n"),
        F.sha2(F.concat_ws(",", F.sort_array(F.collect_list("_h")).cast("array<string>")), 256).alias("digest"),
    )
    return {tuple(r[: len(keys)]): (int(r["n"]), r["digest"]) for r in per_group.collect()}


def split(hashes: dict, keys: set) -> tuple[dict, dict]:
    """(the groups in ``keys``, the others)."""
    return ({k: v for k, v in hashes.items() if k in keys}, {k: v for k, v in hashes.items() if k not in keys})


# ---------------------------------------------------------------- kill -9
def data_files(table: Path) -> set[Path]:
    """Data files of a Delta table folder (committed or not), partition folders included."""
    if not table.exists():
        return set()
    return {p for p in table.rglob("part-*.parquet") if "_delta_log" not in p.parts}


def commits(table: Path) -> list[str]:
    log = table / "_delta_log"
    return sorted(p.name for p in log.glob("*.json")) if log.is_dir() else []


def _group_alive(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are not zombies."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@dataclass(frozen=True)
class Killed:
    commits_before: list[str]
    commits_at_kill: list[str]
    new_files_at_kill: set[Path]
    seconds: float
    returncode: int
    log: str


def kill_while_writing(job: str, root: Path, table: str, *overrides: str, timeout_s: float = 900) -> Killed:
    """Start ``./spark-submit.sh <job>`` in its own process group; SIGKILL the group once the
    job's write has put a data file in ``table``'s folder.

    Fails the test when the job ends, or the timeout passes, before a data file appears.
    """
    folder = root / "lakehouse" / table
    files_before, commits_before = data_files(folder), commits(folder)
    log_path = root / f"{job}-killed.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(REPO / "spark-submit.sh"), job, *_args(root, (*overrides, *SLOW_WRITE))],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        started = time.monotonic()
        deadline = started + timeout_s
        try:
            while True:
                new = data_files(folder) - files_before
                if new:
                    at_kill = commits(folder)
                    os.killpg(proc.pid, signal.SIGKILL)
                    seconds = time.monotonic() - started
                    break
                if proc.poll() is not None:
                    pytest.fail(f"{job} ended (exit {proc.returncode}) before writing {table}:\n"
                                f"{log_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"{job}: no data file in {folder} after {timeout_s} s")
                time.sleep(0.02)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # the JVM and the Python workers die with the group: nothing may commit after this
    for _ in range(300):
        if not _group_alive(proc.pid):
            break
        time.sleep(0.1)
    assert not _group_alive(proc.pid), f"processes of the killed {job} still alive: {_group_alive(proc.pid)}"
    left = data_files(folder) - files_before
    print(f"{job}: killed {seconds:.1f} s after start with {len(new)} new data file(s) in {table} "
          f"({len(left)} on disk after the kill), commits {len(at_kill)} -> {len(commits(folder))}")
    return Killed(commits_before, at_kill, new, seconds, proc.returncode, log_path.read_text())


def assert_killed_inside_the_write(killed: Killed, folder: Path) -> None:
    """The kill came after the write had started (new data files) and before it committed."""
    assert killed.returncode == -signal.SIGKILL, killed.log[-3000:]
    assert killed.new_files_at_kill, "no data file had appeared when the job was killed"
    assert killed.commits_at_kill == killed.commits_before, "the write had committed before the kill"
    assert commits(folder) == killed.commits_before, "a commit landed after the kill"
    # the files of the interrupted write are still there, in no commit: Delta readers skip them
    assert killed.new_files_at_kill <= data_files(folder)


# ----------------------------------------------------------------- fixture
@dataclass(frozen=True)
class Lake:
    root: Path
    cfg: Config
    raw: Path
    ranking: pd.DataFrame  # customer_id, rank, score of the first scoring run

    @property
    def lakehouse(self) -> Path:
        return self.root / "lakehouse"

    def table(self, name: str) -> Path:
        return self.lakehouse / name


def _misplace_customers(raw: Path) -> None:
    """Move a few customers (some with smart meters) outside ``ingest.bbox``: ingest quarantines their
    customer rows and keeps their bills and readings (the utility knows them)."""
    path = sorted((raw / schemas.CUSTOMERS).glob("*.parquet"))[0]
    table = pq.read_table(path)
    frame = table.to_pandas()
    rows = frame.index[:5].union(frame.index[frame.meter_type == "smart"][:3])
    frame.loc[rows, "latitude"] = 0.0
    pq.write_table(pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False), path)


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory) -> Lake:
    """Generated raw files and a full lakehouse: ingest, features, train, score (in this process)."""
    root = tmp_path_factory.mktemp("reliability")
    cfg = make_config(root, *COMMON)
    generate.run(cfg)
    _misplace_customers(Path(cfg.raw_dir))
    for job, extra in (("ingest", ()), ("features", ()), ("train", ()), ("score", scoring(SCORED_ON))):
        assert run_job(job, root, *extra) == 0, job
    scores = DeltaTable(cfg.paths.table(schemas.SCORES)).to_pandas()
    ranking = scores[["customer_id", "rank", "score"]].sort_values("rank").reset_index(drop=True)
    return Lake(root, cfg, Path(cfg.raw_dir), ranking)


# ------------------------------------------------------- 1. period reruns
def test_reingesting_one_month_of_bills_replaces_only_that_month(spark, lake):
    bills = lake.table(schemas.BILLS)
    state = table_state(lake.lakehouse)
    before = row_hashes(spark, bills, ["period"], exclude=INGEST_META)
    month = ("2025-06-01",)
    assert before[month][0] > 0

    code = run_job("ingest", lake.root, "ingest.tables=[bills]",
                   "ingest.period_start=2025-06-01", "ingest.period_end=2025-06-30")

    assert code == 0
    after = row_hashes(spark, bills, ["period"], exclude=INGEST_META)
    assert after == before  # the month holds the same rows again, every other month is untouched
    runs = dict(spark.read.format("delta").load(str(bills)).where("period IN ('2025-05-01', '2025-06-01')")
                .groupBy(F.col("period").cast("string")).agg(F.max("_ingest_run_id")).collect())
    assert runs["2025-06-01"] != runs["2025-05-01"]  # ... written again, by the rerun
    now = table_state(lake.lakehouse)
    assert now[schemas.BILLS] == (state[schemas.BILLS][0] + 1, state[schemas.BILLS][1])
    unchanged = set(state) - {schemas.BILLS, schemas.QUARANTINE, schemas.INGEST_LOG}
    assert {t: now[t] for t in unchanged} == {t: state[t] for t in unchanged}
    assert now[schemas.QUARANTINE][1] == state[schemas.QUARANTINE][1]


def test_windows_rerun_for_one_end_date_replaces_only_it(spark, lake):
    windows = lake.table(schemas.WINDOWS)
    assert run_job("windows", lake.root, "windows.scoring_end=2026-09-29") == 0
    assert run_job("windows", lake.root, "windows.scoring_end=2026-09-30") == 0
    before = row_hashes(spark, windows, ["purpose", "end_date"])
    assert {("score", "2026-09-29"), ("score", "2026-09-30")} <= set(before)
    version = DeltaTable(str(windows)).version()

    assert run_job("windows", lake.root, "windows.scoring_end=2026-09-29") == 0

    assert DeltaTable(str(windows)).version() == version + 1
    # the other end date keeps its rows, the rerun end date (and the training windows) get the same rows
    assert row_hashes(spark, windows, ["purpose", "end_date"]) == before


# ----------------------------------------- 2. empty or failing sources
def _raw_with(lake: Lake, dest: Path, bills_files: dict[str, bytes | pa.Table]) -> Path:
    """A raw folder whose bills are ``bills_files`` (name -> content; none = an empty folder), the rest linked."""
    dest.mkdir()
    for name in (schemas.CUSTOMERS, schemas.READINGS, schemas.EVENTS, schemas.INSPECTIONS):
        (dest / name).symlink_to(lake.raw / name)
    (dest / schemas.BILLS).mkdir()
    for name, content in bills_files.items():
        if isinstance(content, pa.Table):
            pq.write_table(content, dest / schemas.BILLS / name)
        else:
            (dest / schemas.BILLS / name).write_bytes(content)
    return dest


def _bills_sample(lake: Lake) -> pa.Table:
    return pq.read_table(sorted((lake.raw / schemas.BILLS).glob("*.parquet"))[0])


@pytest.mark.parametrize("case", ["parquet_no_rows", "csv_header_only", "corrupt_file", "empty_folder", "missing"])
def test_an_empty_or_failing_source_fails_and_changes_no_table(spark, lake, tmp_path, capsys, case):
    state = table_state(lake.lakehouse)
    fmt = "parquet"
    if case == "parquet_no_rows":
        raw = _raw_with(lake, tmp_path / "raw", {"part-00000.parquet": _bills_sample(lake).slice(0, 0)})
        expect = "no rows"
    elif case == "csv_header_only":
        # every table of the run as CSV, bills with a header and no rows
        raw = tmp_path / "raw"
        for name in (schemas.CUSTOMERS, schemas.INSPECTIONS):
            (raw / name).mkdir(parents=True)
            frame = pq.read_table(lake.raw / name).to_pandas()
            frame.to_csv(raw / name / "part-00000.csv", index=False)
        (raw / schemas.BILLS).mkdir()
        (raw / schemas.BILLS / "part-00000.csv").write_text(",".join(_bills_sample(lake).column_names) + "\n")
        fmt, expect = "csv", "no rows"
    elif case == "corrupt_file":
        raw = _raw_with(lake, tmp_path / "raw", {"part-00000.parquet": b"PAR1 this is not parquet"})
        expect = "part-00000.parquet"
    elif case == "empty_folder":
        raw, expect = _raw_with(lake, tmp_path / "raw", {}), "no data files"
    else:
        raw, expect = tmp_path / "nothing-here", "not found"
    capsys.readouterr()

    # every contract table of the run is read and checked before any is written
    code = run_job("ingest", lake.root, f"ingest.input={raw}", f"ingest.format={fmt}",
                   "ingest.tables=[customers,bills,inspections]")

    err = capsys.readouterr().err
    assert code != 0
    assert expect in err, err[-2000:]
    assert table_state(lake.lakehouse) == state


def test_an_empty_source_allowed_to_be_empty_is_skipped_and_deletes_nothing(spark, lake, tmp_path):
    # customers has rows in the quarantine (coordinates outside the box): they must stay too
    quarantine = lake.table(schemas.QUARANTINE)
    q_before = row_hashes(spark, quarantine, ["table", "window"])
    assert q_before.get(("customers", ".."), (0, ""))[0] > 0
    customers = pq.read_table(sorted((lake.raw / schemas.CUSTOMERS).glob("*.parquet"))[0])
    raw = tmp_path / "raw"
    (raw / schemas.CUSTOMERS).mkdir(parents=True)
    pq.write_table(customers.slice(0, 0), raw / schemas.CUSTOMERS / "part-00000.parquet")
    state = table_state(lake.lakehouse)

    code = run_job("ingest", lake.root, f"ingest.input={raw}", "ingest.tables=[customers]",
                   "ingest.allow_empty=[customers]")

    assert code == 0
    now = table_state(lake.lakehouse)
    assert now.pop(schemas.INGEST_LOG)[1] == state.pop(schemas.INGEST_LOG)[1] + 1
    assert now == state  # customers and its quarantined rows included
    assert row_hashes(spark, quarantine, ["table", "window"]) == q_before
    log = DeltaTable(str(lake.table(schemas.INGEST_LOG))).to_pandas()
    last = log[log.table == schemas.CUSTOMERS].sort_values("ingested_at").iloc[-1]
    assert last.rows_read == 0 and last.delta_version == state[schemas.CUSTOMERS][0]


# ------------------------------------------------------ 3. kill -9 mid-write
def test_ingest_killed_while_writing_then_rerun(spark, lake):
    readings = lake.table(schemas.READINGS)
    day = ("2026-09-20",)
    period = ("ingest.tables=[readings]", "ingest.period_start=2026-09-20", "ingest.period_end=2026-09-20")
    state = table_state(lake.lakehouse)
    before = row_hashes(spark, readings, [F.to_date("ts")], exclude=INGEST_META)
    assert before[day][0] > 0

    killed = kill_while_writing("ingest", lake.root, schemas.READINGS, *period)

    assert_killed_inside_the_write(killed, readings)
    assert table_state(lake.lakehouse) == state
    assert row_hashes(spark, readings, [F.to_date("ts")], exclude=INGEST_META) == before

    assert run_job("ingest", lake.root, *period) == 0
    assert DeltaTable(str(readings)).version() == state[schemas.READINGS][0] + 1
    # the day holds the rows of the first (undisturbed) ingest again; the other days are untouched
    assert row_hashes(spark, readings, [F.to_date("ts")], exclude=INGEST_META) == before


def test_features_killed_while_writing_then_rerun(spark, lake):
    mf = lake.table(schemas.MONTHLY_FEATURES)
    month = "features.reference_month=2026-06-01"
    assert run_job("features", lake.root, month) == 0  # a second reference month beside the fixture's 2026-09-01
    state = table_state(lake.lakehouse)
    before = row_hashes(spark, mf, ["reference_month"])
    assert {("2026-06-01",), ("2026-09-01",)} <= set(before)

    killed = kill_while_writing("features", lake.root, schemas.MONTHLY_FEATURES, month)

    assert_killed_inside_the_write(killed, mf)
    assert table_state(lake.lakehouse) == state  # monthly_features and training_set alike
    assert row_hashes(spark, mf, ["reference_month"]) == before

    assert run_job("features", lake.root, month) == 0
    assert DeltaTable(str(mf)).version() == state[schemas.MONTHLY_FEATURES][0] + 1
    # same inputs at the same versions: the month's rows are identical (lineage included), the other month untouched
    assert row_hashes(spark, mf, ["reference_month"]) == before


def _register_copy(lake: Lake, name: str) -> None:
    """Copy the registered DAICE v1 to model ``name`` with alias candidate: a second model to score with."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=lake.cfg.tracking_uri, registry_uri=lake.cfg.registry_uri)
    if not client.search_model_versions(f"name = '{name}'"):
        mv = client.copy_model_version("models:/DAICE/1", name)
        client.set_registered_model_alias(name, "candidate", mv.version)


def test_score_killed_while_writing_then_rerun(spark, lake):
    scores = lake.table(schemas.SCORES)
    _register_copy(lake, "DAICE_B")
    assert run_job("score", lake.root, *scoring(SCORED_ON, "DAICE_B")) == 0
    assert run_job("score", lake.root, *scoring("2026-10-02")) == 0
    state = table_state(lake.lakehouse)
    group = ["scored_on", "model_name"]
    content = ("run_id", schemas.LINEAGE_COLUMN)
    before = row_hashes(spark, scores, group, exclude=("run_id",))
    before_content = row_hashes(spark, scores, group, exclude=content)
    rerun = {(SCORED_ON, "DAICE")}
    assert rerun | {(SCORED_ON, "DAICE_B"), ("2026-10-02", "DAICE")} <= set(before)

    killed = kill_while_writing("score", lake.root, schemas.SCORES, *scoring(SCORED_ON))

    assert_killed_inside_the_write(killed, scores)
    assert table_state(lake.lakehouse) == state
    assert row_hashes(spark, scores, group, exclude=("run_id",)) == before

    assert run_job("score", lake.root, *scoring(SCORED_ON)) == 0
    assert DeltaTable(str(scores)).version() == state[schemas.SCORES][0] + 1
    # other days and models untouched
    assert split(row_hashes(spark, scores, group, exclude=("run_id",)), rerun)[1] == split(before, rerun)[1]
    # the rerun wrote the rows of the undisturbed first run (ranks, scores, top features); only its lineage
    # may differ, as another test may have committed a new monthly_features version meanwhile
    assert split(row_hashes(spark, scores, group, exclude=content), rerun)[0] == split(before_content, rerun)[0]


# -------------------------------------------------------- 4. determinism
def assert_same_ranking(scores: pd.DataFrame, expected: pd.DataFrame) -> None:
    got = scores[["customer_id", "rank", "score"]].sort_values("rank").reset_index(drop=True)
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def _booster(cfg: Config):
    import mlflow
    import mlflow.xgboost

    mlflow.set_tracking_uri(cfg.tracking_uri)
    mlflow.set_registry_uri(cfg.registry_uri)
    return mlflow.xgboost.load_model("models:/DAICE/1")


def test_same_inputs_and_seed_give_the_same_model_and_ranking(spark, lake, tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability-twin")
    raw = f"ingest.input={lake.raw}"
    for job, extra in (("ingest", (raw, "ingest.tables=[customers,bills,inspections,events]")), ("features", ()),
                       ("train", ()), ("score", scoring(SCORED_ON))):
        assert run_job(job, root, *extra) == 0, job
    twin = make_config(root, *COMMON)

    assert_same_ranking(DeltaTable(twin.paths.table(schemas.SCORES)).to_pandas(), lake.ranking)
    # the score column above is each booster's prediction on the same rows; the trees are the same too
    a, b = _booster(lake.cfg), _booster(twin)
    assert a.feature_names == b.feature_names
    assert a.get_dump(with_stats=True) == b.get_dump(with_stats=True)


def test_features_rebuild_a_monthly_features_table_of_an_older_layout(spark, lake):
    mf = lake.table(schemas.MONTHLY_FEATURES)
    current = spark.read.format("delta").load(str(mf))
    # as an older version wrote it: without two of the visit-history columns
    from ntl_spark import features, lakehouse
    old = current.drop("irregular_before", "months_since_irregular")
    lakehouse.write(old, str(mf), schemas.MONTHLY_FEATURES, replace_layout=True, partition_by=("reference_month",))
    old_version = DeltaTable(str(mf)).version()

    assert run_job("features", lake.root) == 0

    rebuilt = spark.read.format("delta").load(str(mf))
    assert set(rebuilt.columns) == set(current.columns)
    # rebuilt whole: the reference month and the months train draws unlabelled negatives at, nothing else
    ref = dt.date(2026, 9, 1)
    tc = lake.cfg.train
    history = features.history_months(ref, tc.unlabelled_months, []) if tc.unlabelled_share > 0 else []
    assert sorted(r[0] for r in rebuilt.select("reference_month").distinct().collect()) == [*history, ref]
    assert rebuilt.where(F.col("reference_month") == ref).count() == current.where(
        F.col("reference_month") == ref).count()
    assert DeltaTable(str(mf)).version() == old_version + 1
    # the old layout stays readable in the table's history
    assert "irregular_before" not in spark.read.format("delta").option("versionAsOf", old_version).load(str(mf)).columns


@pytest.mark.parametrize("broken", ["no_outcome", "customer_id_as_long"])
def test_features_refuse_a_bronze_table_without_the_contract_layout(spark, lake, tmp_path, capsys, broken):
    """A bronze inspections table written by hand or another tool (a column missing, or another type) fails
    the features job with a bad-input exit naming the table and the column, before anything is written."""
    import shutil

    from ntl_spark import lakehouse
    from ntl_spark.errors import EXIT_DATA

    root = tmp_path / "copy"
    for t in (schemas.CUSTOMERS, schemas.BILLS, schemas.INSPECTIONS):
        shutil.copytree(lake.table(t), root / "lakehouse" / t)
    path = str(root / "lakehouse" / schemas.INSPECTIONS)
    insp = spark.read.format("delta").load(path)
    if broken == "no_outcome":
        insp, expect = insp.drop("outcome"), "missing outcome (string)"
    else:
        insp = insp.withColumn("customer_id", F.abs(F.hash("customer_id")).cast("long"))
        expect = "customer_id: bigint, declared string"
    lakehouse.write(insp, path, schemas.INSPECTIONS, replace_layout=True)
    before = table_state(root / "lakehouse")
    capsys.readouterr()

    assert run_job("features", root) == EXIT_DATA
    err = capsys.readouterr().err
    assert "table 'inspections'" in err and expect in err, err[-2000:]
    assert "Traceback" not in err
    assert table_state(root / "lakehouse") == before  # no monthly_features or training_set written
