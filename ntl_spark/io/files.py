"""Readers of the contract tables from files (CSV, Parquet, HDF5).

Layout under the raw folder: ``<raw>/<table>/part-*.parquet``,
``<raw>/<table>/part-*.csv`` (with a header row) or ``<raw>/<table>.h5``.
Parquet and HDF5 keep their own types (checked later by the schema gate);
CSV columns arrive as strings and are parsed by :func:`ntl_spark.ingest.conform`.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from ntl_spark.config import join_path
from ntl_spark.errors import ConfigError, MissingInputError


def source_path(raw_dir: str, table: str, fmt: str) -> str:
    """Where ``table`` lives under ``raw_dir`` for format ``fmt``."""
    if fmt == "hdf5":
        return join_path(raw_dir, f"{table}.h5")
    return join_path(raw_dir, table)


def _check_exists(path: str, table: str) -> None:
    if "://" not in path and not Path(path).exists():
        raise MissingInputError(f"source for table '{table}' not found at {path}")


def read_files(spark: SparkSession, raw_dir: str, table: str, fmt: str, schema: StructType) -> DataFrame:
    """Read one contract table from files, without casting.

    Args:
        spark: active session.
        raw_dir: folder holding the files.
        table: contract table name.
        fmt: ``csv``, ``parquet`` or ``hdf5``.
        schema: the contract schema (used for HDF5, and to name CSV columns).

    Returns:
        The raw DataFrame: source types for Parquet/HDF5, strings for CSV.

    Raises:
        FileNotFoundError: nothing at the expected location.
        ValueError: unknown format.
    """
    path = source_path(raw_dir, table, fmt)
    _check_exists(path, table)
    if fmt == "parquet":
        return spark.read.parquet(path)
    if fmt == "csv":
        # Every column as a string: parse failures become quarantine reasons
        # instead of silent nulls from schema inference.
        header = spark.read.option("header", "true").csv(path).columns
        as_text = StructType([StructField(c, StringType(), True) for c in header])
        return (
            spark.read.option("header", "true")
            .option("mode", "PERMISSIVE")
            .option("emptyValue", None)
            .schema(as_text)
            .csv(path)
        )
    if fmt == "hdf5":
        from ntl_spark.io.hdf5 import read_hdf5

        return read_hdf5(spark, path, schema)
    raise ConfigError(f"unknown file format {fmt!r} for table '{table}' (csv, parquet or hdf5)")
