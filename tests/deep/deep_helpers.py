"""Helpers for the DeepDAICE tests: tiny hand-made bronze tables."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DoubleType, IntegerType, StringType, StructField, StructType, TimestampType

from ntl_spark import schemas
from ntl_spark.config import Config, load_config

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

LAST_DAY = dt.date(2026, 9, 30)


def deep_config(root: Path, *overrides: str) -> Config:
    """The test configuration rooted at ``root`` with extra overrides."""
    return load_config("test", [f"paths.root={root}", *overrides])


def local_frame(spark: SparkSession, rows: list[tuple], schema: StructType) -> DataFrame:
    """A DataFrame whose naive datetimes are read as the session's local time (like the bronze tables)."""
    text = StructType([StructField(f.name, StringType()) if isinstance(f.dataType, TimestampType) else f
                       for f in schema.fields])
    conv = [tuple(v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v for v in r) for r in rows]
    df = spark.createDataFrame(conv, text)
    return df.select(*[F.to_timestamp(f.name).alias(f.name) if isinstance(f.dataType, TimestampType) else f.name
                       for f in schema.fields])


def write_tiny_lake(spark: SparkSession, cfg: Config, meters: int, days: int, seed: int = 0) -> None:
    """Bronze customers, readings (15-minute, ending ``LAST_DAY``), events and inspections.

    Meter i belongs to customer Ci; inspections: C0 irregular on ``LAST_DAY``
    (the window ends the day before), C1 regular 5 days earlier, C2 no_access.
    """
    rng = np.random.default_rng(seed)
    first = LAST_DAY - dt.timedelta(days=days - 1)
    customers = [
        (f"C{i}", f"M{i}", "smart", ("NORTE", "SUR")[i % 2], "residential", 3.0, None, None, None, first, "active")
        for i in range(meters)
    ] + [("C99", None, "conventional", "SUR", "residential", 3.0, None, None, None, first, "active")]
    start = np.datetime64(first.isoformat(), "m")
    steps = np.arange(days * 96) * np.timedelta64(15, "m")
    rows = []
    for i in range(meters):
        kwh = rng.gamma(2.0, 0.1, size=days * 96)
        ts = (start + steps).astype("datetime64[us]").tolist()
        rows += [(f"M{i}", t, float(v)) for t, v in zip(ts, kwh, strict=True)]
    events = [(f"M{i}", dt.datetime.combine(LAST_DAY - dt.timedelta(days=3), dt.time(10)), "COVER_OPEN")
              for i in range(meters)]
    inspections = [
        ("I0", "C0", LAST_DAY, "irregular", "bypass", None, None),
        ("I1", "C1", LAST_DAY - dt.timedelta(days=5), "regular", None, None, None),
        ("I2", "C2", LAST_DAY - dt.timedelta(days=5), "no_access", None, None, None),
    ][: max(meters, 1)]
    tables = {
        schemas.CUSTOMERS: customers, schemas.READINGS: rows,
        schemas.EVENTS: events, schemas.INSPECTIONS: inspections,
    }
    for name, data in tables.items():
        df = local_frame(spark, data, schemas.SOURCE_SCHEMAS[name])
        df.write.format("delta").mode("overwrite").save(cfg.paths.table(name))


