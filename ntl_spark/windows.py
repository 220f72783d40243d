"""Windows: readings + events (Delta) -> DeepDAICE input windows (Delta).

In: the bronze ``readings`` (meter_id, ts, kwh), ``events`` (meter_id, ts,
code), ``inspections`` and ``customers`` Delta tables.
Out:

* ``readings_daily`` (silver): readings in the meter-day layout, a meter's
  ``intervals_per_day`` values of a day in order (null = missing); a
  meter-day may be split over several rows (see :func:`daily_readings`).
  Partitioned by ``day``. Refreshed when the readings table has a newer
  Delta version than the one it was built from (recorded in the commit's
  ``userMetadata``): only the days the newer readings commits replaced
  (``ingest_log.replaced_start/end``) are pivoted again and replaced
  (:func:`ntl_spark.lakehouse.changed_days`); it is rebuilt whole when a commit is not explained
  by the log (a table rewritten by hand, history cleaned, another layout).
* ``windows``: one row per meter and window end date (partitioned by
  ``purpose``: ``train`` or ``score``), see ``schemas.WINDOWS_SCHEMA``:

  - ``kwh``: ``days * intervals`` floats, row-major (day, interval), day 0 the
    oldest; imputed and normalised (below). ``missing``: the sparse
    missing-value mask, the flat positions in ``kwh`` whose reading was
    missing and whose value is imputed (:func:`dense_mask` expands it).
  - ``alarms``: ``days * len(alarm_codes)`` alarm counts per day and code
    (row-major (day, code)); codes in ``alarm_codes`` (comma separated).
    ``channels`` = 1 (kWh) + number of codes.
  - ``scale``: the divisor used for normalisation; ``coverage``: share of
    observed values.

Imputation of a missing interval (in order): the same interval 7 days before,
else 7 days after (observed values only, never imputed ones), else the meter's
median of that interval over the observed days of the window, else 0.

Normalisation: every value is divided by ``scale`` = the mean of the observed
values in the window (1 when the window has none or the mean is 0), so the
model sees the shape of the curve and its changes, not the size of the
customer; ``scale`` is kept to undo it.

Point-in-time rule: a training window for an inspection on day d ends on
d - 1 - offset for each offset in ``windows.train_end_offsets`` (0 = the day
before), so no reading from the inspection day or later enters it (see
:func:`training_keys` for what the label of an earlier window rests on).
Scoring windows end on ``windows.scoring_end``.

Windows are assembled with Spark SQL (broadcast join of the window keys, one
shuffle on meter_id, a sort within partitions) and ``mapInArrow`` with numpy
over whole Arrow batches of flat day rows (see ``benchmarks/RESULTS.md`` for
the layout measurements).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from py4j.protocol import Py4JJavaError
from pyspark.errors import PythonException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import lakehouse, models, schemas
from ntl_spark.config import Config
from ntl_spark.errors import DataError
from ntl_spark.sparkutil import arrow_batch_rows, first_row, scalar

log = logging.getLogger(__name__)

PURPOSE_TRAIN, PURPOSE_SCORE = schemas.WINDOW_PURPOSES
WEEK = 7

# ----------------------------------------------------------------- helpers
def _require(df: DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{what} lacks column(s) {missing} (has {df.columns})")


def interval_of_day(ts: str, intervals_per_day: int) -> F.Column:
    """Index of the interval of the day that ``ts`` starts in (0 .. intervals_per_day-1)."""
    minutes = 1440 // intervals_per_day
    return F.floor((F.hour(ts) * 60 + F.minute(ts)) / F.lit(minutes)).cast("int")


def _list_parts(arr: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Length of each list (0 for a null one) and the flattened values of a (possibly sliced) ListArray."""
    return pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False), arr.flatten()


def _float_list(values: np.ndarray, rows: int, width: int, mask: np.ndarray | None = None) -> pa.ListArray:
    """``rows`` rows of ``width`` values each (``values`` flat) as an Arrow list<float> column."""
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * np.int32(width))
    flat = pa.array(values.ravel(), type=pa.float32(), mask=None if mask is None else mask.ravel())
    return pa.ListArray.from_arrays(offsets, flat)


def dense_mask(missing: Sequence[int] | np.ndarray, size: int) -> np.ndarray:
    """The boolean missing-value mask of a window (``size`` = days * intervals) from its ``missing`` positions."""
    mask = np.zeros(size, dtype=bool)
    mask[np.asarray(missing, dtype=np.int64)] = True
    return mask


def _scatter_sum(row: np.ndarray, slot: np.ndarray, value: np.ndarray, n: int, width: int) -> np.ndarray:
    """(n, width) sums of ``value`` per (row, slot); NaN where no observed value fell in the slot."""
    ok = ~np.isnan(value)
    flat = row[ok] * width + slot[ok]
    sums = np.bincount(flat, weights=value[ok], minlength=n * width)
    hits = np.bincount(flat, minlength=n * width)
    return np.where(hits > 0, sums, np.nan).reshape(n, width)


