"""The field loop on a hand-built lakehouse: campaign (Delta, Hive, workbook, PostgreSQL) -> outcomes ->
field report -> monitor with its exit codes (0 nothing to do, 10 retrain advised)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ntl_spark import campaign, cycle, field_report, lakehouse, monitor, outcomes, schemas, tracking
from ntl_spark.cli import run_job
from ntl_spark.config import Config
from ntl_spark.errors import EXIT_OK, EXIT_RETRAIN
from ntl_spark.io import excel, jdbc
from tests.conftest import make_config, service_overrides, services_env

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 9, 1)
REGIONS = {"NORTE": 60, "SUR": 40}


def _register_champion(spark: SparkSession, cfg: Config, tmp: Path) -> str:
    """A champion whose training run recorded a training_set version with labels up to 2026-06-01."""
    import mlflow

    labels = spark.createDataFrame([("I0", "N010", dt.date(2026, 6, 1), 1)],
                                   "inspection_id string, customer_id string, inspected_on date, label int")
    ts_version = lakehouse.write(labels, cfg.paths.table(schemas.TRAINING_SET), schemas.TRAINING_SET)
    client = tracking.setup(cfg)
    with mlflow.start_run() as run_:
        tracking.log_data_versions({schemas.TRAINING_SET: ts_version})
    client.create_registered_model(cfg.model.name)
    (tmp / "model").mkdir()
    mv = client.create_model_version(cfg.model.name, str(tmp / "model"), run_id=run_.info.run_id)
    client.set_registered_model_alias(cfg.model.name, cfg.model.champion, mv.version)
    return str(mv.version)


def _lakehouse(spark: SparkSession, cfg: Config, version: str) -> None:
    scores, customers = [], []
    for region, n in REGIONS.items():
        for i in range(n):
            cid = f"{region[0]}{i:03d}"
            scores.append((cid, region, 1.0 - i / n, 0, 0, cfg.model.name, version, "run-1", DAY,
                           dt.date(2026, 8, 1), {"monthly_features": 0}, None))
            customers.append((cid, None, "conventional", region, "residential", 5.0, None, None, None,
                              dt.date(2020, 1, 1), "inactive" if i == 1 else "active"))
    lakehouse.write(spark.createDataFrame(scores, schemas.SCORES_SCHEMA), cfg.paths.table(schemas.SCORES),
                    schemas.SCORES, schema=schemas.SCORES_SCHEMA)
    lakehouse.write(spark.createDataFrame(customers, schemas.CUSTOMERS_SCHEMA), cfg.paths.table(schemas.CUSTOMERS),
                    schemas.CUSTOMERS, schema=schemas.CUSTOMERS_SCHEMA)
    past = [("P1", "N002", dt.date(2026, 5, 1), "irregular", "bypass", 1200.0, None),  # inspected recently: excluded
            ("P2", "S003", dt.date(2024, 5, 1), "irregular", "bypass", 800.0, None)]
    _inspections(spark, cfg, past)


def _inspections(spark: SparkSession, cfg: Config, rows: list[tuple[object, ...]]) -> None:
    lakehouse.write(spark.createDataFrame(rows, schemas.INSPECTIONS_SCHEMA), cfg.paths.table(schemas.INSPECTIONS),
                    schemas.INSPECTIONS, schema=schemas.INSPECTIONS_SCHEMA)


def test_field_loop_end_to_end(spark: SparkSession, services: Config, tmp_path: Path) -> None:
    table = f"requests_{tmp_path.name[-8:].lower().replace('-', '_')}"
    base = (f"paths.root={tmp_path}", "campaign.budget={NORTE: 20, SUR: 10}", "campaign.control_share=0.5",
            "campaign.created_on=2026-09-02", "campaign.expected_kwh=history", "campaign.order_by=expected_value",
            f"campaign.jdbc_table={table}", "publish.database=ntl_field", "monitor.min_labelled=10",
            "monitor.min_new_labels=1000", "monitor.hit_rate_floor=0.05", *service_overrides(services_env()))
    cfg = make_config(tmp_path, *base)
    version = _register_champion(spark, cfg, tmp_path)
    _lakehouse(spark, cfg, version)
    try:
        out = campaign.run(spark, cfg)
        assert out["rows"] == 30 and out["excluded"]["inactive"] == 2 and out["excluded"]["inspected_recently"] == 1
        rows = lakehouse.read_pinned(spark, cfg.paths.table(schemas.CAMPAIGNS), "campaigns", "campaign").df
        pdf = rows.orderBy("region", "arm", "rank").toPandas()
        assert dict(pdf.groupby(["region", "arm"]).size()) == {
            ("NORTE", "control"): 10, ("NORTE", "model"): 10, ("SUR", "control"): 5, ("SUR", "model"): 5}
        assert not ({"N001", "N002", "S001"} & set(pdf["customer_id"]))
        # expected kWh from history: the region's mean recovered kWh of past irregular inspections
        assert dict(zip(pdf["region"], pdf["expected_kwh"], strict=True)) == {"NORTE": 1200.0, "SUR": 800.0}
        assert pdf["expected_value"].tolist() == pytest.approx((pdf["score"] * pdf["expected_kwh"] * 0.25 - 40).tolist())
        # the workbook holds the Delta rows
        for region in REGIONS:
            header, back = excel.read_sheet(out["workbook"], region)
            want = pdf[pdf["region"] == region]
            assert [r[header.index("customer_id")] for r in back] == list(want["customer_id"])
            assert [r[header.index("arm")] for r in back] == list(want["arm"])
        # the Hive table and the relational database hold them too
        assert spark.table(f"ntl_field.{cfg.campaign.hive_table}").count() == 30
        conn = jdbc.pg_connect(cfg.jdbc)
        with conn, conn.cursor() as cur:
            cur.execute(f"select arm, count(*) from {table} group by arm order by arm")
            assert cur.fetchall() == [("control", 15), ("model", 15)]
        conn.close()
        again = campaign.run(spark, cfg)  # a rerun replaces the campaign's rows everywhere: the same requests
        rerun = lakehouse.read_pinned(spark, cfg.paths.table(schemas.CAMPAIGNS), "campaigns", "campaign").df
        assert again["rows"] == 30 and rerun.count() == 30
        assert sorted(rerun.select("customer_id", "arm").collect()) == sorted(rows.select("customer_id", "arm")
                                                                              .collect())
        conn = jdbc.pg_connect(cfg.jdbc)
        with conn, conn.cursor() as cur:
            cur.execute(f"select count(*) from {table}")
            assert cur.fetchone()[0] == 30
        conn.close()
    finally:
        conn = jdbc.pg_connect(cfg.jdbc)
        with conn, conn.cursor() as cur:
            cur.execute(f"drop table if exists {table}")
        conn.close()

    # the field answers: the model arm finds little, the control arm much (a model that lost its way)
    reqs = rows.orderBy("region", "arm", "rank").collect()
    answered = []
    for i, r in enumerate(reqs):
        found = (r["arm"] == "model" and i % 5 == 0) or (r["arm"] == "control" and i % 4 != 0)
        answered.append((f"X{i}", r["customer_id"], dt.date(2026, 9, 20), "irregular" if found else "regular",
                         None, 500.0 if found else None, r["campaign_id"] if i % 2 else None))
    answered.append(("U1", "N001", dt.date(2026, 9, 21), "no_access", None, None, None))
    _inspections(spark, cfg, answered + [("P1", "N002", dt.date(2026, 5, 1), "irregular", "bypass", 1200.0, None)])
    got = outcomes.run(spark, cfg)
    assert got["rows"] == 32 and got["pending"] == 0
    table_rows = lakehouse.read_pinned(spark, cfg.paths.table(schemas.OUTCOMES_TABLE), "outcomes", "outcomes").df
    assert table_rows.where("arm IN ('model', 'control')").count() == 30
    assert table_rows.where(F.col("arm") == "unsolicited").count() == 2

    report = field_report.run(spark, cfg)
    assert Path(report["report"]).exists() and (Path(report["report"]).parent / "hit_rate.png").exists()
    stats = report["stats"]
    model_all = stats[(stats["arm"] == "model") & (stats["region"] == "ALL")].iloc[0]
    assert model_all["lift"] < 1 and model_all["labelled"] == 15
    assert tracking.setup(cfg).get_model_version(cfg.model.name, version).tags["field_report_run"] == \
        report["mlflow_runs"][version]

    argv = ["--env", "test", *[a for o in base for a in ("--set", o)]]
    code = run_job("monitor", "", monitor.run, argv, result_code=monitor.verdict_code)
    assert code == EXIT_RETRAIN  # the lift's upper bound is below 1
    checks = lakehouse.read_pinned(spark, cfg.paths.table(schemas.MONITORING), "monitoring", "monitor").df
    assert {r["check"] for r in checks.where("retrain").collect()} == {"lift"}

    # the cycle job ends on the same verdict: its field stages run, its monitor advises retraining -> exit 10,
    # recorded as retrain_advised in cycle_log (the DAGs and cron branch on that code)
    cycle_argv = [*argv, "--set", "cycle.month=2026-08-01", "--set", "cycle.stages=[outcomes,monitor]"]
    assert run_job("cycle", "", cycle.run, cycle_argv, needs_spark=False, result_code=cycle.exit_code) == EXIT_RETRAIN
    cycle_log = lakehouse.read_pinned(spark, cfg.paths.table(cycle.CYCLE_LOG), cycle.CYCLE_LOG, "cycle").df
    assert {(r["stage"], r["status"], r["exit_code"]) for r in cycle_log.collect()} == {
        ("outcomes", "done", 0), ("monitor", "retrain_advised", EXIT_RETRAIN)}

    # the model arm finds every irregularity, control none: nothing to do (exit 0) with 30 new labels
    # (after 2026-06-01, the champion's last training label) under monitor.min_new_labels=1000; exit 10 at 20
    model_ids = {r["customer_id"] for r in reqs if r["arm"] == "model"}
    better = [(iid, c, d, "irregular" if c in model_ids else ("regular" if o != "no_access" else o), irr, kwh, cid)
              for iid, c, d, o, irr, kwh, cid in answered]
    _inspections(spark, cfg, better)
    outcomes.run(spark, cfg)
    assert run_job("monitor", "", monitor.run, argv, result_code=monitor.verdict_code) == EXIT_OK
    labels = run_job("monitor", "", monitor.run, [*argv, "--set", "monitor.min_new_labels=20"],
                     result_code=monitor.verdict_code)
    assert labels == EXIT_RETRAIN
