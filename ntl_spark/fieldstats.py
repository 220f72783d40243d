"""Field statistics shared by the field report and the monitor: hit rates with intervals, lift.

- :func:`wilson`: the Wilson score interval of a proportion (k successes in n
  trials), which stays inside [0, 1] and behaves for small n and k = 0 or n,
  unlike the normal (Wald) interval;
- :func:`lift_interval`: the ratio of two proportions (model arm over control
  arm) with the Katz log interval (0.5 added to every cell when a count is 0);
- :func:`field_stats`: the ``outcomes`` table summarised per month, model
  version, arm and region (plus region ``ALL``), with both.

A labelled inspection is one with access (``no_access`` false); the hit
rate is irregular / labelled; recovered kWh per inspection is over labelled
inspections too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``k / n`` (NaNs when ``n`` is 0).

    Raises:
        ValueError: ``k`` is negative or above ``n``.
    """
    if k < 0 or k > n:
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return math.nan, math.nan
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def lift_interval(k1: int, n1: int, k0: int, n0: int, z: float = Z95) -> tuple[float, float, float]:
    """(lift, low, high): ``(k1/n1) / (k0/n0)`` with the Katz log interval.

    Group 1 is the model arm, group 0 the control arm. When a count is 0 (or
    equals its n), 0.5 is added to each k and 1 to each n (Haldane's
    correction) so the interval stays finite; the point estimate uses the
    same corrected counts then. NaNs when either n is 0.
    """
    if n1 == 0 or n0 == 0:
        return math.nan, math.nan, math.nan
    if k1 == 0 or k0 == 0 or k1 == n1 or k0 == n0:
        k1c, n1c, k0c, n0c = k1 + 0.5, n1 + 1.0, k0 + 0.5, n0 + 1.0
    else:
        k1c, n1c, k0c, n0c = float(k1), float(n1), float(k0), float(n0)
    ratio = (k1c / n1c) / (k0c / n0c)
    se = math.sqrt(1 / k1c - 1 / n1c + 1 / k0c - 1 / n0c)
    return ratio, ratio * math.exp(-z * se), ratio * math.exp(z * se)


GROUP = ("month", "model_name", "model_version", "arm", "region")


def _counts(outcomes: DataFrame, by: Sequence[str]) -> DataFrame:
    labelled = ~F.col("no_access")
    return outcomes.groupBy(*by).agg(
        F.count("*").alias("inspections"),
        F.sum(labelled.cast("long")).alias("labelled"),
        F.sum(F.coalesce(F.col("irregular"), F.lit(False)).cast("long")).alias("irregular"),
        F.sum(F.when(labelled, F.coalesce("recovered_kwh", F.lit(0.0))).otherwise(0.0)).alias("recovered_kwh"),
    )


def field_counts(outcomes: DataFrame) -> pd.DataFrame:
    """Counts per month, model version, arm and region, and over all regions (region ``ALL``), as pandas.

    Unsolicited inspections carry no model: they are grouped under a null model name and version.
    """
    by_region = _counts(outcomes, GROUP)
    all_regions = _counts(outcomes.withColumn("region", F.lit("ALL")), GROUP)
    pdf = pd.DataFrame(by_region.unionByName(all_regions).toPandas())
    return pdf.sort_values(list(GROUP), na_position="first").reset_index(drop=True)


def add_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """``counts`` (from :func:`field_counts`) with hit rates, Wilson intervals, kWh per inspection,
    no-access share, and on model-arm rows the lift over the control arm of the same month, version and region."""
    out = counts.copy()
    for c in ("inspections", "labelled", "irregular"):
        out[c] = out[c].fillna(0).astype("int64")
    out["recovered_kwh"] = out["recovered_kwh"].fillna(0.0).astype(float)
    rates = [wilson(int(k), int(n)) for k, n in zip(out["irregular"], out["labelled"], strict=True)]
    out["hit_rate"] = [k / n if n else math.nan for k, n in zip(out["irregular"], out["labelled"], strict=True)]
    out["hit_rate_low"] = [r[0] for r in rates]
    out["hit_rate_high"] = [r[1] for r in rates]
    out["recovered_kwh_per_inspection"] = [
        kwh / n if n else math.nan for kwh, n in zip(out["recovered_kwh"], out["labelled"], strict=True)]
    out["no_access_share"] = [
        (i - n) / i if i else math.nan for i, n in zip(out["inspections"], out["labelled"], strict=True)]
    key = ["month", "model_name", "model_version", "region"]
    control = out[out["arm"] == "control"].set_index(key)[["irregular", "labelled"]]
    lifts = []
    for row in out.itertuples(index=False):
        if row.arm != "model":
            lifts.append((math.nan, math.nan, math.nan))
            continue
        k = (row.month, row.model_name, row.model_version, row.region)
        if k in control.index:
            c = control.loc[k]
            lifts.append(lift_interval(int(row.irregular), int(row.labelled), int(c["irregular"]),
                                       int(c["labelled"])))
        else:
            lifts.append((math.nan, math.nan, math.nan))
    out["lift"] = [x[0] for x in lifts]
    out["lift_low"] = [x[1] for x in lifts]
    out["lift_high"] = [x[2] for x in lifts]
    return out