def write_monthly(spark: SparkSession, cfg: Config, labels: dict[str, int | None], unlabelled: list[str],
                  seed: int = 2, windowless: int = 12) -> None:
    """Hand-made ``training_set`` (per inspection I<i> of C<i>) and ``monthly_features`` (per customer) tables.

    ``labels``: customer -> label (None: a scoring customer). Every monthly input is noise except
    ``ratio_6_yoy``, lower for an irregular inspection; a third of the values are missing.
    ``windowless``: extra inspections (``IW<i>`` of conventional customers ``W<i>``) with no window.
    """
    from ntl_spark import deep

    rng = np.random.default_rng(seed)
    columns = deep.monthly_columns(cfg)
    month = dt.date(LAST_DAY.year, LAST_DAY.month, 1)

    def values(label: int | None) -> list[float | None]:
        out: list[float | None] = [float(v) if rng.random() > 0.33 else None for v in rng.normal(5, 3, len(columns))]
        out[columns.index("ratio_6_yoy")] = float(0.4 if label == 1 else 1.0) + float(rng.normal(0, 0.1))
        return out

    # the categorical customer attributes as the features job writes them (deep.monthly_categorical encodes them);
    # a conventional meter for the inspections without a window
    kinds = ("household", "household", "cold_storage")

    def attributes(customer: str) -> tuple[str, str, str, str]:
        n = int("".join(ch for ch in customer if ch.isdigit()) or 0)
        return (("NORTE", "SUR")[n % 2], "residential", "conventional" if customer.startswith("W") else "smart",
                kinds[n % 3])

    fields = [StructField(c, DoubleType()) for c in columns] + [
        StructField(c, StringType()) for c in ("region", "tariff", "meter_type", "activity")]
    train = [(f"I{c[1:]}", c, month, label, *values(label), *attributes(c))
             for c, label in labels.items() if label is not None]
    train += [(f"IW{i}", f"W{i}", month, i % 2, *values(i % 2), *attributes(f"W{i}")) for i in range(windowless)]
    ts_schema = StructType([StructField("inspection_id", StringType()), StructField("customer_id", StringType()),
                            StructField("reference_month", DateType()), StructField("label", IntegerType()), *fields])
    spark.createDataFrame(train, ts_schema).write.format("delta").mode("overwrite").save(
        cfg.paths.table(schemas.TRAINING_SET))
    scoring = [c for c, label in labels.items() if label is None] + list(unlabelled)
    mf = [(c, month, *values(None), *attributes(c)) for c in scoring]
    mf_schema = StructType([StructField("customer_id", StringType()), StructField("reference_month", DateType()), *fields])
    spark.createDataFrame(mf, mf_schema).write.format("delta").mode("overwrite").save(
        cfg.paths.table(schemas.MONTHLY_FEATURES))


def write_windows(spark: SparkSession, cfg: Config, n_train: int = 96, n_score: int = 6, days: int = 14,
                  intervals: int = 24, seed: int = 1, unlabelled: int = 0) -> None:
    """A hand-made ``windows`` table: irregular training windows drop to 30 % in their last 5 days.

    ``unlabelled``: extra training windows of never-inspected customers (``U<i>``: no inspection, label 0).
    ``training_set`` and ``monthly_features`` for the same customers come with it (:func:`write_monthly`).
    """
    rng = np.random.default_rng(seed)
    codes = schemas.EVENT_CODES
    rows = []
    for i in range(n_train + n_score):
        train = i < n_train
        label = i % 2 if train else None
        x = rng.gamma(4.0, 0.25, size=(days, intervals))
        if label == 1:
            x[-5:] *= 0.3
        x = x / x.mean()
        alarms = np.zeros((days, len(codes)))
        if label == 1:
            alarms[-5, 1] = 2
        rows.append((
            "train" if train else "score", LAST_DAY, f"M{i}", f"C{i}", ("NORTE", "SUR")[i % 2],
            f"I{i}" if train else None, label, days, intervals, 1 + len(codes),
            x.ravel().astype(float).tolist(), [], alarms.ravel().tolist(),
            ",".join(codes), 1.0, 1.0, {"readings": 0, "events": 0},
        ))
    for i in range(unlabelled):
        x = rng.gamma(4.0, 0.25, size=(days, intervals))
        rows.append(("train", LAST_DAY, f"MU{i}", f"U{i}", "SUR", None, 0, days, intervals, 1 + len(codes),
                     (x / x.mean()).ravel().astype(float).tolist(), [], [0.0] * (days * len(codes)),
                     ",".join(codes), 1.0, 1.0, {"readings": 0, "events": 0}))
    df = spark.createDataFrame(rows, schemas.WINDOWS_SCHEMA)
    df.write.format("delta").mode("overwrite").partitionBy("purpose").save(cfg.paths.table(schemas.WINDOWS))
    write_monthly(spark, cfg, {f"C{i}": (i % 2 if i < n_train else None) for i in range(n_train + n_score)},
                  [f"U{i}" for i in range(unlabelled)])
