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
import csv
import json
import re
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
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


def _unreadable_by_spark(logical_type: Any) -> tuple[str, str] | None:
    """(what, what to do) for a Parquet column type Spark 3.5 fails on deep in a task; None when Spark reads it."""
    kind = json.loads(logical_type.to_json()) if logical_type.type in ("TIMESTAMP", "TIME") else {}
    if kind.get("Type") == "Timestamp" and kind.get("timeUnit") == "nanoseconds":
        return ("a timestamp in nanoseconds", "write timestamps in microseconds (pyarrow: coerce_timestamps='us'; "
                "pandas: to_parquet(..., coerce_timestamps='us', allow_truncated_timestamps=True))")
    if kind.get("Type") == "Time":
        return "a time of day", "write it with its date as a timestamp, or as text"
    return None


def check_parquet_files(files: list[Path], table: str) -> list[str]:
    """Open every Parquet file's footer and compare the files' columns; raise naming the first bad file.

    Spark reads the schema of one file and gives nulls for columns another
    file names or types differently, and fails deep in a task on a truncated
    file or a type it cannot read (nanosecond timestamps, as pandas writes
    them; times of day): checked here first, so the message names the file.

    Returns:
        The columns of Arrow's ``null`` type (no value in any file: pandas
        writes an all-None column so), which Spark reads as int.

    Raises:
        DataError: a file is not readable Parquet, has a column Spark cannot
            read, or its columns differ from the first file's.
    """
    import pyarrow.parquet as pq

    first: tuple[Path, dict[str, str]] | None = None
    for file in files:
        try:
            footer = pq.read_metadata(file).schema
            arrow = footer.to_arrow_schema()
        except Exception as e:  # noqa: BLE001 - any failure to read a footer means the file is broken
            raise DataError(f"{table}: {file} is not a readable Parquet file ({type(e).__name__}: {e}); "
                            f"re-export it or remove it from the source folder") from e
        for i in range(len(footer)):
            column = footer.column(i)
            unreadable = _unreadable_by_spark(column.logical_type)
            if unreadable:
                raise DataError(f"{table}: {file} column '{column.path}' is {unreadable[0]}, which Spark cannot "
                                f"read; {unreadable[1]}")
        cols = {f.name: str(f.type) for f in arrow}
        if first is None:
            first = (file, cols)
        elif cols != first[1]:
            changed = sorted(
                f"{c}: {first[1].get(c, 'absent')} vs {cols.get(c, 'absent')}"
                for c in set(first[1]) | set(cols) if first[1].get(c) != cols.get(c)
            )
            raise DataError(f"{table}: {file} has other columns than {first[0]} ({'; '.join(changed)}); "
                            f"every file of a table needs the same columns")
    return [c for c, t in (first[1] if first else {}).items() if t == "null"]


def check_delimiter(header: list[str], table: str, delimiter: str) -> None:
    """Raise when a CSV header read as one column holds another usual delimiter (a ``;`` export read with ``,``)."""
    if len(header) == 1:
        for other in (";", "\t", "|", ","):
            if other != delimiter and other in header[0]:
                shown = "\\t" if other == "\t" else other
                raise DataError(f"{table}: the CSV header reads as one column {header[0]!r}; the file looks "
                                f"delimited by {shown!r}: set ingest.csv_delimiter={shown!r}")


def check_csv_lines(path: Path, table: str, encoding: str, delimiter: str) -> list[str] | None:
    """Parse one local CSV file as Spark will; raise at the first record Spark would silently misread.

    Spark reads CSV line by line and, in its permissive mode, drops the fields
    of a line beyond the header's and splits a quoted value holding a line
    break into two rows; both change values without a word. A line with fewer
    fields is left to the row rules (its missing values are null and
    quarantined where the contract requires them), except the last line of a
    file that does not end in a line break: the file was cut short, and
    ingesting it would replace the whole period with part of it.

    Args:
        path: the file (already checked to decode with ``encoding``).
        table: contract table, for messages.
        encoding: the file's character encoding.
        delimiter: field separator.

    Returns:
        The header's column names; None for a file with no header line (0 bytes).

    Raises:
        DataError: naming the file, the line and what is wrong with it.
    """
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return None
        if header:
            header[0] = header[0].removeprefix("\ufeff")  # Spark skips a UTF-8 byte order mark too
        check_delimiter(header, table, delimiter)
        fields: list[str] = header
        start = end = reader.line_num
        records = iter(reader)
        while True:
            try:
                fields = next(records)
            except StopIteration:
                break
            except csv.Error as e:
                raise DataError(f"{table}: {path} line {end + 1}: not readable as CSV ({e})") from e
            start, end = end + 1, reader.line_num
            if end > start:
                raise DataError(
                    f"{table}: {path} line {start}: a quoted value holds a line break (the record runs to line "
                    f"{end}); Spark reads CSV one line per record: re-export without line breaks inside values"
                )
            if len(fields) > len(header):
                raise DataError(
                    f"{table}: {path} line {start}: {len(fields)} fields where the header has {len(header)} "
                    f"(a {delimiter!r} inside an unquoted value, e.g. a decimal comma?); quote such values, or "
                    f"set ingest.csv_delimiter to another separator"
                )
    if fields is not header and fields:
        with path.open("rb") as raw:
            raw.seek(max(raw.seek(0, 2) - _CHUNK, 0))
            tail = raw.read()
        last = tail[tail.rfind(b"\n") + 1:]
        # a last line without its line break is only suspect: many exports omit the final one. It was
        # cut when it lacks fields or leaves a quoted value open.
        open_quote = last.count(b'"') % 2 == 1
        if last and (len(fields) < len(header) or open_quote):
            raise DataError(
                f"{table}: {path} ends in the middle of line {start} ({len(fields)} of {len(header)} fields"
                f"{', a quoted value left open' if open_quote else ''}, no line break at the end): "
                f"the file looks cut short; copy or export it again"
            )
    return header


