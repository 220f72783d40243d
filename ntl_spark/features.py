"""Monthly features: bills + customers (+ inspections) -> DAICE feature tables.

In: bronze ``bills``, ``customers`` and ``inspections`` Delta tables.
Out: ``monthly_features`` (one row per customer and reference month: C1..CN,
robust derived features, customer attributes) and ``training_set`` (one row
per labelled inspection, features taken with the point-in-time rule).

Point-in-time rule: an inspection on day d is paired with the monthly series
that ends the month before d's month (C1 = that month), so no consumption
measured on or after the inspection reaches its features.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import schemas
from ntl_spark.config import Config

log = logging.getLogger(__name__)

REGIONS = ("MONTEVIDEO", "NORTE", "CENTRO", "ESTE", "OESTE", "SUR")

DERIVED = (
    "mean_3", "mean_12", "mean_all", "std_12", "cv_12", "min_12", "max_12",
    "ratio_3_12", "ratio_12_prev12", "ratio_last_yoy", "slope_12", "zero_months_12",
    "missing_months", "estimated_share_12", "kwh_per_kw", "months_connected",
)


def feature_columns(months: int, regions: Sequence[str] = REGIONS, tariffs: Sequence[str] = schemas.TARIFFS) -> list[str]:
    """Model input columns, in a fixed order the model is trained and scored with."""
    return (
        schemas.consumption_columns(months)
        + list(DERIVED)
        + ["contracted_kw", "is_smart"]
        + [f"region_{r}" for r in regions]
        + [f"tariff_{t}" for t in tariffs]
    )


def reference_keys_for_inspections(inspections: DataFrame) -> DataFrame:
    """Labelled inspections with the reference month their features may use.

    ``no_access`` outcomes carry no label and are left out. The reference
    month is the month before the inspection's month (point-in-time rule).

    Returns:
        inspection_id, customer_id, inspected_on, reference_month, label (1 irregular, 0 regular).
    """
    return (
        inspections.where(F.col("outcome").isin("irregular", "regular"))
        .select(
            "inspection_id",
            "customer_id",
            "inspected_on",
            F.add_months(F.trunc("inspected_on", "month"), -1).alias("reference_month"),
            (F.col("outcome") == "irregular").cast("int").alias("label"),
        )
    )


def monthly_matrix(bills: DataFrame, keys: DataFrame, months: int) -> DataFrame:
    """C1..CN and estimated-read flags per (customer_id, reference_month).

    Args:
        bills: customer_id, period, kwh, read_type.
        keys: customer_id, reference_month (distinct pairs).
        months: series length N; C1 is the reference month itself.

    Returns:
        customer_id, reference_month, ``kwh`` array of N values (index 0 = C1,
        null when the month was not billed) and ``est`` array of N 0/1 flags.
    """
    joined = (
        keys.select("customer_id", "reference_month").distinct()
        .join(bills.select("customer_id", "period", "kwh", "read_type"), "customer_id")
        .withColumn("idx", F.months_between("reference_month", "period").cast("int"))
        .where((F.col("idx") >= 0) & (F.col("idx") < months))
    )
    grouped = joined.groupBy("customer_id", "reference_month").agg(
        F.map_from_entries(F.collect_list(F.struct("idx", "kwh"))).alias("m"),
        F.map_from_entries(F.collect_list(F.struct("idx", (F.col("read_type") == "estimated").cast("int")))).alias("e"),
    )
    positions = F.sequence(F.lit(0), F.lit(months - 1))
    return (
        keys.select("customer_id", "reference_month").distinct()
        .join(grouped, ["customer_id", "reference_month"], "left")
        .select(
            "customer_id",
            "reference_month",
            F.transform(positions, lambda i: F.col("m")[i]).alias("kwh"),
            F.transform(positions, lambda i: F.coalesce(F.col("e")[i], F.lit(0))).alias("est"),
        )
    )


def _mean(arr: str, lo: int, hi: int) -> F.Column:
    part = F.filter(F.slice(F.col(arr), lo + 1, hi - lo), lambda x: x.isNotNull())
    return F.when(F.size(part) > 0,
                  F.aggregate(part, F.lit(0.0), lambda a, x: a + x) / F.size(part))


def derived_features(matrix: DataFrame, months: int) -> DataFrame:
    """Robust summaries of the series: means, ratios, trend, zeros, gaps, estimated share.

    Ratios compare a customer with its own past, which is where theft shows
    (a drop after tampering) independent of the customer's size.
    """
    eps = F.lit(1.0)
    h = min(12, months)
    last12 = F.filter(F.slice("kwh", 1, h), lambda x: x.isNotNull())
    n12 = F.size(last12)
    mean12 = _mean("kwh", 0, h)
    var12 = F.aggregate(last12, F.lit(0.0), lambda a, x: a + (x - mean12) * (x - mean12)) / F.greatest(n12 - 1, F.lit(1))
    # least-squares slope over the last 12 months in time order (kWh per month; a drop is negative).
    # Array index 0 is the most recent month, hence the sign flip.
    idx12 = F.sequence(F.lit(0), F.lit(h - 1))
    pairs = F.filter(F.arrays_zip(idx12.alias("i"), F.slice("kwh", 1, h).alias("v")), lambda p: p["v"].isNotNull())
    n = F.size(pairs).cast("double")
    sx = F.aggregate(pairs, F.lit(0.0), lambda a, p: a + p["i"])
    sy = F.aggregate(pairs, F.lit(0.0), lambda a, p: a + p["v"])
    sxx = F.aggregate(pairs, F.lit(0.0), lambda a, p: a + p["i"] * p["i"])
    sxy = F.aggregate(pairs, F.lit(0.0), lambda a, p: a + p["i"] * p["v"])
    slope = -(n * sxy - sx * sy) / (n * sxx - sx * sx)
    out = matrix.select(
        "*",
        _mean("kwh", 0, min(3, months)).alias("mean_3"),
        mean12.alias("mean_12"),
        _mean("kwh", 0, months).alias("mean_all"),
        F.sqrt(var12).alias("std_12"),
        F.array_min(last12).alias("min_12"),
        F.array_max(last12).alias("max_12"),
        (_mean("kwh", 0, min(3, months)) / (mean12 + eps)).alias("ratio_3_12"),
        (mean12 / (_mean("kwh", 12, min(24, months)) + eps)).alias("ratio_12_prev12") if months > 12
        else F.lit(None).cast("double").alias("ratio_12_prev12"),
        ((F.col("kwh")[0] + eps) / (F.col("kwh")[12] + eps)).alias("ratio_last_yoy") if months > 12
        else F.lit(None).cast("double").alias("ratio_last_yoy"),
        F.when(n >= 3, slope).alias("slope_12"),
        F.size(F.filter(last12, lambda x: x <= 0)).cast("double").alias("zero_months_12"),
        F.size(F.filter(F.col("kwh"), lambda x: x.isNull())).cast("double").alias("missing_months"),
        (F.aggregate(F.slice("est", 1, h), F.lit(0), lambda a, x: a + x) / F.lit(float(h))).alias("estimated_share_12"),
    )
    return out.withColumn("cv_12", F.col("std_12") / (F.col("mean_12") + eps))


def customer_attributes(
    customers: DataFrame, regions: Sequence[str] = REGIONS, tariffs: Sequence[str] = schemas.TARIFFS
) -> DataFrame:
    """One-hot region and tariff, smart-meter flag and contracted power per customer."""
    return customers.select(
        "customer_id",
        "region",
        "tariff",
        "status",
        "connected_on",
        F.col("contracted_kw").cast("double").alias("contracted_kw"),
        (F.col("meter_type") == "smart").cast("double").alias("is_smart"),
        *[(F.col("region") == r).cast("double").alias(f"region_{r}") for r in regions],
        *[(F.col("tariff") == t).cast("double").alias(f"tariff_{t}") for t in tariffs],
    )


def build_features(bills: DataFrame, customers: DataFrame, keys: DataFrame, months: int) -> DataFrame:
    """Feature rows for (customer_id, reference_month) keys, with C1..CN as columns.

    Args:
        bills: bronze bills.
        customers: bronze customers.
        keys: customer_id, reference_month (+ any extra columns, kept).
        months: series length.

    Returns:
        ``keys`` columns + region, tariff, status + :func:`feature_columns`.
    """
    matrix = derived_features(monthly_matrix(bills, keys, months), months)
    attrs = customer_attributes(customers)
    cols = schemas.consumption_columns(months)
    feats = matrix.select(
        "customer_id", "reference_month",
        *[F.col("kwh")[i].alias(c) for i, c in enumerate(cols)],
        *DERIVED[:-2],
    )
    out = (
        keys.join(feats, ["customer_id", "reference_month"], "left")
        .join(attrs, "customer_id", "inner")
        .withColumn("kwh_per_kw", F.col("mean_12") / F.col("contracted_kw"))
        .withColumn("months_connected", F.months_between("reference_month", "connected_on").cast("double"))
    )
    return out


def latest_month(bills: DataFrame) -> dt.date:
    """The last billed period in ``bills``."""
    value = bills.agg(F.max("period")).first()[0]
    if value is None:
        raise ValueError("bills table is empty: cannot choose a reference month")
    return value


def scoring_keys(customers: DataFrame, reference_month: dt.date) -> DataFrame:
    """Every active customer connected by the reference month, at that month."""
    return customers.where((F.col("status") == "active")).select(
        "customer_id", F.lit(reference_month).cast("date").alias("reference_month")
    )


def training_rows(
    bills: DataFrame,
    customers: DataFrame,
    inspections: DataFrame,
    months: int,
    min_history_months: int,
    first_month: dt.date | None = None,
) -> DataFrame:
    """Labelled rows for training under the point-in-time rule.

    Args:
        first_month: drop inspections whose reference month is earlier.
        min_history_months: drop labels with fewer billed months than this
            before the inspection (not enough history to learn from).
    """
    keys = reference_keys_for_inspections(inspections)
    if first_month is not None:
        keys = keys.where(F.col("reference_month") >= F.lit(first_month))
    feats = build_features(bills, customers, keys, months)
    cols = schemas.consumption_columns(months)
    billed = sum((F.col(c).isNotNull().cast("int") for c in cols), F.lit(0))
    return feats.where(billed >= min_history_months)


# ------------------------------------------------------------------------- run
def run(spark: SparkSession, cfg: Config) -> dict[str, int]:
    """Write ``monthly_features`` for the reference month and the ``training_set``.

    Returns:
        Row counts and the Delta versions of the inputs used.
    """
    from ntl_spark.ingest import delta_version

    fc = cfg.features
    paths = cfg.paths
    bills = spark.read.format("delta").load(paths.table(schemas.BILLS))
    customers = spark.read.format("delta").load(paths.table(schemas.CUSTOMERS))
    inspections = spark.read.format("delta").load(paths.table(schemas.INSPECTIONS))
    ref = dt.date.fromisoformat(fc.reference_month) if fc.reference_month else latest_month(bills)

    versions = {t: delta_version(spark, paths.table(t)) for t in (schemas.BILLS, schemas.CUSTOMERS, schemas.INSPECTIONS)}
    version_text = ",".join(f"{t}={v}" for t, v in versions.items())

    scoring = build_features(bills, customers, scoring_keys(customers, ref), fc.months).withColumn(
        "source_versions", F.lit(version_text)
    )
    mf_path = paths.table(schemas.MONTHLY_FEATURES)
    from delta.tables import DeltaTable

    writer = scoring.write.format("delta").mode("overwrite").partitionBy("reference_month")
    if DeltaTable.isDeltaTable(spark, mf_path):
        writer = writer.option("replaceWhere", f"reference_month = '{ref.isoformat()}'")
    writer.save(mf_path)

    lookback = F.add_months(F.lit(ref), -fc.label_lookback_months)
    first = spark.range(1).select(lookback).first()[0]
    train = training_rows(bills, customers, inspections, fc.months, fc.min_history_months, first).withColumn(
        "source_versions", F.lit(version_text)
    )
    train.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(
        paths.table(schemas.TRAINING_SET)
    )
    counts = {
        "reference_month": ref.isoformat(),
        "scoring_rows": spark.read.format("delta").load(mf_path).where(F.col("reference_month") == F.lit(ref)).count(),
        "training_rows": spark.read.format("delta").load(paths.table(schemas.TRAINING_SET)).count(),
    }
    print(f"features: reference month {ref}, {counts['scoring_rows']:,} customers to score, "
          f"{counts['training_rows']:,} labelled rows ({version_text})")
    return counts
