"""Campaign: the champion's scores of a month -> inspection requests for the field teams.

In: the ``scores`` rows of one scoring day of one model version (the champion,
``model.champion``, unless ``campaign.model_ref`` names another; or, with
``campaign.ranking``, the rows of that ``model_name``, e.g. the combined
ranking of DAICE and DeepDAICE), the bronze
``customers`` and ``inspections`` tables, the requests of earlier campaigns
(the ``campaigns`` table, when it exists) and, for ``campaign.expected_kwh:
drop``, the ``monthly_features`` rows of the scores' reference month.
Out: rows in the ``campaigns`` Delta table (``schemas.CAMPAIGNS_SCHEMA``, one
per request, replaced as a whole when the same campaign id runs again), the
same rows in the Hive Parquet table ``<publish.database>.<campaign.hive_table>``
(partitioned by campaign id), an Excel workbook per campaign under
``<paths.reports>/campaigns/`` and, with ``campaign.jdbc_table``, the rows in
the utility's relational database (the field system reads them there).

Selection (:func:`select_requests`, a pure function over DataFrames):

1. Eligible customers: scored, active in ``customers``, not inspected (any
   outcome) in the ``exclude_inspected_months`` before ``created_on``, not
   requested by another campaign in the ``exclude_requested_months`` before it.
2. Budget per region: ``campaign.budget`` as given, or ``campaign.total``
   split by ``campaign.region_shares`` (or in proportion to each region's
   eligible customers) with the largest-remainder rule; a region never gets
   more requests than it has eligible customers (the surplus is not moved).
3. Control arm: ``round(control_share x budget)`` customers per region drawn
   uniformly from *all* its eligible customers (a hash of customer id and
   ``campaign.seed``: the same seed draws the same customers whatever the
   partitioning), so the control arm's hit rate estimates the region's
   without the model's bias.
4. Model arm: the rest of the budget, the best eligible customers not in the
   control arm, in the scoring run's order (``order_by: probability``: by
   score for one model's rows, by the better place for the combined ranking
   of ``ntl_spark.combine``) or by expected value
   (``expected_value``: score x expected kWh x ``kwh_price`` -
   ``inspection_cost``). The choice is recorded on every row.

Expected kWh: ``drop`` = (mean of the last 12 months - mean of the last 3,
at least 0) x ``recovery_months``; ``history`` = the mean ``recovered_kwh`` of
past irregular inspections in the customer's region (all regions' mean where
a region has none).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ntl_spark import lakehouse, schemas, tracking
from ntl_spark.config import CampaignConf, Config
from ntl_spark.errors import ConfigError, DataError, MissingInputError
from ntl_spark.io import excel, hive, jdbc
from ntl_spark.sparkutil import scalar

log = logging.getLogger(__name__)

EXCLUSION_REASONS = ("inactive", "inspected_recently", "requested_recently")


def months_before(day: dt.date, months: int) -> dt.date:
    """``day`` moved back ``months`` calendar months (the day clipped to the month's length)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    month = m + 1
    last = (dt.date(y + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(y, month, min(day.day, last))


def expected_kwh_drop(features: DataFrame, recovery_months: int) -> DataFrame:
    """customer_id, expected_kwh: the consumption drop (mean_12 - mean_3, >= 0) x ``recovery_months``.

    Args:
        features: ``monthly_features`` rows of one reference month.
        recovery_months: months of lost energy a found irregularity recovers.
    """
    for c in ("customer_id", "mean_12", "mean_3"):
        if c not in features.columns:
            raise DataError(f"monthly_features lacks column '{c}' needed for campaign.expected_kwh=drop")
    drop = F.greatest(F.coalesce(F.col("mean_12") - F.col("mean_3"), F.lit(0.0)), F.lit(0.0))
    return features.select("customer_id", (drop * F.lit(float(recovery_months))).alias("expected_kwh"))


def expected_kwh_history(scores: DataFrame, inspections: DataFrame, customers: DataFrame) -> DataFrame:
    """customer_id, expected_kwh: the mean recovered kWh of past irregular inspections in the customer's region.

    A region without any irregular inspection with recovered kWh takes the
    mean over all regions; with none at all the expected kWh is null.
    """
    found = (
        inspections.where((F.col("outcome") == "irregular") & F.col("recovered_kwh").isNotNull())
        .join(customers.select("customer_id", "region"), "customer_id")
    )
    per_region = found.groupBy("region").agg(F.avg("recovered_kwh").alias("region_kwh"))
    overall = found.agg(F.avg("recovered_kwh").alias("all_kwh"))
    return (
        scores.select("customer_id", "region").join(per_region, "region", "left").crossJoin(overall)
        .select("customer_id", F.coalesce("region_kwh", "all_kwh").alias("expected_kwh"))
    )


def eligibility(
    scores: DataFrame,
    customers: DataFrame,
    inspections: DataFrame,
    requests: DataFrame | None,
    *,
    created_on: dt.date,
    campaign_id: str,
    exclude_inspected_months: int,
    exclude_requested_months: int,
) -> DataFrame:
    """``scores`` with ``excluded``: null when the customer may be requested, else the first reason that rules it out.

    Reasons, in order: ``inactive`` (not ``active`` in ``customers``, or not
    there at all), ``inspected_recently`` (an inspection, any outcome, in
    ``(created_on - exclude_inspected_months, created_on]``),
    ``requested_recently`` (a request of another campaign created in
    ``(created_on - exclude_requested_months, created_on]``). A window of 0
    months excludes nobody.
    """
    active = customers.where(F.col("status") == "active").select("customer_id", F.lit(True).alias("_active"))
    since = months_before(created_on, exclude_inspected_months)
    inspected = (
        inspections.where((F.col("inspected_on") > F.lit(since)) & (F.col("inspected_on") <= F.lit(created_on)))
        .select("customer_id").distinct().withColumn("_inspected", F.lit(True))
    )
    out = scores.join(active, "customer_id", "left").join(inspected, "customer_id", "left")
    requested_flag = F.lit(False)
    if requests is not None and exclude_requested_months > 0:
        r_since = months_before(created_on, exclude_requested_months)
        requested = (
            requests.where((F.col("campaign_id") != campaign_id) & (F.col("created_on") > F.lit(r_since))
                           & (F.col("created_on") <= F.lit(created_on)))
            .select("customer_id").distinct().withColumn("_requested", F.lit(True))
        )
        out = out.join(requested, "customer_id", "left")
        requested_flag = F.coalesce(F.col("_requested"), F.lit(False))
    inspected_flag = F.coalesce(F.col("_inspected"), F.lit(False)) if exclude_inspected_months > 0 else F.lit(False)
    reason = (
        F.when(F.col("_active").isNull(), F.lit("inactive"))
        .when(inspected_flag, F.lit("inspected_recently"))
        .when(requested_flag, F.lit("requested_recently"))
    )
    return out.withColumn("excluded", reason).drop("_active", "_inspected", "_requested")


def region_budgets(eligible: Mapping[str, int], cfg: CampaignConf) -> dict[str, int]:
    """Requests per region: ``cfg.budget``, or ``cfg.total`` split by shares; capped at the eligible count.

    Shares are ``cfg.region_shares`` (regions not named get none) or the
    regions' eligible counts; the total is split with the largest-remainder
    rule (ties to the region named first in sorted order), so the budgets add
    up to the total exactly before the cap.

    Raises:
        ConfigError: ``cfg.budget`` or ``cfg.region_shares`` names no region that has scores.
    """
    regions = sorted(eligible)
    if cfg.budget:
        unknown = sorted(set(cfg.budget) - set(regions))
        if unknown and not set(cfg.budget) & set(regions):
            raise ConfigError(f"config key 'campaign.budget': no scored region among {sorted(cfg.budget)}; "
                              f"regions scored: {regions}")
        wanted = {r: int(cfg.budget.get(r, 0)) for r in regions}
    else:
        if cfg.region_shares:
            if not set(cfg.region_shares) & set(regions):
                raise ConfigError(f"config key 'campaign.region_shares': no scored region among "
                                  f"{sorted(cfg.region_shares)}; regions scored: {regions}")
            weights = {r: float(cfg.region_shares.get(r, 0.0)) for r in regions}
        else:
            weights = {r: float(eligible[r]) for r in regions}
        total_w = sum(weights.values())
        exact = {r: (cfg.total * w / total_w if total_w > 0 else 0.0) for r, w in weights.items()}
        wanted = {r: math.floor(x) for r, x in exact.items()}
        left = cfg.total - sum(wanted.values()) if total_w > 0 else 0
        for r in sorted(regions, key=lambda r: (-(exact[r] - wanted[r]), r))[:left]:
            wanted[r] += 1
    return {r: min(n, int(eligible[r])) for r, n in wanted.items()}


def control_count(budget: int, share: float) -> int:
    """Control requests of a region: ``share x budget`` rounded half up."""
    return min(budget, math.floor(budget * share + 0.5))


def select_requests(
    scores: DataFrame,
    customers: DataFrame,
    inspections: DataFrame,
    requests: DataFrame | None,
    cfg: CampaignConf,
    *,
    campaign_id: str,
    created_on: dt.date,
    expected: DataFrame | None = None,
) -> DataFrame:
    """The inspection requests of one campaign (see the module docstring for the rules).

    Pure: reads and writes nothing (it counts eligible customers per region
    to size the arms). The same inputs, configuration and seed give the same rows.

    Args:
        scores: the ``scores`` rows of one scoring run (``schemas.SCORES_SCHEMA``).
        customers: the bronze ``customers`` table (customer_id, status).
        inspections: the bronze ``inspections`` table (customer_id, inspected_on).
        requests: earlier campaigns' rows (``schemas.CAMPAIGNS_SCHEMA``), or None.
        cfg: the ``campaign`` section (budget, shares, order, exclusions, control share, seed, prices).
        campaign_id: the id written on every row; earlier rows of this id do not exclude anyone.
        created_on: the campaign's date; the exclusion windows end on it.
        expected: customer_id, expected_kwh (:func:`expected_kwh_drop` or
            :func:`expected_kwh_history`); None leaves expected kWh and value null.

    Returns:
        One row per request, ``schemas.CAMPAIGNS_SCHEMA`` without ``data_versions``.

    Raises:
        ConfigError: ``order_by`` is expected_value and ``expected`` is None, or a
            budget names no scored region.
        DataError: ``scores`` holds more than one scoring run.
    """
    if cfg.order_by == "expected_value" and expected is None:
        raise ConfigError("config key 'campaign.order_by': expected_value needs expected kWh per customer")
    runs = scores.select("run_id").distinct().limit(2).collect()
    if len(runs) > 1:
        raise DataError("select_requests: the scores hold more than one scoring run; pass the rows of one run")
    flagged = eligibility(
        scores, customers, inspections, requests, created_on=created_on, campaign_id=campaign_id,
        exclude_inspected_months=cfg.exclude_inspected_months,
        exclude_requested_months=cfg.exclude_requested_months,
    )
    eligible = flagged.where(F.col("excluded").isNull()).drop("excluded")
    if expected is not None:
        eligible = eligible.join(expected.select("customer_id", "expected_kwh"), "customer_id", "left")
    else:
        eligible = eligible.withColumn("expected_kwh", F.lit(None).cast("double"))
    value = F.col("score") * F.col("expected_kwh") * F.lit(cfg.kwh_price) - F.lit(cfg.inspection_cost)
    eligible = eligible.withColumn("expected_value", value)

    counts = {r["region"]: int(r["n"]) for r in eligible.groupBy("region").agg(F.count("*").alias("n")).collect()}
    budgets = region_budgets(counts, cfg)
    sizes = [(r, budgets[r], control_count(budgets[r], cfg.control_share), counts[r]) for r in sorted(counts)]
    spark = scores.sparkSession
    plan = spark.createDataFrame(
        [(r, b, c, n) for r, b, c, n in sizes],
        "region string, budget int, n_control int, eligible long",
    )
    draw = F.xxhash64(F.col("customer_id"), F.lit(cfg.seed))
    with_plan = eligible.join(F.broadcast(plan), "region")
    control = (
        with_plan.withColumn("rank", F.row_number().over(
            Window.partitionBy("region").orderBy(draw, F.col("customer_id"))))
        .where(F.col("rank") <= F.col("n_control"))
        .withColumn("arm", F.lit("control"))
        .withColumn("selection_probability", F.col("n_control") / F.col("eligible"))
    )
    # probability: the scoring run's own order (its rank: the score for one model, the better place for the
    # combined ranking), then the score
    key = F.col("expected_value").desc_nulls_last() if cfg.order_by == "expected_value" else F.col("rank").asc()
    model = (
        with_plan.join(control.select("customer_id"), "customer_id", "left_anti")
        .withColumn("rank", F.row_number().over(
            Window.partitionBy("region").orderBy(key, F.col("score").desc(), F.col("customer_id"))))
        .where(F.col("rank") <= F.col("budget") - F.col("n_control"))
        .withColumn("arm", F.lit("model"))
        .withColumn("selection_probability", F.lit(1.0))
    )
    cols: list[Column | str] = [
        F.lit(campaign_id).alias("campaign_id"), F.lit(created_on).alias("created_on"), "customer_id", "region",
        "arm", F.col("rank").cast("int").alias("rank"), "score", "expected_kwh", "expected_value",
        F.lit(cfg.order_by).alias("order_by"), "selection_probability",
        F.col("eligible").cast("long").alias("eligible"), F.lit(cfg.seed).cast("long").alias("seed"),
        "model_name", "model_version", F.col("run_id").alias("scores_run_id"), "scored_on",
    ]
    return model.select(*cols).unionByName(control.select(*cols))


def campaign_summary(requests: DataFrame) -> list[dict[str, Any]]:
    """Per region and arm: requests, mean score, expected kWh and value (sorted by region, arm)."""
    rows = (
        requests.groupBy("region", "arm")
        .agg(F.count("*").alias("requests"), F.avg("score").alias("mean_score"),
             F.sum("expected_kwh").alias("expected_kwh"), F.sum("expected_value").alias("expected_value"),
             F.first("eligible").alias("eligible"))
        .orderBy("region", "arm").collect()
    )
    return [r.asDict() for r in rows]


def _scores_day(scores: DataFrame, cfg: Config, name: str, version: str) -> dt.date:
    wanted = cfg.campaign.scored_on or cfg.score.scored_on
    if wanted:
        return dt.date.fromisoformat(wanted)
    day = scalar(scores.where((F.col("model_name") == name) & (F.col("model_version") == version))
                 .agg(F.max("scored_on")), "scores")
    if day is None:
        raise MissingInputError(f"scores hold no rows of {name} v{version}: run the score job with that version first")
    return day  # type: ignore[no-any-return]


@dataclasses.dataclass(frozen=True)
class Ranking:
    """The ranking a campaign draws from: a ``model_name`` of ``scores`` and the ``model_version`` of its rows."""

    name: str
    version: str


def ranking_ref(scores: DataFrame, name: str, scored_on: str) -> Ranking:
    """The ranking ``name`` of ``scores`` (a ``model_name``) on ``scored_on`` (empty = its latest day) as a
    reference: its name and the ``model_version`` its rows of that day carry.

    Raises:
        MissingInputError: no rows of ``name`` (that day).
    """
    rows = scores.where(F.col("model_name") == name)
    day = dt.date.fromisoformat(scored_on) if scored_on else scalar(rows.agg(F.max("scored_on")), "scores")
    got = [] if day is None else [r["model_version"] for r in rows.where(F.col("scored_on") == F.lit(day))
                                  .select("model_version").distinct().collect()]
    if not got:
        known = sorted(r["model_name"] for r in scores.select("model_name").distinct().collect())
        raise MissingInputError(f"config key 'campaign.ranking': scores hold no rows of {name!r}"
                                + (f" scored on {day}" if day else "") + f" (rankings in scores: {known})")
    return Ranking(name, sorted(got)[-1])


def workbook_path(cfg: Config, campaign_id: str) -> Path:
    """Where the campaign's Excel workbook goes: ``<paths.reports>/campaigns/<id>.xlsx``."""
    return Path(cfg.paths.resolve("reports")) / "campaigns" / f"{campaign_id}.xlsx"


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Build one campaign from the champion's (or ``campaign.model_ref``'s, or ``campaign.ranking``'s) scores and
    write its outputs."""
    cc = cfg.campaign
    client = tracking.setup(cfg)
    scores_p = lakehouse.read_pinned(spark, cfg.paths.table(schemas.SCORES), schemas.SCORES, "score")
    ref: Ranking
    if cc.ranking:
        ref = ranking_ref(scores_p.df, cc.ranking, cc.scored_on or cfg.score.scored_on)
    else:
        if not cc.model_ref and tracking.alias_version(client, cfg.model.name, cfg.model.champion) is None:
            raise MissingInputError(
                f"registered model '{cfg.model.name}' has no champion yet (alias '{cfg.model.champion}'): run "
                f"validate_model or promote a version, or name one in campaign.model_ref")
        model = tracking.resolve(client, cfg.model.name, cc.model_ref or cfg.model.champion)
        ref = Ranking(model.name, model.version)

    day = _scores_day(scores_p.df, cfg, ref.name, ref.version)
    scores = scores_p.df.where((F.col("model_name") == ref.name) & (F.col("model_version") == ref.version)
                               & (F.col("scored_on") == F.lit(day)))
    first = scores.select("reference_month").first()
    if first is None:
        raise MissingInputError(f"scores hold no rows of {ref.name} v{ref.version} scored on {day}: run the score "
                                f"job for that day (score.scored_on={day}) or set campaign.scored_on")
    ref_month = first["reference_month"]
    customers_p = lakehouse.read_pinned(spark, cfg.paths.table(schemas.CUSTOMERS), schemas.CUSTOMERS, "ingest")
    inspections_p = lakehouse.read_pinned(spark, cfg.paths.table(schemas.INSPECTIONS), schemas.INSPECTIONS, "ingest")
    path = cfg.paths.table(schemas.CAMPAIGNS)
    previous = lakehouse.read_optional(spark, path)
    versions: dict[str, int | None] = {schemas.SCORES: scores_p.version, schemas.CUSTOMERS: customers_p.version,
                                       schemas.INSPECTIONS: inspections_p.version}
    if cc.expected_kwh == "drop":
        mf = lakehouse.read_pinned(spark, cfg.paths.table(schemas.MONTHLY_FEATURES), schemas.MONTHLY_FEATURES,
                                   "features")
        versions[schemas.MONTHLY_FEATURES] = mf.version
        expected = expected_kwh_drop(mf.df.where(F.col("reference_month") == F.lit(ref_month)), cc.recovery_months)
    else:
        expected = expected_kwh_history(scores, inspections_p.df, customers_p.df)
    created_on = dt.date.fromisoformat(cc.created_on) if cc.created_on else dt.date.today()
    campaign_id = cc.id or f"CMP-{day:%Y%m%d}-{ref.name}-v{ref.version}"

    prior = previous.df if previous else None
    excluded = {
        r["excluded"]: int(r["n"]) for r in eligibility(
            scores, customers_p.df, inspections_p.df, prior, created_on=created_on, campaign_id=campaign_id,
            exclude_inspected_months=cc.exclude_inspected_months,
            exclude_requested_months=cc.exclude_requested_months,
        ).where(F.col("excluded").isNotNull()).groupBy("excluded").agg(F.count("*").alias("n")).collect()
    }
    requests = select_requests(
        scores, customers_p.df, inspections_p.df, prior, cc,
        campaign_id=campaign_id, created_on=created_on, expected=expected,
    ).withColumn(schemas.LINEAGE_COLUMN, lakehouse.lineage_column(versions))
    version = lakehouse.write(
        requests, path, schemas.CAMPAIGNS, where=f"campaign_id = '{campaign_id.replace(chr(39), chr(39) * 2)}'",
        partition_by=("campaign_id",), schema=schemas.CAMPAIGNS_SCHEMA,
    )
    written = lakehouse.read_pinned(spark, path, schemas.CAMPAIGNS, "campaign", version).df.where(
        F.col("campaign_id") == campaign_id).cache()
    n = written.count()
    summary = campaign_summary(written)
    out: dict[str, Any] = {"campaign_id": campaign_id, "rows": n, "version": version, "path": path,
                           "model_version": ref.version, "scored_on": day, "summary": summary,
                           "excluded": {k: excluded.get(k, 0) for k in EXCLUSION_REASONS}}
    if cc.hive_table:
        location = hive.join_location(cfg.paths.resolve("warehouse"), cfg.publish.database, cc.hive_table)
        hive.check_location(spark, cfg.publish.database, cc.hive_table, location, "campaign.hive_table")
        hive.publish_partitions(written, cfg.publish.database, cc.hive_table, location, ["campaign_id"])
        out["hive_table"] = f"{cfg.publish.database}.{cc.hive_table}"
    if cc.excel:
        book = workbook_path(cfg, campaign_id)
        excel.write_campaign_workbook(written.orderBy("region", "arm", "rank").toPandas(), summary, book, {
            "campaign": campaign_id, "created on": str(created_on), "model": f"{ref.name} v{ref.version}",
            "scored on": str(day), "order by": cc.order_by, "control share": str(cc.control_share),
            "seed": str(cc.seed), "campaigns Delta version": str(version),
        })
        out["workbook"] = str(book)
    if cc.jdbc_table:
        out["jdbc_rows"] = jdbc.write_table(written, cfg.jdbc, cc.jdbc_table, "campaign_id")
    written.unpersist()
    print(f"campaign {campaign_id}: {n:,} requests from {ref.name} v{ref.version} scores of {day} "
          f"(order by {cc.order_by}, control share {cc.control_share}, seed {cc.seed}); campaigns Delta v{version}")
    print("  excluded: " + ", ".join(f"{k} {v:,}" for k, v in out["excluded"].items()))
    for s in summary:
        print(f"  {s['region']:<11} {s['arm']:<8} {s['requests']:>6} of {s['eligible']:>7} eligible  "
              f"mean score {s['mean_score']:.3f}")
    for key in ("hive_table", "workbook", "jdbc_rows"):
        if key in out:
            print(f"  {key}: {out[key]}")
    return out
