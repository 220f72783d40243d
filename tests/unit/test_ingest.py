from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql.types import StringType, StructField, StructType

from ntl_spark import ingest, schemas
from ntl_spark.errors import DataError

D = dt.date


def bills(spark, rows, schema=schemas.BILLS_SCHEMA):
    return spark.createDataFrame(rows, schema)


def reasons(df):
    return {r["customer_id"]: r["_reason"] for r in df.collect()}


def test_missing_column_stops_with_its_name(spark):
    df = bills(spark, [("A", D(2026, 1, 1), 1.0, 30, "actual")]).drop("kwh")
    with pytest.raises(DataError, match="kwh"):
        ingest.conform(df, schemas.BILLS, text_source=False)


def test_retyped_column_stops_with_its_name(spark):
    df = bills(spark, [("A", D(2026, 1, 1), 1.0, 30, "actual")])
    df = df.withColumn("kwh", df["kwh"].cast("string"))
    with pytest.raises(DataError, match=r"'kwh' has type string, expected double"):
        ingest.conform(df, schemas.BILLS, text_source=False)


def test_unexpected_column_stops_with_its_name(spark):
    df = bills(spark, [("A", D(2026, 1, 1), 1.0, 30, "actual")]).withColumn("tariff_code", ingest.F.lit(1))
    with pytest.raises(DataError, match="tariff_code"):
        ingest.conform(df, schemas.BILLS, text_source=False)


def test_negative_kwh_and_bad_values_are_quarantined_with_reason(spark):
    df = bills(spark, [
        ("A", D(2026, 1, 1), 10.0, 30, "actual"),
        ("B", D(2026, 1, 1), -5.0, 30, "actual"),
        ("C", D(2026, 1, 15), 5.0, 30, "guessed"),
    ])
    got = reasons(ingest.conform(df, schemas.BILLS, text_source=False))
    assert got["A"] is None
    assert got["B"] == "kwh negative"
    assert "read_type not in actual/estimated" in got["C"]
    assert "period not the first day of a month" in got["C"]


def test_duplicate_bills(spark):
    df = bills(spark, [
        ("A", D(2026, 1, 1), 10.0, 30, "actual"),
        ("A", D(2026, 1, 1), 10.0, 30, "actual"),   # exact copy: one kept
        ("B", D(2026, 1, 1), 10.0, 30, "actual"),
        ("B", D(2026, 1, 1), 12.0, 30, "actual"),   # conflicting: both out
    ])
    out = ingest.conform(df, schemas.BILLS, text_source=False).collect()
    a = sorted((r["_reason"] or "") for r in out if r["customer_id"] == "A")
    b = [r["_reason"] for r in out if r["customer_id"] == "B"]
    assert a == ["", "duplicate row"]
    assert b == ["conflicting duplicate key (customer_id, period)"] * 2


def test_csv_text_that_does_not_parse_is_quarantined(spark):
    text = StructType([StructField(f.name, StringType()) for f in schemas.BILLS_SCHEMA.fields])
    df = spark.createDataFrame(
        [("A", "2026-01-01", "12.5", "30", "actual"), ("B", "2026-01-01", "lots", "30", "actual")], text
    )
    out = ingest.conform(df, schemas.BILLS, text_source=True)
    got = reasons(out)
    assert got["A"] is None
    assert got["B"] == "kwh: cannot parse 'lots' as double"
    types = [(f.name, f.dataType) for f in out.schema.fields]
    assert types == [(f.name, f.dataType) for f in schemas.BILLS_SCHEMA.fields] + [("_reason", StringType())]


def test_rename_maps_source_names(spark):
    df = bills(spark, [("A", D(2026, 1, 1), 1.0, 30, "actual")]).withColumnRenamed("kwh", "KWH_FACT")
    out = ingest.rename_columns(df, {"KWH_FACT": "kwh"})
    assert "kwh" in out.columns
