"""Monthly features: bills + customers (+ inspections) -> DAICE feature tables.

In: bronze ``bills``, ``customers`` and ``inspections`` Delta tables.
Out: ``monthly_features`` (one row per customer and reference month: C1..CN,
robust derived features, customer attributes) and ``training_set`` (one row
per labelled inspection, features taken with the point-in-time rule).
``monthly_features`` keeps every month written: the scored ones, and past
months the train job draws never-inspected negatives at
(``train.unlabelled_months``), built once when the table lacks them.

Categorical attributes (region, tariff, meter_type, activity) are carried as
they are: the train job learns their levels from its training split and saves
them with the model (``ntl_spark.encoding``), so no list of regions or
tariffs is written into this stage. The numeric model inputs are declared in
``schemas.numeric_feature_columns``.

Point-in-time rule: an inspection on day d is paired with the monthly series
that ends the month before d's month (C1 = that month), so no consumption
measured on or after the inspection reaches its features.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import lakehouse, models, schemas
from ntl_spark.config import Config
from ntl_spark.errors import DataError
from ntl_spark.sparkutil import scalar

log = logging.getLogger(__name__)

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


def monthly_lists(bills: DataFrame, keys: DataFrame, months: int) -> DataFrame:
    """The billed months of each (customer_id, reference_month) key, as sparse lists.

    Args:
        bills: customer_id, period, kwh, read_type.
        keys: customer_id, reference_month.
        months: series length N; position 0 is the reference month itself,
            position N-1 the oldest month. Bills after the reference month are
            never included.

    Returns:
        customer_id, reference_month, ``pos`` (positions 0..N-1 that have a
        bill), ``kwh`` and ``est`` (1 = estimated read) aligned with ``pos``;
        empty lists when the customer has no bill in the window; plus ``peer``
        (the peers' median kWh of the same months) when ``bills`` has ``peer_kwh``
        (:func:`with_peer_kwh`).
    """
    distinct = keys.select("customer_id", "reference_month").distinct()
    extra = ["peer_kwh"] if "peer_kwh" in bills.columns else []
    joined = (
        distinct.join(bills.select("customer_id", "period", "kwh", "read_type", *extra), "customer_id")
        .withColumn("pos", F.months_between("reference_month", "period").cast("int"))
        .where((F.col("pos") >= 0) & (F.col("pos") < months))
    )
    peer = [F.collect_list(F.coalesce(F.col("peer_kwh"), F.lit(float("nan")))).alias("peer")] if "peer_kwh" in bills.columns else []
    grouped = joined.groupBy("customer_id", "reference_month").agg(
        F.collect_list("pos").alias("pos"),
        F.collect_list(F.coalesce(F.col("kwh"), F.lit(float("nan")))).alias("kwh"),
        F.collect_list((F.col("read_type") == "estimated").cast("int")).alias("est"),
        *peer,
    )
    return distinct.join(grouped, ["customer_id", "reference_month"], "left")


def with_peer_kwh(bills: DataFrame, customers: DataFrame) -> DataFrame:
    """Bills with ``peer_kwh``: the median kWh of the same period among customers of the same region and tariff.

    A peer median of period p uses only bills of period p, so it is known by
    any reference month on or after p (point-in-time). Peers carry what is
    common to a region and tariff in a month (the weather, a holiday), which a
    customer's own history cannot separate from a drop.
    """
    groups = customers.select("customer_id", "region", "tariff")
    tagged = bills.join(groups, "customer_id", "left")
    medians = tagged.groupBy("period", "region", "tariff").agg(
        F.percentile_approx("kwh", 0.5, 1000).cast("double").alias("peer_kwh"))
    return tagged.join(medians, ["period", "region", "tariff"], "left").drop("region", "tariff")


def dense_series(pos: pd.Series, kwh: pd.Series, est: pd.Series, months: int) -> tuple[np.ndarray, np.ndarray]:
    """Scatter sparse monthly lists into (rows x months) arrays: kWh (NaN = not billed) and estimated flags."""
    n = len(pos)
    k = np.full((n, months), np.nan)
    e = np.zeros((n, months))
    lengths = np.array([0 if p is None else len(p) for p in pos], dtype=np.int64)
    if lengths.sum():
        rows = np.repeat(np.arange(n), lengths)
        cols = np.concatenate([np.asarray(p, dtype=np.int64) for p in pos if p is not None and len(p)])
        k[rows, cols] = np.concatenate([np.asarray(v, dtype=float) for v in kwh if v is not None and len(v)])
        e[rows, cols] = np.concatenate([np.asarray(v, dtype=float) for v in est if v is not None and len(v)])
    return k, e


def dense_peer(pos: pd.Series, peer: pd.Series, months: int) -> np.ndarray:
    """Scatter the peers' median kWh lists like :func:`dense_series` (NaN = no bill that month)."""
    n = len(pos)
    out = np.full((n, months), np.nan)
    lengths = np.array([0 if p is None else len(p) for p in pos], dtype=np.int64)
    if lengths.sum():
        rows = np.repeat(np.arange(n), lengths)
        cols = np.concatenate([np.asarray(p, dtype=np.int64) for p in pos if p is not None and len(p)])
        out[rows, cols] = np.concatenate([np.asarray(v, dtype=float) for v in peer if v is not None and len(v)])
    return out


def _window_mean(k: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Mean of columns lo..hi-1 ignoring NaN (NaN when none is present or the window is out of range)."""
    if k.shape[1] < hi:
        return np.full(len(k), np.nan)
    w = k[:, lo:hi]
    n = (~np.isnan(w)).sum(axis=1)
    return np.where(n > 0, np.nansum(w, axis=1) / np.maximum(n, 1), np.nan)


def _row_corr(a: np.ndarray, b: np.ndarray, min_pairs: int = 6) -> np.ndarray:
    """Pearson correlation per row over the positions where both are present (NaN if too few or flat)."""
    ok = ~np.isnan(a) & ~np.isnan(b)
    n = ok.sum(axis=1)
    am = np.where(ok, a, 0.0)
    bm = np.where(ok, b, 0.0)
    ma = am.sum(axis=1) / np.maximum(n, 1)
    mb = bm.sum(axis=1) / np.maximum(n, 1)
    da = np.where(ok, a - ma[:, None], 0.0)
    db = np.where(ok, b - mb[:, None], 0.0)
    cov = (da * db).sum(axis=1)
    var = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    return np.where((n >= min_pairs) & (var > 0), cov / np.where(var > 0, var, 1.0), np.nan)


def _runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longest run of True per row, and the run that includes column 0 (the most recent month)."""
    run = np.zeros(len(flags))
    best = np.zeros(len(flags))
    for j in range(flags.shape[1]):
        run = np.where(flags[:, j], run + 1, 0)
        best = np.maximum(best, run)
    current = np.argmin(np.concatenate([flags, np.zeros((len(flags), 1), dtype=bool)], axis=1), axis=1)
    return best, current.astype(float)


def step_change(k: np.ndarray, span: int = 24, min_side: int = 2, offset: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The strongest level step in the last ``span`` months and how many months ago it happened.

    For each split t (the newest t months against the next ``span - t``), the
    ratio of their means (+ ``offset``); the split with the largest absolute log
    ratio wins. Returns (ratio recent / before, months since the step); NaN
    where fewer than ``span`` months exist or a side has fewer than ``min_side`` bills.
    """
    n = len(k)
    if k.shape[1] < span:
        return np.full(n, np.nan), np.full(n, np.nan)
    w = k[:, :span]
    ok = ~np.isnan(w)
    cs = np.cumsum(np.where(ok, w, 0.0), axis=1)
    cn = np.cumsum(ok, axis=1)
    total, count = cs[:, -1:], cn[:, -1:]
    t = np.arange(1, span)
    recent_n, old_n = cn[:, t - 1], count - cn[:, t - 1]
    recent = cs[:, t - 1] / np.maximum(recent_n, 1)
    old = (total - cs[:, t - 1]) / np.maximum(old_n, 1)
    log_ratio = np.log((recent + offset) / (old + offset))
    valid = (recent_n >= min_side) & (old_n >= min_side)
    score = np.where(valid, np.abs(log_ratio), -1.0)
    best = np.argmax(score, axis=1)
    found = score[np.arange(n), best] >= 0
    ratio = np.exp(log_ratio[np.arange(n), best])
    return np.where(found, ratio, np.nan), np.where(found, (best + 1).astype(float), np.nan)


def series_features(k: np.ndarray, e: np.ndarray, peer: np.ndarray | None = None,
                    zero_kwh: float = 1.0) -> dict[str, np.ndarray]:
    """Robust summaries of monthly series (rows x months, column 0 = most recent).

    Means, ratios to the customer's own past, trend, zeros, gaps and the share
    of estimated reads. Ratios compare a customer with its own history, which
    is where theft shows (a drop after tampering) whatever the customer's size.
    The +1 kWh in ratios keeps them finite for zero months.

    What tells theft from an honest change: whether the seasonal shape of the
    year before survives (``season_corr_yoy``, ``season_amp_ratio``: a direct
    hook-up leaves a flat old level, a seasonal home repeats its pattern), one
    clean level step and its age (``step_ratio``, ``step_months_ago``: an
    efficiency retrofit or a meter change is one step, theft often several),
    runs of (near) zero months (``zero_run_12``, ``zero_run_current``,
    ``near_zero_12``), recent estimated reads, and, with ``peer`` (the median
    kWh of the same region and tariff per month), the customer against its
    peers (``peer_ratio_12``, ``peer_drop_6_yoy``, ``peer_corr_12``), which
    takes out the weather a whole region shares.

    Args:
        k: kWh, (rows, months), NaN = not billed.
        e: 1 where the read was estimated.
        peer: the peers' median kWh per month, same shape (optional).
        zero_kwh: a month at or below this counts as zero.
    """
    months = k.shape[1]
    h = min(12, months)
    last = k[:, :h]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_3 = np.nanmean(k[:, : min(3, months)], axis=1)
        mean_12 = np.nanmean(last, axis=1)
        std_12 = np.nanstd(last, axis=1, ddof=1)
        prev_12 = np.nanmean(k[:, 12:24], axis=1) if months > 12 else np.full(len(k), np.nan)
        # least-squares slope in time order (kWh per month; a drop is negative)
        t = -np.arange(h, dtype=float)[None, :]
        ok = ~np.isnan(last)
        n = ok.sum(axis=1)
        tm = np.where(ok, t, 0.0)
        vm = np.where(ok, last, 0.0)
        sx, sy = tm.sum(axis=1), vm.sum(axis=1)
        sxx, sxy = (tm * tm).sum(axis=1), (tm * vm).sum(axis=1)
        slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        out = {
            "mean_3": mean_3,
            "mean_12": mean_12,
            "mean_all": np.nanmean(k, axis=1),
            "std_12": std_12,
            "cv_12": std_12 / (mean_12 + 1.0),
            "min_12": np.nanmin(last, axis=1),
            "max_12": np.nanmax(last, axis=1),
            "ratio_3_12": mean_3 / (mean_12 + 1.0),
            "ratio_12_prev12": mean_12 / (prev_12 + 1.0),
            "ratio_last_yoy": (k[:, 0] + 1.0) / (k[:, 12] + 1.0) if months > 12 else np.full(len(k), np.nan),
            "slope_12": np.where(n >= 3, slope, np.nan),
            "zero_months_12": (last <= 0).sum(axis=1).astype(float),
            "missing_months": np.isnan(k).sum(axis=1).astype(float),
            "estimated_share_12": e[:, :h].sum(axis=1) / h,
        }
        recent6, yoy6 = _window_mean(k, 0, 6), _window_mean(k, 12, 18)
        out["ratio_6_yoy"] = (recent6 + 1.0) / (yoy6 + 1.0)
        year_before = k[:, 12:24] if months >= 24 else np.full((len(k), 12), np.nan)
        last_full = k[:, :12] if months >= 12 else np.full((len(k), 12), np.nan)
        out["season_corr_yoy"] = _row_corr(last_full, year_before)
        amp_now = np.nanmax(last_full, axis=1) - np.nanmin(last_full, axis=1)
        amp_before = np.nanmax(year_before, axis=1) - np.nanmin(year_before, axis=1)
        out["season_amp_ratio"] = (amp_now + 1.0) / (amp_before + 1.0)
        if peer is not None and not np.isnan(peer).all():
            # against the peers, the season and the region's weather do not look like steps
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(peer > 0, k / peer, np.nan)
            out["step_ratio"], out["step_months_ago"] = step_change(rel, offset=0.01)
        else:
            out["step_ratio"], out["step_months_ago"] = step_change(k)
        zero = ~np.isnan(last) & (last <= zero_kwh)
        out["zero_run_12"], out["zero_run_current"] = _runs(zero)
        typical = np.nanmedian(k, axis=1)
        out["near_zero_12"] = (~np.isnan(last) & (last < 0.1 * typical[:, None])).sum(axis=1).astype(float)
        out["estimated_share_3"] = e[:, : min(3, months)].sum(axis=1) / min(3, months)
        if peer is None:
            peer = np.full_like(k, np.nan)
        peer12 = _window_mean(peer, 0, h)
        out["peer_ratio_12"] = (mean_12 + 1.0) / (peer12 + 1.0)
        peer_yoy = (_window_mean(peer, 0, 6) + 1.0) / (_window_mean(peer, 12, 18) + 1.0)
        out["peer_drop_6_yoy"] = out["ratio_6_yoy"] / peer_yoy
        out["peer_corr_12"] = _row_corr(last_full, peer[:, :12] if months >= 12 else np.full((len(k), 12), np.nan))
    return out


def monthly_features(lists: DataFrame, months: int) -> DataFrame:
    """C1..CN and the derived features from :func:`monthly_lists` (vectorised per Arrow batch).

    Returns:
        customer_id, reference_month, C1..CN, then the derived features
        (all doubles; NaN where undefined, e.g. no bill in the window).
    """
    cols = schemas.consumption_columns(months)
    later = {"kwh_per_kw", "months_connected", *alarm_columns(), *INTERVAL_COLUMNS, *HISTORY_COLUMNS}  # build_features
    derived = [d for d in schemas.DERIVED if d not in later]
    schema = T.StructType(
        [T.StructField("customer_id", T.StringType()), T.StructField("reference_month", T.DateType())]
        + [T.StructField(c, T.DoubleType()) for c in cols + derived]
    )

    def compute(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in batches:
            k, e = dense_series(pdf["pos"], pdf["kwh"], pdf["est"], months)
            peer = dense_peer(pdf["pos"], pdf["peer"], months) if "peer" in pdf.columns else None
            out = pd.DataFrame(k, columns=cols)
            for name, values in series_features(k, e, peer).items():
                out[name] = values
            out.insert(0, "reference_month", pdf["reference_month"].to_numpy())
            out.insert(0, "customer_id", pdf["customer_id"].to_numpy())
            yield out[schema.fieldNames()]

    return lists.mapInPandas(compute, schema)


def alarm_columns() -> list[str]:
    """Names of the alarm-count features, one per event code of the data contract."""
    return [f"alarms_3m_{code.lower()}" for code in schemas.EVENT_CODES]


def smart_meter_keys(keys: DataFrame, customers: DataFrame) -> DataFrame:
    """The distinct (customer_id, reference_month) of ``keys`` whose customer has a meter, with its meter_id."""
    return keys.select("customer_id", "reference_month").distinct().join(
        customers.where(F.col("meter_id").isNotNull()).select("customer_id", "meter_id"), "customer_id")


def alarm_counts(events: DataFrame, customers: DataFrame, keys: DataFrame, months: int = 3) -> DataFrame:
    """Smart-meter alarms per event code in the ``months`` months up to the end of the reference month.

    Point-in-time: the window ends with the reference month, so alarms from the
    inspection's month on never reach its label. Customers without a smart
    meter get nulls (unknown), smart meters without alarms zeros.

    Returns:
        customer_id, reference_month and :func:`alarm_columns`.
    """
    meters = smart_meter_keys(keys, customers)
    day = F.to_date("ts")
    hits = meters.join(events.select("meter_id", "ts", "code"), "meter_id").where(
        (day >= F.add_months("reference_month", 1 - months)) & (day < F.add_months("reference_month", 1)))
    counts = hits.groupBy("customer_id", "reference_month").agg(
        *[F.sum((F.col("code") == code).cast("double")).alias(name)
          for code, name in zip(schemas.EVENT_CODES, alarm_columns(), strict=True)])
    return meters.select("customer_id", "reference_month").join(counts, ["customer_id", "reference_month"], "left") \
        .select("customer_id", "reference_month", *[F.coalesce(F.col(c), F.lit(0.0)).alias(c) for c in alarm_columns()])


HISTORY_COLUMNS = ("inspections_before", "irregular_before", "months_since_inspection", "months_since_irregular")


def inspection_history(inspections: DataFrame, keys: DataFrame) -> DataFrame:
    """What the utility already knows from its own visits, up to the end of the reference month.

    A customer found irregular is normalised (the theft stops, the meter is
    fixed) and its consumption recovers, which looks like a step; a customer
    found regular a few months ago is usually still regular. Visits of every
    outcome count (``no_access`` too); an inspection after the reference month,
    such as the one a training label comes from, never does (point-in-time).

    Returns:
        customer_id, reference_month and :data:`HISTORY_COLUMNS`: visits and
        irregular findings so far (0 when none), months from the last visit and
        the last irregular finding to the reference month's end (null when none).
    """
    distinct = keys.select("customer_id", "reference_month").distinct()
    end = F.last_day("reference_month")
    visits = distinct.join(inspections.select("customer_id", "inspected_on", "outcome"), "customer_id").where(
        F.col("inspected_on") <= end)
    irregular = F.col("outcome") == "irregular"
    ago = F.months_between(end, "inspected_on")
    done = visits.groupBy("customer_id", "reference_month").agg(
        F.count(F.lit(1)).cast("double").alias("inspections_before"),
        F.sum(irregular.cast("double")).alias("irregular_before"),
        F.min(ago).alias("months_since_inspection"),
        F.min(F.when(irregular, ago)).alias("months_since_irregular"),
    )
    return distinct.join(done, ["customer_id", "reference_month"], "left").select(
        "customer_id", "reference_month",
        *[F.coalesce(F.col(c), F.lit(0.0)).alias(c) for c in HISTORY_COLUMNS[:2]],
        *[F.col(c).cast("double").alias(c) for c in HISTORY_COLUMNS[2:]])


@dataclasses.dataclass(frozen=True)
class IntervalWindow:
    """What :func:`interval_profile` aggregates: ``days`` up to the reference month's end, the last
    ``recent_days`` of them against the rest, intervals at or below ``zero_kwh`` counted as zero."""

    days: int
    recent_days: int
    zero_kwh: float


INTERVAL_COLUMNS = ("night_day_ratio", "base_load_share", "profile_cv", "zero_interval_share", "day_zero_share",
                    "interval_recent_ratio", "readings_per_day")


def interval_profile(readings: DataFrame, customers: DataFrame, keys: DataFrame, days: int, recent_days: int,
                     zero_kwh: float, night_hours: tuple[int, int] = (0, 6),
                     day_hours: tuple[int, int] = (10, 16)) -> DataFrame:
    """Aggregates of a smart meter's interval readings over the ``days`` days up to the end of the reference month.

    What monthly bills cannot show: when in the day the energy is used. Night-only
    theft lowers the night against the day; a bypass above a threshold or a
    hook-up that leaves a flat level flattens the daily profile; rooftop panels
    make the import drop to zero around midday (an honest look-alike that the
    monthly drop alone confuses with theft); a stopped meter records zeros.

    Point-in-time: the window ends on the last day of the reference month, so
    readings from the inspection's month on never reach its label. Hours are
    local (``spark.sql.session.timeZone``), as in the DeepDAICE windows.

    Args:
        readings: bronze readings (meter_id, ts, kwh).
        customers: bronze customers (customer_id, meter_id; null meter = no smart meter).
        keys: customer_id, reference_month.
        days: window length in days.
        recent_days: the last days compared with the rest of the window.
        zero_kwh: an interval at or below this counts as zero.
        night_hours, day_hours: [from, to) local hours of the night and of the middle of the day.

    Returns:
        customer_id, reference_month and :data:`INTERVAL_COLUMNS`, for the keys with
        a smart meter and at least one reading in the window (others absent: null after a left join):
        ``night_day_ratio`` mean interval kWh at night / in the middle of the day;
        ``base_load_share`` the lowest hour of the mean daily profile / its mean;
        ``profile_cv`` the profile's coefficient of variation (low = flat);
        ``zero_interval_share`` and ``day_zero_share`` intervals at or below ``zero_kwh``,
        all day and in the middle of the day; ``interval_recent_ratio`` mean of the last
        ``recent_days`` days / mean of the earlier days; ``readings_per_day`` readings kept over
        the window's days (coverage: gaps and a meter that stopped reporting lower it).
    """
    if days < 1 or not 0 < recent_days < days:
        raise ValueError(f"interval_profile: need days >= 1 and 0 < recent_days < days, got {days}, {recent_days}")
    eps = 0.01
    meters = smart_meter_keys(keys, customers)
    end = F.last_day("reference_month")
    day = F.to_date("ts")
    rows = meters.join(readings.select("meter_id", "ts", "kwh"), "meter_id").where(
        (day > F.date_sub(end, days)) & (day <= end) & F.col("kwh").isNotNull())
    hour = F.hour("ts")
    recent = day > F.date_sub(end, recent_days)
    zero = (F.col("kwh") <= F.lit(zero_kwh)).cast("double")
    per_hour = rows.groupBy("customer_id", "reference_month", hour.alias("hour")).agg(
        F.sum("kwh").alias("s"), F.count("kwh").alias("n"),
        F.sum(F.when(recent, F.col("kwh"))).alias("rs"), F.count(F.when(recent, F.col("kwh"))).alias("rn"),
        F.sum(zero).alias("z"),
    )
    hr = F.col("hour")
    night = (hr >= night_hours[0]) & (hr < night_hours[1])
    mid = (hr >= day_hours[0]) & (hr < day_hours[1])
    mean_h = F.col("s") / F.col("n")

    def mean_where(cond: Any) -> Any:
        return F.sum(F.when(cond, F.col("s"))) / F.sum(F.when(cond, F.col("n")))

    agg = per_hour.groupBy("customer_id", "reference_month").agg(
        mean_where(night).alias("_night"), mean_where(mid).alias("_mid"),
        F.min(mean_h).alias("_pmin"), F.avg(mean_h).alias("_pmean"), F.stddev_pop(mean_h).alias("_pstd"),
        (F.sum("z") / F.sum("n")).alias("zero_interval_share"),
        (F.sum(F.when(mid, F.col("z"))) / F.sum(F.when(mid, F.col("n")))).alias("day_zero_share"),
        F.sum("rs").alias("_rs"), F.sum("rn").alias("_rn"), F.sum("s").alias("_s"), F.sum("n").alias("_n"),
    )
    earlier_mean = (F.col("_s") - F.coalesce(F.col("_rs"), F.lit(0.0))) / (F.col("_n") - F.col("_rn"))
    return agg.select(
        "customer_id", "reference_month",
        ((F.col("_night") + eps) / (F.col("_mid") + eps)).alias("night_day_ratio"),
        ((F.col("_pmin") + eps) / (F.col("_pmean") + eps)).alias("base_load_share"),
        (F.col("_pstd") / (F.col("_pmean") + eps)).alias("profile_cv"),
        "zero_interval_share", "day_zero_share",
        F.when(F.col("_n") > F.col("_rn"), (F.col("_rs") / F.col("_rn") + eps) / (earlier_mean + eps))
        .alias("interval_recent_ratio"),
        (F.col("_n") / F.lit(float(days))).alias("readings_per_day"),
    )


def customer_attributes(customers: DataFrame) -> DataFrame:
    """Per customer: the categorical attributes as they are, status, connection date and contracted power.

    Categories are not encoded here: their levels are learned by the train
    job from its training split (``ntl_spark.encoding``).
    """
    return customers.select(
        "customer_id",
        *schemas.CUSTOMER_CATEGORICAL,
        "status",
        "connected_on",
        F.col("contracted_kw").cast("double").alias("contracted_kw"),
    )


def build_features(
    bills: DataFrame, customers: DataFrame, keys: DataFrame, months: int, events: DataFrame | None = None,
    readings: DataFrame | None = None, interval: IntervalWindow | None = None,
    inspections: DataFrame | None = None,
) -> DataFrame:
    """Feature rows for (customer_id, reference_month) keys, with C1..CN as columns.

    Args:
        bills: bronze bills.
        customers: bronze customers.
        keys: customer_id, reference_month (+ any extra columns, kept).
        months: series length.
        events: bronze events (smart-meter alarms); None = alarm counts missing.
        readings: bronze interval readings; with ``interval``, the smart-meter profile
            aggregates (:func:`interval_profile`); None = those columns missing.
        interval: the window of those aggregates (None: not computed).
        inspections: bronze inspections for the visit history (:func:`inspection_history`);
            None = those columns missing.

    Returns:
        ``keys`` columns + the categorical attributes (``schemas.CUSTOMER_CATEGORICAL``),
        status, connected_on + ``schemas.numeric_feature_columns(months)``.
        Missing values are null (never NaN), so Delta and SQL readers see them as missing.
    """
    feats = monthly_features(monthly_lists(with_peer_kwh(bills, customers), keys, months), months)
    numeric = [c for c in feats.columns if c not in ("customer_id", "reference_month")]
    feats = feats.select("customer_id", "reference_month", *[F.when(~F.isnan(c), F.col(c)).alias(c) for c in numeric])
    attrs = customer_attributes(customers)
    if events is not None:
        feats = feats.join(alarm_counts(events, customers, keys), ["customer_id", "reference_month"], "left")
    else:
        feats = feats.select("*", *[F.lit(None).cast("double").alias(c) for c in alarm_columns()])
    if readings is not None and interval is not None:
        profile = interval_profile(readings, customers, keys, interval.days, interval.recent_days, interval.zero_kwh)
        feats = feats.join(profile, ["customer_id", "reference_month"], "left")
    else:
        feats = feats.select("*", *[F.lit(None).cast("double").alias(c) for c in INTERVAL_COLUMNS])
    if inspections is not None:
        feats = feats.join(inspection_history(inspections, keys), ["customer_id", "reference_month"], "left")
    else:
        feats = feats.select("*", *[F.lit(None).cast("double").alias(c) for c in HISTORY_COLUMNS])
    return (
        keys.join(feats, ["customer_id", "reference_month"], "left")
        .join(attrs, "customer_id", "inner")
        .withColumn("kwh_per_kw", F.col("mean_12") / F.col("contracted_kw"))
        .withColumn("months_connected", F.months_between("reference_month", "connected_on").cast("double"))
    )


def latest_month(bills: DataFrame) -> dt.date:
    """The last billed period in ``bills``."""
    value = bills.agg(F.max("period")).first()
    value = value[0] if value is not None else None
    if value is None:
        raise DataError("bills table is empty: cannot choose a reference month")
    return value


def scoring_keys(customers: DataFrame, reference_month: dt.date) -> DataFrame:
    """Every active customer connected by the end of the reference month, at that month.

    A customer connected later has no bill in the month being scored (every
    feature would be missing), so it is ranked from the next month on.
    """
    return history_keys(customers, [reference_month])


def history_months(reference_month: dt.date, offsets: Iterable[int], present: Iterable[dt.date]) -> list[dt.date]:
    """The months before ``reference_month`` at the given offsets (months) that are not ``present``, oldest first."""
    return sorted(models.months_before(reference_month, [m for m in offsets if m > 0]) - set(present))


def history_keys(customers: DataFrame, months: Iterable[dt.date]) -> DataFrame:
    """Active customers connected by the end of each of ``months``, at that month (past rows of ``monthly_features``)."""
    rows = [(m, last_day_of(m)) for m in months]
    spark = customers.sparkSession
    at = spark.createDataFrame(rows, "reference_month date, month_end date")
    return (customers.where(F.col("status") == "active")
            .join(F.broadcast(at), F.col("connected_on") <= F.col("month_end"))
            .select("customer_id", "reference_month"))


def training_rows(
    bills: DataFrame,
    customers: DataFrame,
    inspections: DataFrame,
    months: int,
    min_history_months: int,
    first_month: dt.date | None = None,
    events: DataFrame | None = None,
    readings: DataFrame | None = None,
    interval: IntervalWindow | None = None,
) -> DataFrame:
    """Labelled rows for training under the point-in-time rule.

    Args:
        first_month: drop inspections whose reference month is earlier.
        events: smart-meter alarms for the alarm counts (None = missing).
        readings, interval: interval readings and the window of their aggregates (None = missing).
        min_history_months: drop labels with fewer billed months than this
            before the inspection (not enough history to learn from).
    """
    keys = reference_keys_for_inspections(inspections)
    if first_month is not None:
        keys = keys.where(F.col("reference_month") >= F.lit(first_month))
    feats = build_features(bills, customers, keys, months, events, readings, interval, inspections)
    cols = schemas.consumption_columns(months)
    billed = sum((F.col(c).isNotNull().cast("int") for c in cols), F.lit(0))
    return feats.where(billed >= min_history_months)


def attach_arms(train: DataFrame, outcomes: DataFrame | None) -> DataFrame:
    """Labelled rows with the field arm of their inspection: ``arm`` and ``selection_probability``.

    The arm comes from the ``outcomes`` table (the outcomes job): ``model`` or
    ``control`` for an inspection a campaign requested, ``unsolicited`` for
    the others; null for an inspection the outcomes table does not hold yet
    (or when there is no outcomes table). ``selection_probability`` is the
    request's (1 in the model arm, the draw's share in the control arm),
    null outside campaigns: the train job's inverse-probability weights
    (``train.weighting: ipw``) and its control-arm metrics read them.
    """
    if outcomes is None:
        return train.withColumn("arm", F.lit(None).cast("string")).withColumn(
            "selection_probability", F.lit(None).cast("double"))
    arms = outcomes.select("inspection_id", "arm", "selection_probability")
    return train.join(arms, "inspection_id", "left")


def readings_between(readings: DataFrame | None, first_month: dt.date, last_month: dt.date,
                     days: int) -> DataFrame | None:
    """The readings the profile aggregates of reference months ``first_month``..``last_month`` can use.

    A filter on ``ts`` with literal bounds (the ``days`` days before the first
    month's end to the last month's end), so Delta skips the files outside it;
    the per-key window is applied by :func:`interval_profile`.
    """
    if readings is None:
        return None
    start = last_day_of(first_month) - dt.timedelta(days=days - 1)
    end = last_day_of(last_month) + dt.timedelta(days=1)
    # dates cast in the session time zone, as interval_profile's days are
    return readings.where((F.col("ts") >= F.lit(start.isoformat()).cast("timestamp")) &
                          (F.col("ts") < F.lit(end.isoformat()).cast("timestamp")))


def last_day_of(month: dt.date) -> dt.date:
    """The last day of ``month``'s month."""
    return models.add_months(month.replace(day=1), 1) - dt.timedelta(days=1)


# ------------------------------------------------------------------------- run
def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Write ``monthly_features`` for the reference month and the ``training_set``.

    Returns:
        Row counts and the Delta versions of the inputs used.
    """
    fc = cfg.features
    paths = cfg.paths
    inputs = {t: lakehouse.read_pinned(spark, paths.table(t), t, "ingest")
              for t in (schemas.BILLS, schemas.CUSTOMERS, schemas.INSPECTIONS)}
    bills, customers, inspections = (inputs[t].df for t in (schemas.BILLS, schemas.CUSTOMERS, schemas.INSPECTIONS))
    alarms = lakehouse.read_optional(spark, paths.table(schemas.EVENTS), schemas.EVENTS)  # smart-meter alarms, when ingested
    if alarms is not None:
        inputs[schemas.EVENTS] = alarms
    events = alarms.df if alarms is not None else None
    interval = None
    readings = None
    if fc.interval_days:
        pinned = lakehouse.read_optional(spark, paths.table(schemas.READINGS), schemas.READINGS)  # smart-meter curves, when ingested
        if pinned is not None:
            inputs[schemas.READINGS] = pinned
            readings = pinned.df
            interval = IntervalWindow(fc.interval_days, fc.interval_recent_days, fc.interval_zero_kwh)
    ref = dt.date.fromisoformat(fc.reference_month) if fc.reference_month else latest_month(bills)
    outcomes = lakehouse.read_optional(spark, paths.table(schemas.OUTCOMES_TABLE), schemas.OUTCOMES_TABLE, "outcomes")  # the labels' field arms
    if outcomes is not None:
        inputs[schemas.OUTCOMES_TABLE] = outcomes
    versions = lakehouse.merge_lineage({t: p.version for t, p in inputs.items()})
    lineage = lakehouse.lineage_column(versions).alias(schemas.LINEAGE_COLUMN)

    mf_path = paths.table(schemas.MONTHLY_FEATURES)
    # Past months train draws never-inspected negatives at (train.unlabelled_months) that the table lacks:
    # built once, point in time like every month; a month already there (scored then) is kept as it is.
    existing = lakehouse.read_optional(spark, mf_path)

    def month_rows(history: list[dt.date]) -> DataFrame:
        keys = scoring_keys(customers, ref)
        if history:
            keys = keys.unionByName(history_keys(customers, history))
        return build_features(bills, customers, keys, fc.months, events,
                              readings_between(readings, min([ref, *history]), ref, fc.interval_days), interval,
                              inspections).select("*", lineage)

    # A table written by an older version (other feature columns) is rebuilt whole: the months train
    # draws at and the reference month, in the new layout; the old layout stays readable in its history.
    layout, old = set(month_rows([]).columns), set(existing.df.columns) if existing else set()
    stale = existing is not None and old != layout
    if stale:
        log.warning("monthly_features has another layout (new columns: %s; gone: %s): rebuilt whole",
                    sorted(layout - old) or "none", sorted(old - layout) or "none")
    present = models.reference_months(existing.df) if existing and not stale else []
    history = history_months(ref, cfg.train.unlabelled_months, present) if cfg.train.unlabelled_share > 0 else []
    scoring = month_rows(history)
    months = [ref, *history]
    written = ", ".join(f"'{m.isoformat()}'" for m in sorted(months))
    mf_version = lakehouse.write(scoring, mf_path, schemas.MONTHLY_FEATURES, replace_layout=stale,
                                 where=f"reference_month IN ({written})", partition_by=("reference_month",))

    lookback = F.add_months(F.lit(ref), -fc.label_lookback_months)
    first = scalar(spark.range(1).select(lookback), "label look-back")
    train = training_rows(bills, customers, inspections, fc.months, fc.min_history_months, first,
                          events, readings_between(readings, first, ref, fc.interval_days), interval
                          ).select("*", lineage)
    train = attach_arms(train, outcomes.df if outcomes is not None else None)
    # The training set is rebuilt whole from every labelled inspection each run (labels arrive late).
    ts_version = lakehouse.write(train, paths.table(schemas.TRAINING_SET), schemas.TRAINING_SET, replace_layout=True)
    version_text = ", ".join(f"{t} v{v}" for t, v in versions.items())
    counts = {
        "reference_month": ref.isoformat(),
        "history_months": [m.isoformat() for m in history],
        "scoring_rows": lakehouse.read_pinned(spark, mf_path, schemas.MONTHLY_FEATURES, "features", mf_version)
        .df.where(F.col("reference_month") == F.lit(ref)).count(),
        "training_rows": lakehouse.read_pinned(spark, paths.table(schemas.TRAINING_SET), schemas.TRAINING_SET,
                                               "features", ts_version).df.count(),
        "versions": versions,
    }
    built = (f" (and past month(s) {', '.join(m.isoformat() for m in history)} for unlabelled negatives)"
             if history else "")
    print(f"features: reference month {ref}, {counts['scoring_rows']:,} customers to score{built}, "
          f"{counts['training_rows']:,} labelled rows ({version_text})")
    return counts
