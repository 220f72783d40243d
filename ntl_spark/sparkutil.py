"""Small Spark helpers: actions that return at most one row, a scoped Arrow batch size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyspark.sql import DataFrame, Row, SparkSession


def first_row(df: DataFrame, what: str) -> Row:
    """The first row of ``df``.

    Raises:
        ValueError: ``df`` is empty (the message names ``what``).
    """
    row = df.first()
    if row is None:
        raise ValueError(f"{what}: no rows")
    return row


def scalar(df: DataFrame, what: str) -> Any:
    """The first column of the first row of ``df`` (e.g. an aggregate)."""
    return first_row(df, what)[0]


@contextmanager
def arrow_batch_rows(spark: SparkSession, rows: int) -> Iterator[None]:
    """Run the block with ``rows`` rows per Arrow batch handed to Python (Spark's default
    is 10,000), then restore the previous setting."""
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key, None)
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)
