"""Campaign selection: region budgets, exclusions, the seeded control arm, the workbook."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import campaign, schemas
from ntl_spark.config import CampaignConf, Config
from ntl_spark.errors import ConfigError, MissingInputError
from ntl_spark.io import excel

DAY = dt.date(2026, 9, 1)


def conf(cfg: Config, **changes: object) -> CampaignConf:
    base = dataclasses.replace(cfg.campaign, budget={}, region_shares={}, total=10, control_share=0.0,
                               exclude_inspected_months=12, exclude_requested_months=3, seed=17,
                               order_by="probability")
    return dataclasses.replace(base, **changes)


def make_scores(spark: SparkSession, n_by_region: dict[str, int], run_id: str = "run-1") -> DataFrame:
    rows = []
    for region, n in n_by_region.items():
        for i in range(n):
            cid = f"{region[:2]}{i:04d}"
            rows.append((cid, region, round(1.0 - i / (n + 1), 6), 0, 0, "DAICE", "3", run_id, DAY,
                         dt.date(2026, 8, 1), {"monthly_features": 1}, None))
    return spark.createDataFrame(rows, schemas.SCORES_SCHEMA)


def make_customers(spark: SparkSession, scores: DataFrame, inactive: tuple[str, ...] = ()) -> DataFrame:
    ids = [r["customer_id"] for r in scores.select("customer_id").collect()]
    rows = [(c, None, "conventional", "X", "residential", 5.0, None, None, None, dt.date(2020, 1, 1),
             "inactive" if c in inactive else "active") for c in ids]
    return spark.createDataFrame(rows, schemas.CUSTOMERS_SCHEMA)


def inspections(spark: SparkSession, rows: list[tuple[str, dt.date]]) -> DataFrame:
    return spark.createDataFrame(
        [(f"I{i}", c, d, "regular", None, None, None) for i, (c, d) in enumerate(rows)], schemas.INSPECTIONS_SCHEMA)


def requests_of(spark: SparkSession, rows: list[tuple[str, str, dt.date]]) -> DataFrame:
    return spark.createDataFrame(
        [(cid, created, c, "NORTE", "model", 1, 0.5, None, None, "probability", 1.0, 1, 17, "DAICE", "3", "r",
          DAY, {}) for cid, c, created in rows], schemas.CAMPAIGNS_SCHEMA)


# ----------------------------------------------------------------- budgets
def test_region_budgets_explicit_shares_proportional_and_capped(spark_cfg: Config) -> None:
    eligible = {"NORTE": 50, "SUR": 30, "ESTE": 3}
    explicit = campaign.region_budgets(eligible, conf(spark_cfg, budget={"NORTE": 7, "ESTE": 9}))
    assert explicit == {"NORTE": 7, "SUR": 0, "ESTE": 3}  # SUR not named: none; ESTE capped at its 3 eligible
    shares = campaign.region_budgets(eligible, conf(spark_cfg, total=10, region_shares={"NORTE": 2, "SUR": 1}))
    assert shares == {"NORTE": 7, "SUR": 3, "ESTE": 0}  # 6.67 / 3.33: the larger remainder gets the extra one
    proportional = campaign.region_budgets(eligible, conf(spark_cfg, total=20))
    # exact 12.05 / 7.23 / 0.72 -> floors 12 / 7 / 0, the one left goes to ESTE (largest remainder 0.72)
    assert proportional == {"NORTE": 12, "SUR": 7, "ESTE": 1}
    assert sum(proportional.values()) == 20
    with pytest.raises(ConfigError, match="campaign.budget"):
        campaign.region_budgets(eligible, conf(spark_cfg, budget={"OESTE": 5}))


def test_control_count_rounds_half_up_within_the_budget() -> None:
    assert [campaign.control_count(b, 0.05) for b in (0, 9, 10, 30, 100)] == [0, 0, 1, 2, 5]
    assert campaign.control_count(3, 1.0) == 3


def test_months_before_clips_to_month_end() -> None:
    assert campaign.months_before(dt.date(2026, 3, 31), 1) == dt.date(2026, 2, 28)
    assert campaign.months_before(dt.date(2026, 1, 15), 13) == dt.date(2024, 12, 15)
    assert campaign.months_before(DAY, 0) == DAY


def test_select_requests_meets_each_region_budget(spark: SparkSession, spark_cfg: Config) -> None:
    scores = make_scores(spark, {"NORTE": 40, "SUR": 20})
    cc = conf(spark_cfg, budget={"NORTE": 10, "SUR": 25}, control_share=0.2)
    out = campaign.select_requests(scores, make_customers(spark, scores), inspections(spark, []), None, cc,
                                   campaign_id="C1", created_on=DAY)
    counts = {(r["region"], r["arm"]): r["count"] for r in out.groupBy("region", "arm").count().collect()}
    # NORTE: 10 = 8 model + 2 control; SUR: budget 25 capped at its 20 eligible = 16 + 4
    assert counts == {("NORTE", "model"): 8, ("NORTE", "control"): 2, ("SUR", "model"): 16, ("SUR", "control"): 4}
    assert out.select("customer_id").distinct().count() == out.count()  # nobody requested twice
    norte_model = out.where("region = 'NORTE' AND arm = 'model'").orderBy("rank").collect()
    assert [r["rank"] for r in norte_model] == list(range(1, 9))
    scores_sorted = [r["score"] for r in norte_model]
    assert scores_sorted == sorted(scores_sorted, reverse=True)
    norte_control = {r["customer_id"] for r in out.where("region = 'NORTE' AND arm = 'control'").collect()}
    best_rest = [r["customer_id"] for r in scores.where("region = 'NORTE'").orderBy(F.desc("score")).collect()
                 if r["customer_id"] not in norte_control][:8]
    assert [r["customer_id"] for r in norte_model] == best_rest  # the best customers the control draw left
    row = out.where("arm = 'control' AND region = 'NORTE'").first()
    assert row is not None and row["selection_probability"] == pytest.approx(2 / 40)
    assert row["eligible"] == 40 and row["seed"] == 17 and row["scores_run_id"] == "run-1"
    assert row["model_version"] == "3" and row["order_by"] == "probability"


# -------------------------------------------------------------- exclusions
def test_exclusions_inactive_inspected_and_requested(spark: SparkSession, spark_cfg: Config) -> None:
    scores = make_scores(spark, {"NORTE": 10})
    ids = sorted(r["customer_id"] for r in scores.collect())
    customers = make_customers(spark, scores, inactive=(ids[0],)).where(F.col("customer_id") != ids[1])
    insp = inspections(spark, [(ids[2], dt.date(2026, 3, 1)),   # within 12 months: out
                               (ids[3], dt.date(2025, 8, 1)),   # 13 months back: stays
                               (ids[4], dt.date(2026, 10, 1))])  # after the campaign date: stays
    reqs = requests_of(spark, [("OLD", ids[5], dt.date(2026, 7, 15)),   # another campaign, 1.5 months ago: out
                               ("OLD", ids[6], dt.date(2026, 4, 1)),    # 5 months ago: stays
                               ("C1", ids[7], dt.date(2026, 8, 20))])   # this campaign's earlier run: stays
    flagged = campaign.eligibility(scores, customers, insp, reqs, created_on=DAY, campaign_id="C1",
                                   exclude_inspected_months=12, exclude_requested_months=3)
    reasons = {r["customer_id"]: r["excluded"] for r in flagged.collect()}
    assert reasons[ids[0]] == "inactive"
    assert reasons[ids[1]] == "inactive"  # not in customers at all
    assert reasons[ids[2]] == "inspected_recently"
    assert reasons[ids[5]] == "requested_recently"
    assert {c for c, why in reasons.items() if why is None} == {ids[3], ids[4], ids[6], ids[7], ids[8], ids[9]}
    cc = conf(spark_cfg, budget={"NORTE": 100})
    out = campaign.select_requests(scores, customers, insp, reqs, cc, campaign_id="C1", created_on=DAY)
    assert {r["customer_id"] for r in out.collect()} == {ids[3], ids[4], ids[6], ids[7], ids[8], ids[9]}
    none = campaign.eligibility(scores, customers, insp, reqs, created_on=DAY, campaign_id="C1",
                                exclude_inspected_months=0, exclude_requested_months=0)
    assert {r["excluded"] for r in none.collect()} == {"inactive", None}


# ------------------------------------------------------------- control arm
def _control(spark: SparkSession, cc: CampaignConf, scores: DataFrame) -> list[str]:
    out = campaign.select_requests(scores, make_customers(spark, scores), inspections(spark, []), None, cc,
                                   campaign_id="C1", created_on=DAY)
    return sorted(r["customer_id"] for r in out.where("arm = 'control'").collect())


def test_control_arm_is_seeded_reproducible_and_drawn_from_all_eligible(spark: SparkSession,
                                                                         spark_cfg: Config) -> None:
    scores = make_scores(spark, {"NORTE": 200})
    cc = conf(spark_cfg, budget={"NORTE": 100}, control_share=0.4)
    first = _control(spark, cc, scores)
    assert len(first) == 40
    assert _control(spark, cc, scores.repartition(5)) == first  # same seed, other partitioning: same draw
    other = _control(spark, dataclasses.replace(cc, seed=18), scores)
    assert other != first and len(other) == 40
    ranks = {r["customer_id"]: i for i, r in enumerate(scores.orderBy(F.desc("score")).collect())}
    drawn = [ranks[c] for c in first]
    # drawn from the whole eligible population, not only from customers below the model's cut
    assert min(drawn) < 60 and max(drawn) >= 100


def test_order_by_expected_value_needs_expected_kwh_and_uses_it(spark: SparkSession, spark_cfg: Config) -> None:
    scores = make_scores(spark, {"NORTE": 5})
    cc = conf(spark_cfg, budget={"NORTE": 2}, order_by="expected_value", kwh_price=1.0, inspection_cost=10.0)
    customers = make_customers(spark, scores)
    with pytest.raises(ConfigError, match="expected_value"):
        campaign.select_requests(scores, customers, inspections(spark, []), None, cc, campaign_id="C", created_on=DAY)
    ids = sorted(r["customer_id"] for r in scores.collect())  # ids[0] has the best score
    expected = spark.createDataFrame([(ids[0], 1.0), (ids[3], 1000.0), (ids[4], 500.0)],
                                     "customer_id string, expected_kwh double")
    out = campaign.select_requests(scores, customers, inspections(spark, []), None, cc, campaign_id="C",
                                   created_on=DAY, expected=expected).orderBy("rank").collect()
    assert [r["customer_id"] for r in out] == [ids[3], ids[4]]
    assert out[0]["expected_value"] == pytest.approx(out[0]["score"] * 1000.0 - 10.0)


def test_expected_kwh_drop_is_never_negative(spark: SparkSession) -> None:
    feats = spark.createDataFrame([("A", 100.0, 40.0), ("B", 50.0, 80.0), ("C", None, 10.0)],
                                  "customer_id string, mean_12 double, mean_3 double")
    got = {r["customer_id"]: r["expected_kwh"] for r in campaign.expected_kwh_drop(feats, 12).collect()}
    assert got == {"A": 720.0, "B": 0.0, "C": 0.0}


# ---------------------------------------------------------------- workbook
def test_workbook_read_back_equals_the_rows(spark: SparkSession, spark_cfg: Config, tmp_path: Path) -> None:
    scores = make_scores(spark, {"NORTE": 30, "SUR": 12})
    cc = conf(spark_cfg, budget={"NORTE": 10, "SUR": 6}, control_share=0.2)
    rows = campaign.select_requests(scores, make_customers(spark, scores), inspections(spark, []), None, cc,
                                    campaign_id="C1", created_on=DAY)
    pdf = rows.orderBy("region", "arm", "rank").toPandas()
    summary = campaign.campaign_summary(rows)
    path = excel.write_campaign_workbook(pdf, summary, tmp_path / "c1.xlsx", {"campaign": "C1"})
    from openpyxl import load_workbook

    wb = load_workbook(path)
    assert wb.sheetnames == ["summary", "NORTE", "SUR"]
    ws = wb["NORTE"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:N{1 + 10}"
    assert ws.column_dimensions["E"].width >= len("customer_id")
    for region in ("NORTE", "SUR"):
        header, back = excel.read_sheet(path, region)
        assert header == list(excel.REQUEST_COLUMNS)
        want = pdf[pdf["region"] == region][list(excel.REQUEST_COLUMNS)].itertuples(index=False, name=None)
        for got_row, want_row in zip(back, want, strict=True):
            for h, g, w in zip(header, got_row, want_row, strict=True):
                if isinstance(w, float) and math.isnan(w):
                    assert g is None, h  # a null expected kWh is an empty cell
                elif isinstance(w, float):
                    assert g == pytest.approx(w), h
                elif isinstance(w, dt.date):
                    assert g.date() == w, h
                else:
                    assert g == w, h
    _, summary_rows = excel.read_sheet(path, "summary")
    assert ["total", None, 16] in [list(r[:3]) for r in summary_rows]


# ------------------------------------------------------- combined ranking
def test_the_model_arm_follows_the_runs_rank_not_the_score(spark: SparkSession, spark_cfg: Config) -> None:
    """The combined ranking (ntl_spark.combine) orders by the better place, not by score: the arm takes its rank."""
    rows = [(f"N{i}", "NORTE", s, r, r, "DAICE_DeepDAICE", "3+1", "run-c", DAY, dt.date(2026, 8, 1), {}, None)
            for i, (s, r) in enumerate([(0.2, 1), (0.9, 2), (0.4, 3), (0.8, 4), (0.1, 5)])]
    scores = spark.createDataFrame(rows, schemas.SCORES_SCHEMA)
    out = campaign.select_requests(scores, make_customers(spark, scores), inspections(spark, []), None,
                                   conf(spark_cfg, total=3), campaign_id="C1", created_on=DAY)
    got = [(r["customer_id"], r["rank"]) for r in out.orderBy("rank").collect()]
    assert got == [("N0", 1), ("N1", 2), ("N2", 3)]


def test_ranking_ref_names_the_rows_of_a_ranking_or_the_rankings_there_are(spark: SparkSession) -> None:
    base = make_scores(spark, {"NORTE": 3})
    combined = base.withColumn("model_name", F.lit("DAICE_DeepDAICE")).withColumn("model_version", F.lit("3+1"))
    scores = base.unionByName(combined)
    ref = campaign.ranking_ref(scores, "DAICE_DeepDAICE", "")
    assert (ref.name, ref.version) == ("DAICE_DeepDAICE", "3+1")
    assert campaign.ranking_ref(scores, "DAICE_DeepDAICE", DAY.isoformat()).version == "3+1"
    with pytest.raises(MissingInputError, match=r"no rows of 'DeepDAICE'.*\['DAICE', 'DAICE_DeepDAICE'\]"):
        campaign.ranking_ref(scores, "DeepDAICE", "")
    with pytest.raises(MissingInputError, match="scored on 2026-10-01"):
        campaign.ranking_ref(scores, "DAICE_DeepDAICE", "2026-10-01")
