"""The DAICE pipeline end to end on generated data: the jobs, their outputs, bad input."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from ntl_spark import generate, schemas
from tests.conftest import make_config

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
JOBS = ("ingest", "features", "train", "validate_model", "score", "publish")  # the scheduled order: score takes the champion


def run_job(name: str, root: Path, *overrides: str) -> int:
    """Run ``jobs/<name>.py`` in this process (the test session is reused, not stopped)."""
    import importlib

    module = importlib.import_module(f"jobs.{name}")
    return module.main(["--env", "test", "--set", f"paths.root={root}", *[a for o in overrides for a in ("--set", o)]])


@pytest.fixture(scope="module")
def pipeline(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    cfg = make_config(root, "generate.customers=2500")
    generate.run(cfg)
    # train with base.yaml's unlabelled negatives (the test profile keeps them off for its tiny lakes)
    codes = {job: run_job(job, root, "generate.customers=2500", "score.scored_on=2026-10-01",
                          "train.unlabelled_share=10") for job in JOBS}
    return root, cfg, codes


def test_every_job_succeeds(pipeline):
    _, _, codes = pipeline
    assert codes == {job: 0 for job in JOBS}


def test_scores_read_with_an_independent_delta_reader(pipeline):
    root, cfg, _ = pipeline
    scores = DeltaTable(cfg.paths.table(schemas.SCORES)).to_pandas()
    customers = DeltaTable(cfg.paths.table(schemas.CUSTOMERS)).to_pandas()
    active = set(customers.loc[customers.status == "active", "customer_id"])
    assert len(scores) == len(active)
    assert set(scores.customer_id) == active
    assert scores.customer_id.is_unique
    assert sorted(scores["rank"]) == list(range(1, len(scores) + 1))
    for _, part in scores.groupby("region"):
        assert sorted(part.region_rank) == list(range(1, len(part) + 1))
    assert set(scores.model_name) == {"DAICE"} and set(scores.model_version) == {"1"}
    top = scores.sort_values("rank")
    assert top.score.is_monotonic_decreasing
    assert scores.score.between(0, 1).all()
    # top contributions for the head only (score.explain_top_n overall, score.explain_per_region per region)
    head = (scores["rank"] <= cfg.score.explain_top_n) | (scores.region_rank <= cfg.score.explain_per_region)
    assert all(len(t) == 3 for t in scores.top_features[head])
    assert scores.top_features[~head].isna().all()
    lineage = dict(scores.data_versions.iloc[0])
    assert {"monthly_features", "bills", "customers", "inspections"} <= set(lineage)
    assert all(isinstance(v, int) and v >= 0 for v in lineage.values())


def test_published_parquet_is_readable_by_pyarrow(pipeline, spark):
    _, cfg, _ = pipeline
    table = ds.dataset(cfg.publish_path, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == DeltaTable(cfg.paths.table(schemas.SCORES)).to_pyarrow_table().num_rows
    assert {"scored_on", "model_name", "rank", "score"} <= set(table.column_names)
    files = list(Path(cfg.publish_path).rglob("*.parquet"))
    assert files and "scored_on=2026-10-01" in str(files[0]) and "model_name=DAICE" in str(files[0])
    assert pq.read_schema(files[0]).field("rank").type == "int32"
    assert spark.table("ntl.scores").where("scored_on = '2026-10-01'").count() == table.num_rows


def test_mlflow_registry_holds_the_model_with_metrics(pipeline):
    root, cfg, _ = pipeline
    con = sqlite3.connect(root / "mlflow.db")
    versions = con.execute("select name, version, run_id from model_versions").fetchall()
    assert [(n, v) for n, v, _ in versions] == [("DAICE", 1)]
    aliases = con.execute("select alias, version from registered_model_aliases where name='DAICE'").fetchall()
    assert ("candidate", 1) in aliases and ("champion", 1) in aliases  # the first challenger passed the floor
    run_id = versions[0][2]
    metrics = {k for (k,) in con.execute("select key from latest_metrics where run_uuid=?", (run_id,))}
    for name in ("f1", "precision", "recall", "accuracy", "pr_auc", "roc_auc", "fpr", "tpr", "precision_at_k"):
        assert f"test_{name}" in metrics
    params = dict(con.execute("select key, value from params where run_uuid=?", (run_id,)).fetchall())
    for table in ("training_set", "bills", "customers", "inspections", "monthly_features"):
        assert f"data.{table}.version" in params
    # never-inspected customers joined the training split as down-weighted negatives
    assert int(params["n_train_unlabelled"]) > int(params["n_train"]) // 2 and float(params["unlabelled_weight"]) == cfg.train.unlabelled_weight == 0.1
    # ... at the latest monthly_features month and 6, 12 and 18 months before (built by the features job)
    drawn = params["unlabelled_drawn_months"].split(",")
    assert drawn == ["2025-03-01", "2025-09-01", "2026-03-01", "2026-09-01"]
    held = DeltaTable(cfg.paths.table(schemas.MONTHLY_FEATURES)).to_pandas(columns=["reference_month"])
    assert sorted(held.reference_month.astype(str).unique()) == drawn


def test_model_carries_the_categories_learned_in_training(pipeline):
    from ntl_spark import models, tracking
    from ntl_spark.generate.common import REGIONS, TARIFFS

    _, cfg, _ = pipeline
    client = tracking.setup(cfg)
    ref = tracking.resolve(client, "DAICE", "1")
    model = models.load_daice(ref)
    vocab = model.vocabulary
    assert vocab.columns == ["region", "tariff", "meter_type", "activity"]
    assert set(vocab.levels("region").levels) == set(REGIONS)  # learned from the data, every region common enough
    assert set(vocab.levels("tariff").levels) <= set(TARIFFS)
    assert set(vocab.levels("meter_type").levels) == {"conventional", "smart"}
    assert model.feature_columns[-len(vocab.feature_columns):] == vocab.feature_columns
    assert {"region__other", "tariff__other", "activity__other"} <= set(model.feature_columns)
    assert "is_smart" not in model.feature_columns
    # train.raw_consumption false (base.yaml): the derived features in, C1..C36 by position out
    assert "ratio_6_yoy" in model.feature_columns and "C1" not in model.feature_columns
    assert "categories.json" in {a.path for a in client.list_artifacts(ref.run_id)}


def test_model_beats_chance(pipeline):
    root, _, _ = pipeline
    con = sqlite3.connect(root / "mlflow.db")
    auc = con.execute("select value from latest_metrics where key='test_roc_auc'").fetchone()[0]
    assert auc > 0.6


def test_reingest_is_idempotent(pipeline):
    root, cfg, _ = pipeline
    before = DeltaTable(cfg.paths.table(schemas.BILLS)).to_pandas().drop(columns=[c for c in ("_ingest_run_id", "_ingested_at")])
    assert run_job("ingest", root, "ingest.tables=[bills]") == 0
    after = DeltaTable(cfg.paths.table(schemas.BILLS)).to_pandas().drop(columns=[c for c in ("_ingest_run_id", "_ingested_at")])
    key = ["customer_id", "period"]
    pd.testing.assert_frame_equal(before.sort_values(key).reset_index(drop=True), after.sort_values(key).reset_index(drop=True))


def _corrupt_bills(raw: Path, dest: Path, mutate) -> None:
    dest.mkdir(parents=True)
    for name in ("customers", "inspections"):
        (dest / name).symlink_to(raw / name)
    bills = pd.concat(pd.read_parquet(p) for p in sorted((raw / "bills").glob("*.parquet")))
    (dest / "bills").mkdir()
    mutate(bills).to_parquet(dest / "bills" / "part-00000.parquet", index=False)


def test_bad_rows_are_quarantined_with_reasons(pipeline, tmp_path):
    root, cfg, _ = pipeline

    def mutate(b):
        b = b.copy()
        b.loc[b.index[:3], "kwh"] = -5.0
        return pd.concat([b, b.iloc[10:12]])  # two exact duplicate bills

    _corrupt_bills(Path(cfg.raw_dir), tmp_path / "raw", mutate)
    code = run_job("ingest", root, f"ingest.input={tmp_path / 'raw'}", "ingest.tables=[bills]")
    assert code == 0
    q = DeltaTable(cfg.paths.table(schemas.QUARANTINE)).to_pandas()
    reasons = q.loc[q.table == "bills", "reason"].value_counts().to_dict()
    assert reasons == {"kwh negative": 3, "duplicate row": 2}
    log = DeltaTable(cfg.paths.table(schemas.INGEST_LOG)).to_pandas()
    last = log[log.table == "bills"].sort_values("ingested_at").iloc[-1]
    assert last.rows_quarantined == 5


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.drop(columns=["kwh"]), "column(s) ['kwh'] missing"),
        (lambda b: b.assign(kwh=b.kwh.astype(str)), "'kwh' has type string, expected double"),
    ],
)
def test_schema_change_stops_the_job_and_keeps_the_table(pipeline, tmp_path, mutate, message):
    root, cfg, _ = pipeline
    version = DeltaTable(cfg.paths.table(schemas.BILLS)).version()
    _corrupt_bills(Path(cfg.raw_dir), tmp_path / "raw", mutate)
    proc = subprocess.run(
        [sys.executable, "jobs/ingest.py", "--env", "test", "--set", f"paths.root={root}",
         "--set", f"ingest.input={tmp_path / 'raw'}", "--set", "ingest.tables=[bills]"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert message in proc.stderr
    assert DeltaTable(cfg.paths.table(schemas.BILLS)).version() == version


def test_bad_config_fails_before_spark_with_the_key(tmp_path):
    proc = subprocess.run([str(REPO / "spark-submit.sh"), "train", "--set", "train.max_depht=3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "train.max_depht" in proc.stderr
