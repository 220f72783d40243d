"""Column statistics of a table, computed in Spark, kept per run in the ``data_stats`` Delta table.

In: any DataFrame (a bronze or feature table at a known Delta version).
Out: one row per column (``STATS_SCHEMA``): row count, nulls, approximate
distinct count, min/max/mean/std, approximate quantiles and a histogram for
numeric columns, the most frequent values for low-cardinality text columns.
Rows are appended to ``data_stats`` keyed by (table, delta_version, run_id),
so the statistics of any two runs can be compared (:func:`compare`).

The additive part (rows, nulls, min, max, mean, std) can also be kept per day
(:func:`day_moments`, ``schemas.DAY_MOMENTS_SCHEMA``) and merged over days
(:func:`merge_moments`): a table that changes a few days at a time then needs
only those days read again (:func:`with_moments` puts the merge into a
table's statistics).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import lakehouse, schemas

DATA_STATS = "data_stats"
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP_VALUES = 10
MAX_CATEGORIES = 50  # text columns with more distinct values get no value counts (keys, ids)

STATS_SCHEMA = T.StructType(
    [
        T.StructField("column", T.StringType(), False),
        T.StructField("dtype", T.StringType(), False),
        T.StructField("count", T.LongType(), False),
        T.StructField("nulls", T.LongType(), False),
        T.StructField("distinct", T.LongType(), True),
        T.StructField("min", T.DoubleType(), True),
        T.StructField("max", T.DoubleType(), True),
        T.StructField("mean", T.DoubleType(), True),
        T.StructField("std", T.DoubleType(), True),
        T.StructField("quantiles", T.ArrayType(T.DoubleType()), True),
        T.StructField("hist_edges", T.ArrayType(T.DoubleType()), True),
        T.StructField("hist_counts", T.ArrayType(T.LongType()), True),
        T.StructField("min_text", T.StringType(), True),
        T.StructField("max_text", T.StringType(), True),
        T.StructField(
            "top_values",
            T.ArrayType(T.StructType([T.StructField("value", T.StringType()), T.StructField("count", T.LongType())])),
            True,
        ),
    ]
)

# Columns that key a run's statistics in the Delta table.
KEY_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False),
        T.StructField("table", T.StringType(), False),
        T.StructField("delta_version", T.LongType(), True),
        T.StructField("computed_at", T.TimestampType(), False),
    ]
)
DATA_STATS_SCHEMA = T.StructType(KEY_SCHEMA.fields + STATS_SCHEMA.fields)

_NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)


def is_numeric(dtype: T.DataType) -> bool:
    """Whether a column gets numeric statistics (booleans are counted as 0/1)."""
    return isinstance(dtype, (*_NUMERIC, T.BooleanType))


def column_stats(
    df: DataFrame,
    columns: Sequence[str] | None = None,
    bins: int = 10,
    quantiles: Sequence[float] = QUANTILES,
    histogram_rows: int = 2_000_000,
) -> DataFrame:
    """Statistics of every column of ``df`` (or of ``columns``) as one row per column.

    Two Spark jobs whatever the number of columns: one aggregation for counts,
    moments and approximate quantiles, one for the histograms (equal-width bins
    between min and max) and the value counts of low-cardinality text columns.

    Args:
        df: the data.
        columns: columns to describe (default: all but nested ones).
        bins: histogram bins per numeric column.
        quantiles: probabilities of the approximate quantiles.
        histogram_rows: histograms of bigger inputs are built from a sample of about this many rows.

    Returns:
        A DataFrame of ``STATS_SCHEMA`` (one row per column, in input order).

    Raises:
        ValueError: a named column does not exist.
    """
    spark = df.sparkSession
    fields = {f.name: f.dataType for f in df.schema.fields}
    names = list(columns) if columns is not None else [
        n for n, t in fields.items() if not isinstance(t, (T.ArrayType, T.MapType, T.StructType))
    ]
    unknown = [c for c in names if c not in fields]
    if unknown:
        raise ValueError(f"column_stats: column(s) {unknown} not in the data (has {sorted(fields)})")
    numeric = [c for c in names if is_numeric(fields[c])]

    def num(c: str) -> F.Column:
        return F.col(f"`{c}`").cast("double")

    aggs = [F.count(F.lit(1)).alias("__n")]
    for i, c in enumerate(names):
        col = F.col(f"`{c}`")
        aggs += [F.count(col).alias(f"n{i}"), F.approx_count_distinct(col).alias(f"d{i}")]
        if c in numeric:
            aggs += [
                F.min(num(c)).alias(f"lo{i}"), F.max(num(c)).alias(f"hi{i}"),
                F.mean(num(c)).alias(f"mu{i}"), F.stddev(num(c)).alias(f"sd{i}"),
                F.percentile_approx(num(c), list(quantiles), 1000).alias(f"q{i}"),
            ]
        else:
            aggs += [F.min(col).cast("string").alias(f"lo{i}"), F.max(col).cast("string").alias(f"hi{i}")]
    first = df.agg(*aggs).collect()[0]
    total = int(first["__n"]) if first else 0

    categorical = [c for i, c in enumerate(names)
                   if c not in numeric and first is not None and (first[f"d{i}"] or 0) <= MAX_CATEGORIES]
    hists, tops = _counts(df, numeric, categorical, first, names, bins, histogram_rows, total) if total else ({}, {})

    rows = []
    for i, c in enumerate(names):
        n = int(first[f"n{i}"]) if first else 0
        row: dict = {"column": c, "dtype": fields[c].simpleString(), "count": total, "nulls": total - n,
                     "distinct": int(first[f"d{i}"]) if first else 0}
        if c in numeric and first is not None:
            row.update(min=first[f"lo{i}"], max=first[f"hi{i}"], mean=first[f"mu{i}"], std=first[f"sd{i}"],
                       quantiles=[float(q) for q in first[f"q{i}"]] if first[f"q{i}"] else None)
            edges, counts = hists.get(c, (None, None))
            row.update(hist_edges=edges, hist_counts=counts)
        elif first is not None:
            row.update(min_text=first[f"lo{i}"], max_text=first[f"hi{i}"], top_values=tops.get(c))
        rows.append(row)
    return spark.createDataFrame([tuple(r.get(f.name) for f in STATS_SCHEMA.fields) for r in rows], STATS_SCHEMA)


def _counts(
    df: DataFrame, numeric: list[str], categorical: list[str], first: T.Row, names: list[str], bins: int,
    max_rows: int, total: int,
) -> tuple[dict[str, tuple[list[float], list[int]]], dict[str, list[tuple[str, int]]]]:
    """Equal-width histograms of numeric columns and value counts of text columns, in one Spark job.

    Big inputs are sampled to about ``max_rows`` rows for the histograms and value counts.
    """
    bounds = {}
    for c in numeric:
        i = names.index(c)
        lo, hi = first[f"lo{i}"], first[f"hi{i}"]
        if lo is not None and hi is not None:
            bounds[c] = (float(lo), float(hi), (float(hi) - float(lo)) / bins if hi > lo else 1.0)
    pairs = []
    for c, (lo, _hi, width) in bounds.items():
        x = F.col(f"`{c}`").cast("double")
        b = F.least(F.floor((x - F.lit(lo)) / F.lit(width)), F.lit(bins - 1)).cast("string")
        pairs.append(F.struct(F.lit(c).alias("c"), F.when(x.isNotNull() & ~F.isnan(x), b).alias("v")))
    for c in categorical:
        pairs.append(F.struct(F.lit(c).alias("c"), F.coalesce(F.col(f"`{c}`").cast("string"), F.lit("<null>")).alias("v")))
    if not pairs:
        return {}, {}
    data = df.sample(fraction=max_rows / total, seed=1) if total > max_rows else df
    counted = (
        data.select(F.explode(F.array(*pairs)).alias("p")).where(F.col("p.v").isNotNull())
        .groupBy("p.c", "p.v").count().collect()
    )
    hists = {c: ([lo + width * j for j in range(bins + 1)], [0] * bins) for c, (lo, _hi, width) in bounds.items()}
    tops: dict[str, list[tuple[str, int]]] = {}
    for r in counted:
        if r["c"] in hists:
            hists[r["c"]][1][int(r["v"])] += int(r["count"])
        else:
            tops.setdefault(r["c"], []).append((r["v"], int(r["count"])))
    for c, values in tops.items():
        tops[c] = sorted(values, key=lambda kv: (-kv[1], kv[0]))[:TOP_VALUES]
    return hists, tops


# What :func:`merge_moments` gives exactly (up to rounding in mean and std) and :func:`with_moments` replaces.
MERGED = ("count", "nulls", "min", "max", "mean", "std", "min_text", "max_text")


def day_moments(df: DataFrame, columns: Sequence[str], day: Column) -> DataFrame:
    """Mergeable moments of ``columns`` per day, in one Spark job.

    Args:
        df: the data.
        columns: the columns described (numeric ones get sum, m2, min and max; others min and max as text).
        day: the day of a row (e.g. ``to_date(ts)``).

    Returns:
        ``schemas.DAY_MOMENTS_SCHEMA`` rows, one per day present and column.

    Raises:
        ValueError: a named column does not exist.
    """
    fields = {f.name: f.dataType for f in df.schema.fields}
    unknown = [c for c in columns if c not in fields]
    if unknown:
        raise ValueError(f"day_moments: column(s) {unknown} not in the data (has {sorted(fields)})")
    aggs = [F.count(F.lit(1)).alias("_rows")]
    parts = []
    for i, c in enumerate(columns):
        col = F.col(f"`{c}`")
        aggs.append(F.count(col).alias(f"n{i}"))
        none_d, none_s = F.lit(None).cast("double"), F.lit(None).cast("string")
        if is_numeric(fields[c]):
            x = col.cast("double")
            # m2 from the day's own mean: merging days with Chan's formula stays accurate at any row count
            aggs += [F.sum(x).alias(f"s{i}"), (F.var_pop(x) * F.count(x)).alias(f"m{i}"),
                     F.min(x).alias(f"lo{i}"), F.max(x).alias(f"hi{i}")]
            values = [F.col(f"s{i}"), F.col(f"m{i}"), F.col(f"lo{i}"), F.col(f"hi{i}"), none_s, none_s]
        else:
            aggs += [F.min(col).cast("string").alias(f"lo{i}"), F.max(col).cast("string").alias(f"hi{i}")]
            values = [none_d, none_d, none_d, none_d, F.col(f"lo{i}"), F.col(f"hi{i}")]
        names = ["sum", "m2", "min", "max", "min_text", "max_text"]
        parts.append(F.struct(F.lit(c).alias("column"), F.lit(fields[c].simpleString()).alias("dtype"),
                              F.col("_rows").alias("count"), (F.col("_rows") - F.col(f"n{i}")).alias("nulls"),
                              *[v.alias(n) for v, n in zip(values, names, strict=True)]))
    per_day = df.groupBy(day.cast("date").alias("day")).agg(*aggs)
    out = per_day.select("day", F.explode(F.array(*parts)).alias("_m")).select("day", "_m.*")
    return out.select(*[F.col(f.name).cast(f.dataType) for f in schemas.DAY_MOMENTS_SCHEMA.fields])


def merge_moments(days: DataFrame) -> DataFrame:
    """Merge per-day moments (``schemas.DAY_MOMENTS_SCHEMA``) into one row per column.

    Counts, nulls, min and max are exact; mean and the sample standard
    deviation combine the days' sums and m2 with Chan et al.'s pairwise
    formula (equal to a whole-table pass up to floating-point rounding).

    Returns:
        column, plus the fields :data:`MERGED` (std null below two values, as Spark's ``stddev``).
    """
    n = F.col("count") - F.col("nulls")
    by_column = Window.partitionBy("column")
    per = days.select("*", n.alias("_n"), (F.sum("sum").over(by_column) / F.sum(n).over(by_column)).alias("_mean"))
    spread = F.when(F.col("_n") > 0, F.col("m2") + F.col("_n") * F.pow(F.col("sum") / F.col("_n") - F.col("_mean"), 2))
    merged = per.groupBy("column").agg(
        F.sum("count").alias("count"), F.sum("nulls").alias("nulls"), F.sum("_n").alias("_n"),
        F.min("min").alias("min"), F.max("max").alias("max"), F.first("_mean").alias("_mean"),
        F.sum(spread).alias("_m2"), F.min("min_text").alias("min_text"), F.max("max_text").alias("max_text"),
    )
    return merged.select(
        "column", F.col("count").cast("long").alias("count"), F.col("nulls").cast("long").alias("nulls"),
        "min", "max",
        F.when(F.col("_n") > 0, F.col("_mean")).alias("mean"),
        F.when(F.col("_n") > 1, F.sqrt(F.col("_m2") / (F.col("_n") - 1))).alias("std"),
        "min_text", "max_text",
    )


def with_moments(stats: DataFrame, merged: DataFrame) -> DataFrame:
    """A table's statistics (``STATS_SCHEMA``) with the fields :data:`MERGED` taken from ``merged``.

    Columns absent from ``merged`` keep their own values; the rows keep their order.
    """
    theirs = merged.select(F.col("column").alias("_c"), *[F.col(c).alias(f"_m_{c}") for c in MERGED])
    ordered = stats.select("*", F.monotonically_increasing_id().alias("_pos"))
    joined = ordered.join(theirs, ordered["column"] == theirs["_c"], "left").orderBy("_pos")
    has = F.col("_c").isNotNull()
    return joined.select(*[(F.when(has, F.col(f"_m_{f.name}")).otherwise(F.col(f.name)) if f.name in MERGED
                            else F.col(f.name)).cast(f.dataType).alias(f.name) for f in STATS_SCHEMA.fields])


def with_keys(stats: DataFrame, run_id: str, table: str, delta_version: int | None, at: dt.datetime) -> DataFrame:
    """Prefix a table's statistics with the columns that key them in ``data_stats``."""
    return stats.select(
        F.lit(run_id).alias("run_id"), F.lit(table).alias("table"),
        F.lit(delta_version).cast("long").alias("delta_version"), F.lit(at).cast("timestamp").alias("computed_at"),
        *stats.columns,
    )


def append(stats: DataFrame, path: str) -> int:
    """Append keyed statistics (``DATA_STATS_SCHEMA``) to the ``data_stats`` Delta table; return the version."""
    return lakehouse.write(stats, path, "data_stats", mode="append", partition_by=("table",),
                           schema=DATA_STATS_SCHEMA)


def previous_run(spark: SparkSession, path: str, run_id: str) -> str | None:
    """The run before ``run_id`` in the ``data_stats`` table (None when there is none)."""
    pinned = lakehouse.read_optional(spark, path)
    if pinned is None:
        return None
    row = (
        pinned.df.where(F.col("run_id") != run_id)
        .groupBy("run_id").agg(F.max("computed_at").alias("at")).orderBy(F.col("at").desc()).first()
    )
    return row["run_id"] if row else None


def compare(stats: DataFrame, run_a: str, run_b: str) -> DataFrame:
    """Statistics of two runs side by side, per table and column, with their changes.

    Args:
        stats: the ``data_stats`` table.
        run_a: the earlier run.
        run_b: the later run.

    Returns:
        table, column, version_a/_b, count_a/_b, null_share_a/_b, mean_a/_b,
        std_a/_b, distinct_a/_b, and count_change and mean_change (relative to a).
    """
    def side(run: str, suffix: str) -> DataFrame:
        return stats.where(F.col("run_id") == run).select(
            "table", "column",
            F.col("delta_version").alias(f"version_{suffix}"),
            *[F.col(c).alias(f"{c}_{suffix}") for c in ("count", "mean", "std", "distinct")],
            (F.col("nulls") / F.greatest(F.col("count"), F.lit(1))).alias(f"null_share_{suffix}"),
        )

    joined = side(run_a, "a").join(side(run_b, "b"), ["table", "column"], "full")
    return joined.select(
        "*",
        ((F.col("count_b") - F.col("count_a")) / F.greatest(F.col("count_a"), F.lit(1))).alias("count_change"),
        ((F.col("mean_b") - F.col("mean_a")) / F.greatest(F.abs(F.col("mean_a")), F.lit(1e-9))).alias("mean_change"),
    ).orderBy("table", "column")