def check_csv_files(files: list[Path], table: str, encoding: str, delimiter: str) -> None:
    """Check every local CSV file of a table: encoding, records (:func:`check_csv_lines`) and one header for all.

    Spark takes the columns from one file's header and reads every other
    file by position, so a file with its columns in another order would fill
    one contract column with another's values.

    Raises:
        DataError: a file does not decode, has a malformed record or another
            header than the first file's, or every file is empty (0 bytes).
    """
    first: tuple[Path, list[str]] | None = None
    for file in files:
        check_encoding(file, encoding)
        header = check_csv_lines(file, table, encoding, delimiter)
        if header is None:
            continue
        if first is None:
            first = (file, header)
        elif header != first[1]:
            raise DataError(f"{table}: {file} has the header {header}, {first[0]} has {first[1]}; every file of "
                            f"a table needs the same columns in the same order")
    if files and first is None:
        shown = ", ".join(str(f) for f in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        raise DataError(f"{table}: {shown}: empty (0 bytes, not even a header line): an extraction that failed? "
                        f"A table without rows still needs its header line")


def read_files(
    spark: SparkSession, raw_dir: str, table: str, fmt: str, schema: StructType, encoding: str = "utf-8",
    delimiter: str = ",",
) -> DataFrame:
    """Read one contract table from files, without casting.

    Args:
        spark: active session.
        raw_dir: folder holding the files.
        table: contract table name.
        fmt: ``csv``, ``parquet`` or ``hdf5``.
        schema: the contract schema (used for HDF5, to name CSV columns, and
            to type a Parquet column that holds no value).
        encoding: character encoding of CSV files; local files are checked
            against it before Spark reads them (files on HDFS are not).
        delimiter: CSV field separator.

    Returns:
        The raw DataFrame: source types for Parquet/HDF5, strings for CSV.

    Raises:
        MissingInputError: nothing at the expected location.
        ConfigError: unknown format.
        DataError: a CSV file is not valid in ``encoding``, is delimited
            otherwise, has a malformed record or another header than the
            others (:func:`check_csv_files`); a Parquet file is unreadable or
            has other columns; a local source folder holds no data files.
    """
    path = source_path(raw_dir, table, fmt)
    _check_exists(path, table)
    files = data_files(path)
    if _local(path) is not None and fmt in ("parquet", "csv") and not files:
        raise DataError(f"{table}: the source folder {path} holds no data files (an extraction that did not run?)")
    if fmt == "parquet":
        empty = check_parquet_files(files, table)
        df = spark.read.parquet(path)
        # a column without a single value is null in the contract's type, whatever Spark made of it
        for name in (c for c in empty if c in schema.fieldNames()):
            df = df.withColumn(name, F.lit(None).cast(schema[name].dataType))
        return df
    if fmt == "csv":
        check_csv_files(files, table, encoding, delimiter)
        reader = (spark.read.option("header", "true").option("encoding", java_charset(encoding))
                  .option("sep", delimiter))
        # Every column as a string: parse failures become quarantine reasons
        # instead of silent nulls from schema inference.
        header = reader.csv(path).columns
        check_delimiter(header, table, delimiter)
        as_text = StructType([StructField(c, StringType(), True) for c in header])
        return reader.option("mode", "PERMISSIVE").option("emptyValue", None).schema(as_text).csv(path)
    if fmt == "hdf5":
        from ntl_spark.io.hdf5 import read_hdf5

        return read_hdf5(spark, path, schema)
    raise ConfigError(f"unknown file format {fmt!r} for table '{table}' (csv, parquet or hdf5)")