# -------------------------------------------------------------- transforms
def _pivot_batch(meter_id: pa.Array, day: np.ndarray, slot: np.ndarray, value: np.ndarray,
                 width: int) -> pa.RecordBatch:
    """Readings (meter, day number since 1970-01-01, interval, kWh with NaN = missing) -> meter-day rows."""
    meter = pc.dictionary_encode(meter_id).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    key = (meter << 32) | (day.astype(np.int64) & 0xFFFFFFFF)
    if key.size < 2 or bool((key[1:] >= key[:-1]).all()):  # grouped by meter and time: no sort needed
        start = np.ones(key.size, dtype=bool)
        start[1:] = key[1:] != key[:-1]
        first = np.flatnonzero(start)
        row = np.cumsum(start) - 1
    else:
        _, first, row = np.unique(key, return_index=True, return_inverse=True)
    n = first.size
    sums = _scatter_sum(row, slot.astype(np.int64), value.astype(np.float64), n, width)
    return pa.RecordBatch.from_arrays(
        [meter_id.take(pa.array(first)), pa.array(day[first].astype(np.int32), pa.int32()).cast(pa.date32()),
         _float_list(sums, n, width, np.isnan(sums))],
        names=["meter_id", "day", "kwh"],
    )


def _pivot(width: int):
    """mapInArrow function: batches of (meter_id, day, i, v) readings -> one row per meter-day in the batch."""

    def pivot(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows:
                day = batch.column(1).cast(pa.int32()).to_numpy(zero_copy_only=False)
                yield _pivot_batch(batch.column(0), day, batch.column(2).to_numpy(zero_copy_only=False),
                                   batch.column(3).to_numpy(zero_copy_only=False), width)

    return pivot


def local_day_slot(ts: pa.Array, time_zone: str, intervals_per_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Local day (days since 1970-01-01) and interval of the day of instants ``ts``, as Spark's
    ``to_date`` / :func:`interval_of_day` give them in session time zone ``time_zone``.

    ``ts``: an Arrow timestamp array of instants (tz-aware, or naive = UTC as
    Parquet INT96 / UTC-adjusted timestamps read back).
    """
    utc = ts.cast(pa.timestamp("us", tz=ts.type.tz or "UTC"))
    local = pc.local_timestamp(utc.cast(pa.timestamp("us", tz=time_zone))).cast(pa.int64())
    us = local.to_numpy(zero_copy_only=False)
    day_us = 86_400_000_000
    day = np.floor_divide(us, day_us)
    return day, (us - day * day_us) // (day_us // intervals_per_day)


UNREADABLE = "unreadable readings file"


def _pivot_files(width: int, time_zone: str, batch_rows: int):
    """mapInArrow function: rows of Parquet file URIs -> their readings pivoted to meter-day rows.

    Reads each file with pyarrow (columns meter_id, ts, kwh), a batch of
    ``batch_rows`` readings at a time; rows without meter or time are skipped.
    """

    def pivot(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq
        from pyarrow import fs

        for batch in batches:
            for uri in batch.column(0).to_pylist():
                filesystem, path = fs.FileSystem.from_uri(uri)
                with filesystem.open_input_file(path) as fh:
                    try:
                        pf = pq.ParquetFile(fh, coerce_int96_timestamp_unit="us")
                    except (pa.ArrowInvalid, OSError) as exc:
                        raise DataError(f"{UNREADABLE} {uri}: {exc}") from exc
                    for rb in pf.iter_batches(batch_size=batch_rows, columns=["meter_id", "ts", "kwh"]):
                        ok = pc.and_(rb.column(0).is_valid(), rb.column(1).is_valid())
                        if not pc.all(ok).as_py():
                            rb = rb.filter(ok)
                        if rb.num_rows == 0:
                            continue
                        day, slot = local_day_slot(rb.column(1), time_zone, width)
                        kwh = rb.column(2).cast(pa.float64()).to_numpy(zero_copy_only=False)
                        yield _pivot_batch(rb.column(0), day, slot, kwh, width)

    return pivot


def direct_files(spark: SparkSession, path: str, version: int) -> list[str] | None:
    """The Parquet files of a Delta table version when pyarrow may read them as they are, else None.

    Not when the table has partition columns, deletion vectors or column
    mapping (the files alone would not give the table's rows), or when pyarrow
    cannot open the files' file system (e.g. HDFS without libhdfs).
    """
    from delta.tables import DeltaTable
    from pyarrow import fs

    detail = first_row(DeltaTable.forPath(spark, path).detail(), f"detail of {path}").asDict()
    features = set(detail.get("tableFeatures") or [])
    mapping = (detail.get("properties") or {}).get("delta.columnMapping.mode", "none")
    if detail.get("partitionColumns") or features & {"deletionVectors", "columnMapping"} or mapping != "none":
        return None
    files = spark.read.format("delta").option("versionAsOf", version).load(path).inputFiles()
    if not files:
        return None
    try:
        fs.FileSystem.from_uri(files[0])
    except Exception as exc:  # noqa: BLE001 - any failure means: read through Spark instead
        log.info("readings files not readable by pyarrow (%s): pivot through Spark rows", exc)
        return None
    return sorted(files)


def daily_readings_from_files(spark: SparkSession, files: Sequence[str], intervals_per_day: int,
                              batch_rows: int, tasks_per_core: int = 1) -> DataFrame:
    """:func:`daily_readings` over the Parquet files of a readings table, read by pyarrow in the tasks.

    Same output; faster, as the readings never become Spark rows (see
    ``benchmarks/RESULTS.md``). Use :func:`direct_files` to get ``files``.
    ``tasks_per_core`` x the session's cores tasks share the files (at most one
    file a task): a task written into a day-partitioned table writes one file
    per day it holds, so fewer tasks mean fewer files.
    """
    tz = spark.conf.get("spark.sql.session.timeZone") or "UTC"
    paths = spark.createDataFrame([(f,) for f in files], "uri string")
    paths = paths.repartition(min(len(files), max(1, spark.sparkContext.defaultParallelism * tasks_per_core)))
    return paths.mapInArrow(_pivot_files(intervals_per_day, tz, batch_rows), schemas.READINGS_DAILY_SCHEMA)


def daily_readings(readings: DataFrame, intervals_per_day: int) -> DataFrame:
    """Readings in the meter-day layout: the day's intervals of a meter as one array.

    Map-only (no shuffle): each Arrow batch of readings is scattered with
    numpy into one row per meter and day present in the batch. Readings
    finer than the interval (e.g. 15-minute readings into 48 half-hours) are
    summed; a slot without any observed reading is null. A meter-day whose
    readings sit in several batches (a batch boundary, or input not grouped
    by meter) comes out as several rows, each with part of the day; readers
    add them up (:func:`assemble_windows` does). Readings written by the
    ingest job are clustered by meter and time, so such splits are rare; use
    large Arrow batches (:func:`ntl_spark.sparkutil.arrow_batch_rows`).

    Args:
        readings: meter_id, ts, kwh.
        intervals_per_day: slots per day (96 = 15 minutes).

    Returns:
        ``schemas.READINGS_DAILY_SCHEMA`` rows.

    Raises:
        ValueError: a column is missing.
    """
    _require(readings, ["meter_id", "ts", "kwh"], "readings")
    width = intervals_per_day
    flat = readings.where(F.col("meter_id").isNotNull() & F.col("ts").isNotNull()).select(
        "meter_id",
        F.to_date("ts").alias("day"),
        interval_of_day("ts", width).alias("i"),
        F.col("kwh").cast("double").alias("v"),
    )
    return flat.mapInArrow(_pivot(width), schemas.READINGS_DAILY_SCHEMA)


def daily_alarms(events: DataFrame, codes: Sequence[str]) -> DataFrame:
    """Alarm counts per meter and day, one array element per code in ``codes``.

    Returns:
        meter_id, day, ``alarms`` array<float> (len(codes)).
    """
    _require(events, ["meter_id", "ts", "code"], "events")
    per_day = events.groupBy("meter_id", F.to_date("ts").alias("day")).agg(F.collect_list("code").alias("c"))
    def equals(code: str) -> Any:
        return lambda x: x == F.lit(code)

    counts = [F.size(F.filter("c", equals(code))).cast("float") for code in codes]
    return per_day.select("meter_id", "day", F.array(*counts).alias("alarms"))


def training_keys(inspections: DataFrame, customers: DataFrame, end_offsets: Sequence[int] = (0,)) -> DataFrame:
    """Training window keys of the labelled inspections of smart-meter customers.

    Point-in-time rule: a window ends ``offset`` days before the day before
    the inspection (``inspected_on - 1 - offset``), one window per offset in
    ``end_offsets``, so no reading from the inspection day or later enters it.
    ``no_access`` outcomes carry no label and are left out.

    Every window of an inspection carries its label. What the history
    supports: a ``regular`` outcome on day d says no theft ran on d, and
    theft only stops when an inspection finds it, so earlier windows are
    honest too (unless an earlier inspection ended an episode). An
    ``irregular`` outcome says theft ran on d, not since when: an earlier
    window is positive only if the theft had started by its end, so offsets
    are kept short (weeks, against thefts that run for months before an
    inspection finds them), and a window of an irregular inspection that ends
    on or before an earlier ``regular`` inspection of the same customer (which
    saw no theft then) is dropped.

    Args:
        inspections: inspection_id, customer_id, inspected_on, outcome.
        customers: customer_id, meter_id, meter_type, region.
        end_offsets: days between the day before the inspection and each window's end (>= 0).

    Returns:
        purpose, end_date, meter_id, customer_id, region, inspection_id, label.

    Raises:
        ValueError: a column is missing or an offset is negative.
    """
    _require(inspections, ["inspection_id", "customer_id", "inspected_on", "outcome"], "inspections")
    _require(customers, ["customer_id", "meter_id", "meter_type", "region"], "customers")
    offsets = sorted({int(o) for o in end_offsets})
    if not offsets or offsets[0] < 0:
        raise DataError(f"training window end offsets must be >= 0 and not empty (got {list(end_offsets)})")
    smart = customers.where((F.col("meter_type") == "smart") & F.col("meter_id").isNotNull())
    labelled = inspections.where(F.col("outcome").isin("irregular", "regular"))
    keys = labelled.join(smart.select("customer_id", "meter_id", "region"), "customer_id").select(
        "customer_id", "meter_id", "region", "inspection_id", "inspected_on",
        (F.col("outcome") == "irregular").cast("int").alias("label"),
        F.explode(F.array(*[F.lit(o) for o in offsets])).alias("_offset"),
    ).withColumn("end_date", F.date_sub("inspected_on", 1) - F.col("_offset"))
    if offsets != [0]:
        # the latest regular inspection of the customer before each inspection: no theft on that day
        regular = labelled.where(F.col("outcome") == "regular").select(
            "customer_id", F.col("inspected_on").alias("_regular_on"))
        seen = (keys.where(F.col("label") == 1).select("inspection_id", "customer_id", "inspected_on").distinct()
                .join(regular, "customer_id")
                .where(F.col("_regular_on") < F.col("inspected_on"))
                .groupBy("inspection_id").agg(F.max("_regular_on").alias("_regular_on")))
        keys = keys.join(seen, "inspection_id", "left").where(
            F.col("_regular_on").isNull() | (F.col("end_date") > F.col("_regular_on")))
    return keys.select(
        F.lit(PURPOSE_TRAIN).alias("purpose"),
        "end_date",
        "meter_id",
        "customer_id",
        "region",
        "inspection_id",
        "label",
    )


def unlabelled_keys(inspections: DataFrame, customers: DataFrame, ends: Sequence[dt.date], share: float,
                    salt: str = "unlabelled-windows") -> DataFrame:
    """Training window keys of never-inspected smart-meter customers: negatives of positive-unlabelled training.

    The labels come from campaigns that chose suspicious customers, so a
    network trained on them alone never sees the ordinary smart-meter curves it
    will rank (as ``fitting.unlabelled_negatives`` for DAICE). About ``share``
    of the active smart-meter customers without any inspection are drawn (a
    salted hash of the customer id: the same customers whatever the
    partitioning), one window ending on each of ``ends``, with label 0 and no
    inspection (``inspection_id`` null marks them; train_deep weighs them
    ``deep.unlabelled_weight``, since some of them steal unseen).

    Returns:
        purpose, end_date, meter_id, customer_id, region, inspection_id (null), label (0).
    """
    _require(inspections, ["customer_id"], "inspections")
    _require(customers, ["customer_id", "meter_id", "meter_type", "region", "status"], "customers")
    drawn = (customers.where((F.col("meter_type") == "smart") & F.col("meter_id").isNotNull()
                             & (F.col("status") == "active") & models.drawn(salt, share))
             .join(inspections.select("customer_id").distinct(), "customer_id", "left_anti"))
    at = customers.sparkSession.createDataFrame([(e,) for e in sorted(set(ends))], "end_date date")
    return drawn.crossJoin(F.broadcast(at)).select(
        F.lit(PURPOSE_TRAIN).alias("purpose"), "end_date", "meter_id", "customer_id", "region",
        F.lit(None).cast("string").alias("inspection_id"), F.lit(0).alias("label"))


def scoring_keys(customers: DataFrame, end_date: dt.date) -> DataFrame:
    """One scoring window key per active smart-meter customer, ending on ``end_date``."""
    _require(customers, ["customer_id", "meter_id", "meter_type", "region", "status"], "customers")
    return customers.where(
        (F.col("meter_type") == "smart") & F.col("meter_id").isNotNull() & (F.col("status") == "active")
    ).select(
        F.lit(PURPOSE_SCORE).alias("purpose"),
        F.lit(end_date).cast("date").alias("end_date"),
        "meter_id",
        "customer_id",
        "region",
        F.lit(None).cast("string").alias("inspection_id"),
        F.lit(None).cast("int").alias("label"),
    )


def impute_normalise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fill and scale a batch of windows.

    Args:
        x: (n, days, intervals) with NaN for missing values.

    Returns:
        (values, mask, scale, coverage): the imputed values divided by
        ``scale`` as float32 (n, days, intervals); the missing mask; the
        per-window divisor (n,); the share of observed values (n,).
    """
    mask = np.isnan(x)
    out = x.copy()
    if mask.any():
        prev = np.full_like(x, np.nan)
        nxt = np.full_like(x, np.nan)
        prev[:, WEEK:] = x[:, :-WEEK]
        nxt[:, :-WEEK] = x[:, WEEK:]
        out = np.where(mask, prev, out)
        out = np.where(np.isnan(out), nxt, out)
        left = np.isnan(out)
        rows = np.flatnonzero(left.any(axis=(1, 2)))
        if rows.size:
            # median of each interval over the observed days; NaN (then 0) when never observed
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(x[rows], axis=1)
            part = out[rows]
            part = np.where(np.isnan(part), med[:, None, :], part)
            out[rows] = part
        out = np.nan_to_num(out, nan=0.0)
    n_obs = (~mask).sum(axis=(1, 2))
    total = np.where(mask, 0.0, x).sum(axis=(1, 2))
    mean = np.divide(total, n_obs, out=np.zeros_like(total, dtype=np.float64), where=n_obs > 0)
    scale = np.where(mean > 0, mean, 1.0)
    values = (out / scale[:, None, None]).astype(np.float32)
    coverage = n_obs / float(x.shape[1] * x.shape[2])
    return values, mask, scale.astype(np.float32), coverage.astype(np.float32)


def _group_ids(meter: pa.Array, end: pa.Array) -> np.ndarray:
    """Group number of each row of a batch sorted by (meter_id, end_date): 0, 0, 1, 1, 1, 2, ..."""
    n = len(meter)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(n, dtype=bool)
    if n > 1:
        change[1:] = (pc.not_equal(meter[1:], meter[:-1]).to_numpy(zero_copy_only=False)
                      | pc.not_equal(end[1:], end[:-1]).to_numpy(zero_copy_only=False))
    return np.cumsum(change)


def _window_arrays(part: pa.RecordBatch, days: int, width: int, n_codes: int,
                   passthrough: Sequence[str]) -> pa.RecordBatch:
    """Whole groups of sorted day / alarm / key rows -> one window row per key row."""
    gid = _group_ids(part.column("meter_id"), part.column("end_date"))
    groups = int(gid[-1]) + 1
    d = part.column("d").to_numpy(zero_copy_only=False)
    x = np.full((groups, days, width), np.nan)
    vlen, vflat = _list_parts(part.column("v"))
    has = vlen > 0
    if has.any():
        if (vlen[has] != width).any():
            raise DataError(f"readings_daily column 'kwh' must hold {width} values per day "
                             f"(found lengths {sorted(set(vlen[has].tolist()))[:5]})")
        cell = gid[has] * days + d[has].astype(np.int64)
        vals = vflat.to_numpy(zero_copy_only=False).reshape(-1, width)
        if np.unique(cell).size == cell.size:
            x.reshape(-1, width)[cell] = vals
        else:  # a meter-day split over several readings_daily rows: add up the observed values
            x = _scatter_sum(np.repeat(cell, width), np.tile(np.arange(width), cell.size), vals.ravel(),
                             groups * days, width).reshape(groups, days, width)
    alarms = np.zeros((groups, days, n_codes), dtype=np.float32)
    if n_codes:
        clen, cflat = _list_parts(part.column("c"))
        hit = clen > 0
        if hit.any():
            alarms[gid[hit], d[hit].astype(np.int64)] = cflat.to_numpy(zero_copy_only=False).reshape(-1, n_codes)
    values, mask, scale, coverage = impute_normalise(x)
    key_rows = np.flatnonzero(part.column("_key").to_numpy(zero_copy_only=False))
    g = gid[key_rows]
    if not np.array_equal(g, np.arange(groups)):  # several keys share a window (or, impossible, none)
        values, mask, alarms, scale, coverage = values[g], mask[g], alarms[g], scale[g], coverage[g]
    n = len(g)
    flat_mask = mask.reshape(n, -1)
    rows, pos = np.nonzero(flat_mask)
    miss_off = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=miss_off[1:])
    keys = part.take(pa.array(key_rows))
    return pa.RecordBatch.from_arrays(
        [
            *[keys.column(c) for c in ("meter_id", "end_date", *passthrough)],
            _float_list(values, n, days * width),
            pa.ListArray.from_arrays(pa.array(miss_off), pa.array(pos.astype(np.int32))),
            _float_list(alarms, n, days * n_codes),
            pa.array(scale, pa.float32()),
            pa.array(coverage, pa.float32()),
        ],
        names=["meter_id", "end_date", *passthrough, "kwh", "missing", "alarms", "scale", "coverage"],
    )


def _assembler(days: int, width: int, n_codes: int, passthrough: Sequence[str]):
    """mapInArrow function over rows sorted by (meter_id, end_date); a group may span batches."""

    def assemble(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        carry: pa.RecordBatch | None = None
        for batch in batches:
            if carry is not None and carry.num_rows:
                batch = pa.Table.from_batches([carry, batch]).combine_chunks().to_batches()[0]
            if batch.num_rows == 0:
                continue
            gid = _group_ids(batch.column("meter_id"), batch.column("end_date"))
            cut = int(np.searchsorted(gid, gid[-1]))  # first row of the last (maybe unfinished) group
            carry = batch.slice(cut)
            if cut:
                yield _window_arrays(batch.slice(0, cut), days, width, n_codes, passthrough)
        if carry is not None and carry.num_rows:
            yield _window_arrays(carry, days, width, n_codes, passthrough)

    return assemble


def assemble_windows(
    keys: DataFrame,
    daily: DataFrame,
    alarms: DataFrame | None,
    days: int,
    intervals_per_day: int,
    codes: Sequence[str],
    passthrough: Sequence[str] = (),
    partitions: int | None = None,
) -> DataFrame:
    """Cut, impute and normalise one window per key row.

    The day rows of each (meter_id, end_date) in the window, its alarm rows
    and its key rows are brought together by one shuffle on meter_id and a
    sort within partitions (no ``collect_list``: rows stay flat and reach
    Python as whole Arrow batches); numpy then fills a (windows, days,
    intervals) array per batch.

    Args:
        keys: meter_id, end_date and the ``passthrough`` columns. Several key
            rows may share a window (each gets its own output row).
        daily: ``readings_daily`` rows (meter_id, day, kwh array).
        alarms: :func:`daily_alarms` output, or None for no alarm channels.
        days: window length in days (the last day is ``end_date``).
        intervals_per_day: values per day.
        codes: alarm codes, in channel order.
        passthrough: key columns copied to the output.
        partitions: shuffle partitions (default: ``spark.sql.shuffle.partitions``).

    Returns:
        meter_id, end_date, passthrough..., kwh, missing, alarms, scale, coverage.

    Raises:
        ValueError: a column is missing.
    """
    _require(keys, ["meter_id", "end_date", *passthrough], "window keys")
    _require(daily, ["meter_id", "day", "kwh"], "readings_daily")
    n_codes = len(codes) if alarms is not None else 0
    geo = F.broadcast(keys.select("meter_id", "end_date").distinct())
    start = F.date_sub("end_date", days - 1)
    inside = (F.col("day") >= start) & (F.col("day") <= F.col("end_date"))
    none = {c: F.lit(None).cast(keys.schema[c].dataType) for c in passthrough}
    empty_v = F.lit(None).cast("array<float>")

    def rows(frame: DataFrame, v: F.Column, c: F.Column) -> DataFrame:
        return frame.join(geo, "meter_id").where(inside).select(
            "meter_id", "end_date", *[none[p].alias(p) for p in passthrough], F.lit(False).alias("_key"),
            F.datediff("day", start).alias("d"), v.alias("v"), c.alias("c"))

    parts = [
        keys.select("meter_id", "end_date", *passthrough, F.lit(True).alias("_key"),
                    F.lit(None).cast("int").alias("d"), empty_v.alias("v"), empty_v.alias("c")),
        rows(daily, F.col("kwh"), empty_v),
    ]
    if n_codes and alarms is not None:
        _require(alarms, ["meter_id", "day", "alarms"], "alarms")
        parts.append(rows(alarms, empty_v, F.col("alarms")))
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p)
    spread = union.repartition(partitions, "meter_id") if partitions else union.repartition("meter_id")
    ordered = spread.sortWithinPartitions("meter_id", "end_date")
    out = T.StructType([
        keys.schema["meter_id"], keys.schema["end_date"], *[keys.schema[p] for p in passthrough],
        *[schemas.WINDOWS_SCHEMA[c] for c in ("kwh", "missing", "alarms", "scale", "coverage")],
    ])
    return ordered.mapInArrow(_assembler(days, intervals_per_day, n_codes, list(passthrough)), out)


def windows_frame(
    assembled: DataFrame,
    days: int,
    intervals_per_day: int,
    codes: Sequence[str],
    lineage: Column,
) -> DataFrame:
    """Assembled windows (with the key columns passed through) as ``schemas.WINDOWS_SCHEMA`` rows."""
    out = assembled.select(
        "*",
        F.lit(days).alias("days"),
        F.lit(intervals_per_day).alias("intervals"),
        F.lit(1 + len(codes)).alias("channels"),
        F.lit(",".join(codes)).alias("alarm_codes"),
        lineage.alias(schemas.LINEAGE_COLUMN),
    )
    return out.select(*[F.col(f.name).cast(f.dataType) for f in schemas.WINDOWS_SCHEMA.fields])


# ------------------------------------------------------------ readings_daily
DAILY_PARTITION = "day"
_STAMP = re.compile(r"^readings=(\d+);intervals=(\d+)$")


def _daily_partitioned(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    detail = first_row(DeltaTable.forPath(spark, path).detail(), f"detail of {path}")
    return list(detail["partitionColumns"] or []) == [DAILY_PARTITION]


def refresh_readings_daily(spark: SparkSession, cfg: Config) -> tuple[DataFrame, int, int]:
    """The ``readings_daily`` table, brought up to the readings table's latest version first.

    Only the days replaced by the readings commits since the last refresh are
    pivoted again (:func:`ntl_spark.lakehouse.changed_days`); the first build, another
    ``intervals_per_day``, an older layout or an unexplained commit rebuild it whole.

    Returns:
        (the table read at its latest version, that version, the readings version it was built from).
    """
    width = cfg.windows.intervals_per_day
    rpath = cfg.paths.table(schemas.READINGS)
    readings = lakehouse.read_pinned(spark, rpath, schemas.READINGS, "ingest")
    rversion = readings.version
    stamp = f"readings={rversion};intervals={width}"
    dpath = cfg.paths.table(schemas.READINGS_DAILY)
    note = lakehouse.last_note(spark, dpath)
    if note != stamp:
        built = _STAMP.match(note or "")
        built_from = int(built.group(1)) if built and int(built.group(2)) == width else None
        plan: tuple[tuple[dt.date, dt.date], ...] | None = None
        wc = cfg.windows
        if built_from is not None and rversion > built_from and _daily_partitioned(spark, dpath):
            plan = lakehouse.changed_days(spark, rpath, cfg.paths.table(schemas.INGEST_LOG), schemas.READINGS,
                                          built_from, rversion, wc.refresh_max_days).windows
        files = None
        with arrow_batch_rows(spark, wc.pivot_batch_rows):
            if plan is not None:  # only the replaced days, read through Spark (Delta skips the other files)
                daily = daily_readings(readings.df.where(lakehouse.days_predicate("ts", plan, True)), width) if plan else None
            else:
                files = direct_files(spark, rpath, rversion) if wc.pivot_reader == "auto" else None
                if files:
                    daily = daily_readings_from_files(spark, files, width, wc.pivot_batch_rows,
                                                      wc.pivot_tasks_per_core)
                else:
                    daily = daily_readings(readings.df, width)
            try:
                if daily is None:  # no row changed (e.g. OPTIMIZE): only the stamp moves
                    daily = spark.createDataFrame([], schemas.READINGS_DAILY_SCHEMA)
                    lakehouse.write(daily, dpath, schemas.READINGS_DAILY, mode="append", note=stamp)
                elif plan is not None:
                    lakehouse.write(daily, dpath, schemas.READINGS_DAILY, where=lakehouse.days_predicate("day", plan, False),
                                    schema=schemas.READINGS_DAILY_SCHEMA, note=stamp)
                else:
                    lakehouse.write(daily, dpath, schemas.READINGS_DAILY, schema=schemas.READINGS_DAILY_SCHEMA,
                                    partition_by=(DAILY_PARTITION,), replace_layout=True, note=stamp)
            except (PythonException, Py4JJavaError) as exc:  # a broken file: name it; readings_daily stays as it was
                found = re.findall(f"{UNREADABLE} .*", str(exc))
                if not found:
                    raise
                raise DataError(f"readings_daily not rebuilt: {found[-1]}") from exc
        if plan is not None:
            log.info("readings_daily refreshed from readings v%s: %s", rversion,
                     ", ".join(f"{a}..{b}" for a, b in plan) or "no day changed")
        else:
            log.info("readings_daily rebuilt from readings v%s (%s)", rversion,
                     f"{len(files)} files read by pyarrow" if files else "through Spark rows")
    pinned = lakehouse.read_pinned(spark, dpath, schemas.READINGS_DAILY, "windows")
    return pinned.df, pinned.version, rversion


# --------------------------------------------------------------------- run
def window_statistics(windows_df: DataFrame, min_coverage: float) -> DataFrame:
    """Quality statistics of written windows, one row per purpose, in one Spark aggregation.

    windows, usable (coverage >= ``min_coverage``), coverage mean and 5th/50th
    percentiles, share of missing (imputed) intervals, the window scale (mean
    kWh of an observed interval) at its median and 99th percentile, windows
    with at least one alarm day. Reads the scalar columns, the sparse missing
    positions and the alarm channels, never the 8,640 kWh values.
    """
    _require(windows_df, ["purpose", "days", "intervals", "missing", "alarms", "scale", "coverage", "inspection_id"],
             "windows")
    alarm_days = F.size(F.filter("alarms", lambda v: v > 0))
    usable = F.col("coverage") >= min_coverage
    return windows_df.groupBy("purpose").agg(
        F.count(F.lit(1)).alias("windows"),
        F.count(F.when(usable, 1)).alias("usable"),
        # training: the never-inspected customers' windows (windows.unlabelled_keys); scoring: all of them
        F.count(F.when(usable & F.col("inspection_id").isNull(), 1)).alias("usable_without_inspection"),
        F.mean("coverage").alias("coverage_mean"),
        F.percentile_approx("coverage", 0.05, 1000).alias("coverage_p05"),
        F.percentile_approx("coverage", 0.5, 1000).alias("coverage_p50"),
        (F.sum(F.size("missing")) / F.sum(F.col("days") * F.col("intervals"))).alias("missing_share"),
        F.percentile_approx("scale", 0.5, 1000).alias("scale_p50"),
        F.percentile_approx("scale", 0.99, 1000).alias("scale_p99"),
        F.count(F.when(alarm_days > 0, 1)).alias("with_alarms"),
    )


def scoring_end(cfg: Config, daily: DataFrame) -> dt.date:
    """Last day of the scoring windows (see ``windows.scoring_end``)."""
    if cfg.windows.scoring_end:
        return dt.date.fromisoformat(cfg.windows.scoring_end)
    if cfg.score.scored_on:
        return dt.date.fromisoformat(cfg.score.scored_on) - dt.timedelta(days=1)
    last = scalar(daily.agg(F.max("day")), "readings_daily")
    if last is None:
        raise DataError("readings_daily is empty: no readings to build windows from")
    return last


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Build the training and scoring windows and write them to the ``windows`` table.

    Returns:
        Counts, the scoring end date and the Delta version written.
    """
    wc = cfg.windows
    paths = cfg.paths
    codes = list(schemas.EVENT_CODES)
    daily, daily_version, readings_version = refresh_readings_daily(spark, cfg)
    customers_in = lakehouse.read_pinned(spark, paths.table(schemas.CUSTOMERS), schemas.CUSTOMERS, "ingest")
    customers = customers_in.df
    inspections_in = lakehouse.read_optional(spark, paths.table(schemas.INSPECTIONS), schemas.INSPECTIONS)
    events_in = lakehouse.read_optional(spark, paths.table(schemas.EVENTS), schemas.EVENTS)
    versions = lakehouse.merge_lineage({
        schemas.READINGS_DAILY: daily_version,
        schemas.READINGS: readings_version,
        schemas.CUSTOMERS: customers_in.version,
        schemas.INSPECTIONS: inspections_in.version if inspections_in else None,
        schemas.EVENTS: events_in.version if events_in else None,
    })
    version_text = ", ".join(f"{t} v{v}" for t, v in versions.items())

    end = scoring_end(cfg, daily)
    keys = scoring_keys(customers, end)
    where = f"(purpose = '{PURPOSE_SCORE}' AND end_date = '{end.isoformat()}')"
    skipped = 0
    tkeys = None
    # the readings period only matters to training windows (a scoring-only run skips the scan)
    bounds = (first_row(daily.agg(F.min("day"), F.max("day")), "readings_daily")
              if wc.training and inspections_in is not None else (None, None))
    if inspections_in is not None and bounds[0] is not None:
        tkeys = training_keys(inspections_in.df, customers, wc.train_end_offsets)
        if wc.unlabelled_share > 0 and wc.unlabelled_offsets:
            ends = [end - dt.timedelta(days=o) for o in wc.unlabelled_offsets]
            tkeys = tkeys.unionByName(unlabelled_keys(inspections_in.df, customers, ends, wc.unlabelled_share))
        # only inspections whose window can reach min_coverage of the readings period
        need = max(1, math.ceil(wc.min_coverage * wc.days))
        overlap = F.datediff(F.least("end_date", F.lit(bounds[1])),
                             F.greatest(F.date_sub("end_date", wc.days - 1), F.lit(bounds[0]))) + 1
        tkeys = tkeys.withColumn("_overlap", overlap).cache()
        usable = tkeys.where(F.col("_overlap") >= need).drop("_overlap")
        skipped = tkeys.where(F.col("_overlap") < need).count()
        keys = keys.unionByName(usable)
        where = f"purpose = '{PURPOSE_TRAIN}' OR {where}"

    alarms = None
    if events_in is not None:
        alarms = daily_alarms(events_in.df, codes)
    keys = keys.cache()
    used = codes if alarms is not None else []
    passthrough = ["purpose", "customer_id", "region", "inspection_id", "label"]
    # an Arrow batch holds the day rows of ~batch_rows windows
    with arrow_batch_rows(spark, wc.batch_rows * (wc.days + 2)):
        assembled = assemble_windows(keys, daily, alarms, wc.days, wc.intervals_per_day, used, passthrough)
        out = windows_frame(assembled, wc.days, wc.intervals_per_day, used,
                            lakehouse.lineage_column(versions))
        wpath = paths.table(schemas.WINDOWS)
        old = spark.read.format("delta").load(wpath).columns if lakehouse.is_table(spark, wpath) else None
        if old is not None and old != schemas.WINDOWS_SCHEMA.names:
            # a table of an older layout is replaced whole; its rows stay readable in the Delta history
            log.warning("windows table at %s has columns %s, not %s: rewriting it whole "
                        "(the previous version stays readable with versionAsOf)",
                        wpath, old, schemas.WINDOWS_SCHEMA.names)
        version = lakehouse.write(out, wpath, schemas.WINDOWS, where=where, partition_by=("purpose",),
                                  schema=schemas.WINDOWS_SCHEMA,
                                  replace_layout=old is not None and old != schemas.WINDOWS_SCHEMA.names)
    keys.unpersist()
    if tkeys is not None:
        tkeys.unpersist()
    written = lakehouse.read_pinned(spark, wpath, schemas.WINDOWS, "windows", version).df.where(where)
    stats = {r["purpose"]: r.asDict() for r in window_statistics(written, wc.min_coverage).collect()}

    def count(purpose: str, key: str) -> int:
        return int(stats.get(purpose, {}).get(key) or 0)

    result = {
        "scoring_end": end,
        "train_windows": count(PURPOSE_TRAIN, "usable"),
        "train_unlabelled": count(PURPOSE_TRAIN, "usable_without_inspection"),
        "train_low_coverage": count(PURPOSE_TRAIN, "windows") - count(PURPOSE_TRAIN, "usable"),
        "train_outside_readings": skipped,
        "score_windows": count(PURPOSE_SCORE, "usable"),
        "score_low_coverage": count(PURPOSE_SCORE, "windows") - count(PURPOSE_SCORE, "usable"),
        "statistics": stats,
        "version": version,
        "path": wpath,
    }
    print(f"windows: {wc.days}x{wc.intervals_per_day} + {len(codes) if alarms else 0} alarm channels; "
          f"train {result['train_windows']:,} ({result['train_unlabelled']:,} of never-inspected customers; "
          f"+{result['train_low_coverage']:,} below coverage "
          f"{wc.min_coverage}, {skipped:,} inspections outside the readings period); "
          f"score {result['score_windows']:,} ending {end} (+{result['score_low_coverage']:,} below coverage); "
          f"windows Delta v{version} ({version_text})")
    for purpose, st in sorted(stats.items()):
        print(f"windows {purpose}: coverage mean {st['coverage_mean']:.3f} (p05 {st['coverage_p05']:.3f}), "
              f"missing intervals {st['missing_share']:.2%}, "
              f"scale p50 {st['scale_p50']:.3g} kWh per interval (p99 {st['scale_p99']:.3g}), "
              f"{st['with_alarms']:,} with alarm days")
    return result
