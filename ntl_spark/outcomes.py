"""Outcomes: ingested inspections joined back to the campaign requests that asked for them.

In: the bronze ``inspections`` table (every field visit), the ``campaigns``
table (requests; absent before the first campaign) and the bronze
``customers`` table (the region of inspections outside any campaign).
Out: the ``outcomes`` Delta table (``schemas.OUTCOMES_SCHEMA``), rebuilt whole
on every run (it is a function of its inputs, so a rerun gives the same rows):
one row per inspection with whether it found an irregularity (null when the
inspector had no access), the recovered kWh, and the request it answers: arm,
rank, score, selection probability, model name and version.

Matching (:func:`match_inspections`, pure):

1. ``campaign_id``: the inspection names a campaign and that campaign
   requested the customer (``matched_by = campaign_id``);
2. else the customer and a date window: the latest request for the customer
   created on or before the inspection day and at most
   ``outcomes.match_days`` days before it (``matched_by = window``);
3. else the inspection is kept as unsolicited (``arm = unsolicited``, no
   model fields): the field teams' own visits, complaints, ad-hoc checks.

A request answers at most one inspection: when a customer is visited twice
for one request, the first visit with access is the request's outcome (the
later ones stay as unsolicited).
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ntl_spark import lakehouse, schemas
from ntl_spark.config import Config

log = logging.getLogger(__name__)

_REQUEST_FIELDS = ("arm", "rank", "score", "selection_probability", "model_name", "model_version",
                   "scores_run_id", "scored_on", "created_on")


def match_inspections(
    inspections: DataFrame, requests: DataFrame | None, customers: DataFrame, match_days: int
) -> DataFrame:
    """One row per inspection with the request it answers (see the module docstring).

    Args:
        inspections: bronze ``inspections`` rows (``schemas.INSPECTIONS_SCHEMA``).
        requests: ``campaigns`` rows (``schemas.CAMPAIGNS_SCHEMA``), or None before any campaign.
        customers: bronze ``customers`` rows (customer_id, region).
        match_days: longest gap, in days, between a request and the inspection it matches by window.

    Returns:
        ``schemas.OUTCOMES_SCHEMA`` without ``data_versions``.
    """
    insp = inspections.select(
        "inspection_id", "customer_id", "inspected_on", "outcome", "irregularity", "recovered_kwh",
        F.col("campaign_id").alias("inspection_campaign_id"),
    )
    req_cols = ["campaign_id", "customer_id", "region", *_REQUEST_FIELDS]
    if requests is None:
        spark = inspections.sparkSession
        reqs = spark.createDataFrame([], schemas.CAMPAIGNS_SCHEMA).select(*req_cols)
    else:
        reqs = requests.select(*req_cols)
    r = reqs.alias("r")
    i = insp.alias("i")
    by_id = (F.col("i.inspection_campaign_id") == F.col("r.campaign_id")) & (
        F.col("i.customer_id") == F.col("r.customer_id"))
    by_window = (
        (F.col("i.customer_id") == F.col("r.customer_id"))
        & (F.col("r.created_on") <= F.col("i.inspected_on"))
        & (F.datediff(F.col("i.inspected_on"), F.col("r.created_on")) <= F.lit(match_days))
        & (F.col("i.inspection_campaign_id").isNull()
           | (F.col("i.inspection_campaign_id") == F.col("r.campaign_id")))
    )
    candidates = (
        i.join(r, by_id | by_window, "inner")
        .select("i.*", *[F.col(f"r.{c}").alias(f"req_{c}") for c in req_cols if c != "customer_id"],
                F.when(by_id, F.lit("campaign_id")).otherwise(F.lit("window")).alias("matched_by"))
    )
    # per inspection: a campaign-id match first, then the latest request
    best_request = Window.partitionBy("inspection_id").orderBy(
        F.col("matched_by").asc(), F.col("req_created_on").desc(), F.col("req_campaign_id").asc())
    per_insp = candidates.withColumn("_n", F.row_number().over(best_request)).where("_n = 1").drop("_n")
    # per request: the first visit with access, else the first visit
    first_visit = Window.partitionBy("req_campaign_id", "customer_id").orderBy(
        (F.col("outcome") == "no_access").asc(), F.col("inspected_on").asc(), F.col("inspection_id").asc())
    matched = per_insp.withColumn("_n", F.row_number().over(first_visit)).where("_n = 1").drop("_n")

    regions = customers.select("customer_id", F.col("region").alias("customer_region"))
    joined = insp.join(matched.select("inspection_id", *[c for c in matched.columns if c.startswith("req_")],
                                      "matched_by"), "inspection_id", "left").join(regions, "customer_id", "left")
    requested = F.col("req_campaign_id").isNotNull()
    return joined.select(
        "inspection_id", "customer_id", "inspected_on",
        F.trunc("inspected_on", "month").alias("month"),
        "outcome",
        F.when(F.col("outcome") == "no_access", F.lit(None).cast("boolean"))
        .otherwise(F.col("outcome") == "irregular").alias("irregular"),
        (F.col("outcome") == "no_access").alias("no_access"),
        "irregularity", "recovered_kwh",
        F.coalesce("req_region", "customer_region", F.lit("UNKNOWN")).alias("region"),
        F.col("req_campaign_id").alias("campaign_id"),
        F.when(requested, F.col("req_arm")).otherwise(F.lit("unsolicited")).alias("arm"),
        F.coalesce("matched_by", F.lit("none")).alias("matched_by"),
        *[F.col(f"req_{c}").alias(c) for c in _REQUEST_FIELDS if c != "arm"],
    )


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Rebuild the ``outcomes`` table from the inspections and the campaigns."""
    insp = lakehouse.read_pinned(spark, cfg.paths.table(schemas.INSPECTIONS), schemas.INSPECTIONS, "ingest")
    customers = lakehouse.read_pinned(spark, cfg.paths.table(schemas.CUSTOMERS), schemas.CUSTOMERS, "ingest")
    campaigns = lakehouse.read_optional(spark, cfg.paths.table(schemas.CAMPAIGNS))
    versions = {schemas.INSPECTIONS: insp.version, schemas.CUSTOMERS: customers.version,
                schemas.CAMPAIGNS: campaigns.version if campaigns else None}
    rows = match_inspections(insp.df, campaigns.df if campaigns else None, customers.df,
                             cfg.outcomes.match_days).withColumn(
        schemas.LINEAGE_COLUMN, lakehouse.lineage_column(versions))
    path = cfg.paths.table(schemas.OUTCOMES_TABLE)
    version = lakehouse.write(rows, path, schemas.OUTCOMES_TABLE, schema=schemas.OUTCOMES_SCHEMA)
    written = lakehouse.read_pinned(spark, path, schemas.OUTCOMES_TABLE, "outcomes", version).df
    counts = {(r["arm"], r["matched_by"]): int(r["n"]) for r in
              written.groupBy("arm", "matched_by").agg(F.count("*").alias("n")).collect()}
    pending = 0
    if campaigns is not None:
        pending = campaigns.df.join(written.where(F.col("campaign_id").isNotNull())
                                    .select("campaign_id", "customer_id"), ["campaign_id", "customer_id"],
                                    "left_anti").count()
    total = sum(counts.values())
    print(f"outcomes: {total:,} inspections, outcomes Delta v{version} at {path}; "
          f"{pending:,} requests not inspected yet")
    for (arm, how), n in sorted(counts.items()):
        print(f"  {arm:<12} matched by {how:<12} {n:>8,}")
    return {"rows": total, "version": version, "path": path, "pending": pending,
            "by_arm": {f"{a}/{m}": n for (a, m), n in counts.items()}}
