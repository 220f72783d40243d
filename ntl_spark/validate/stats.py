"""Column statistics of a table, computed in Spark, kept per run in the ``data_stats`` Delta table.

In: any DataFrame (a bronze or feature table at a known Delta version).
Out: one row per column (``STATS_SCHEMA``): row count, nulls, approximate
distinct count, min/max/mean/std, approximate quantiles and a histogram for
numeric columns, the most frequent values for low-cardinality text columns.
Rows are appended to ``data_stats`` keyed by (table, delta_version, run_id),
so the statistics of any two runs can be compared (:func:`compare`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import lakehouse

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
