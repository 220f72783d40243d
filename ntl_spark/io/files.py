"""Readers of the contract tables from files (CSV, Parquet, HDF5).

Layout under the raw folder: ``<raw>/<table>/part-*.parquet``,
``<raw>/<table>/part-*.csv`` (with a header row) or ``<raw>/<table>.h5``.
Parquet and HDF5 keep their own types (checked later by the schema gate);
CSV columns arrive as strings and are parsed by :func:`ntl_spark.ingest.conform`.

CSV files are decoded with ``ingest.encoding`` (UTF-8 by default). Spark
replaces bytes that do not decode with U+FFFD without a word, so local CSV
files are first stream-decoded here: a file in another encoding stops the job
naming the file and the offset of the first bad byte.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from ntl_spark.config import join_path
from ntl_spark.errors import ConfigError, DataError, MissingInputError

_CHUNK = 1 << 20


def source_path(raw_dir: str, table: str, fmt: str) -> str:
    """Where ``table`` lives under ``raw_dir`` for format ``fmt``."""
    if fmt == "hdf5":
        return join_path(raw_dir, f"{table}.h5")
    return join_path(raw_dir, table)


def _local(path: str) -> Path | None:
    """The local filesystem path of ``path``, or None for a URI of another filesystem."""
    if path.startswith("file://"):
        return Path(path[len("file://"):])
    if "://" in path:
        return None
    return Path(path)


def _check_exists(path: str, table: str) -> None:
    local = _local(path)
    if local is not None and not local.exists():
        raise MissingInputError(f"source for table '{table}' not found at {path}")


def data_files(path: str) -> list[Path]:
    """The files Spark reads at a local ``path`` (a file, or a folder without hidden ``.``/``_`` files).

    Returns:
        The files in name order; empty for a URI of another filesystem.
    """
    local = _local(path)
    if local is None:
        return []
    if local.is_file():
        return [local]
    return sorted(
        p for p in local.rglob("*")
        if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(local).parts)
    )


def java_charset(encoding: str) -> str:
    """The Java charset name (what Spark's ``encoding`` option takes) of a Python codec name.

    The two spell some encodings differently (``latin-1`` is ``ISO-8859-1`` in Java).
    """
    name = codecs.lookup(encoding).name
    if m := re.fullmatch(r"iso8859-(\d+)", name):
        return f"ISO-8859-{m.group(1)}"
    if m := re.fullmatch(r"cp(125\d)", name):
        return f"windows-{m.group(1)}"
    return {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE"}.get(
        name, name.upper()
    )


def check_encoding(path: Path, encoding: str) -> None:
    """Stream-decode one file; raise at the first byte that is not valid in ``encoding``.

    Reads the file in 1 MiB chunks through an incremental decoder, so memory
    stays flat and a character split across two chunks is decoded correctly.

    Raises:
        DataError: naming the file, the byte offset and line of the first bad
            byte, and the config key ``ingest.encoding``.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    lines = 1
    with path.open("rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                # e.start counts from the bytes the decoder still held from the previous chunk
                at = offset - pending + e.start
                lines += chunk[: max(e.start - pending, 0)].count(b"\n")
                bad = (e.object[e.start:e.end] if isinstance(e.object, bytes) else b"").hex()
                raise DataError(
                    f"{path}: not valid {encoding} at byte offset {at} (line {lines}, byte 0x{bad}); "
                    f"set ingest.encoding to the file's encoding (e.g. latin-1, cp1252) or convert it to {encoding}"
                ) from e
            if not chunk:
                return
            offset += len(chunk)
            lines += chunk.count(b"\n")


def read_files(
    spark: SparkSession, raw_dir: str, table: str, fmt: str, schema: StructType, encoding: str = "utf-8"
) -> DataFrame:
    """Read one contract table from files, without casting.

    Args:
        spark: active session.
        raw_dir: folder holding the files.
        table: contract table name.
        fmt: ``csv``, ``parquet`` or ``hdf5``.
        schema: the contract schema (used for HDF5, and to name CSV columns).
        encoding: character encoding of CSV files; local files are checked
            against it before Spark reads them (files on HDFS are not).

    Returns:
        The raw DataFrame: source types for Parquet/HDF5, strings for CSV.

    Raises:
        MissingInputError: nothing at the expected location.
        ConfigError: unknown format.
        DataError: a CSV file is not valid in ``encoding``.
    """
    path = source_path(raw_dir, table, fmt)
    _check_exists(path, table)
    if fmt == "parquet":
        return spark.read.parquet(path)
    if fmt == "csv":
        for file in data_files(path):
            check_encoding(file, encoding)
        reader = spark.read.option("header", "true").option("encoding", java_charset(encoding))
        # Every column as a string: parse failures become quarantine reasons
        # instead of silent nulls from schema inference.
        header = reader.csv(path).columns
        as_text = StructType([StructField(c, StringType(), True) for c in header])
        return reader.option("mode", "PERMISSIVE").option("emptyValue", None).schema(as_text).csv(path)
    if fmt == "hdf5":
        from ntl_spark.io.hdf5 import read_hdf5

        return read_hdf5(spark, path, schema)
    raise ConfigError(f"unknown file format {fmt!r} for table '{table}' (csv, parquet or hdf5)")
