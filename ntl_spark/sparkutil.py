"""Small helpers around Spark actions that return at most one row."""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame, Row


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
