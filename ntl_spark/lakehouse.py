"""The lakehouse layer: every Delta read and write of the pipeline goes through here.

- :func:`read_pinned` reads a table at one version and returns that version
  with the rows, so what a stage records as lineage is exactly what it read
  (a commit landing meanwhile does not change either).
- :func:`write` creates a table on its first write, replaces exactly the rows
  of a partition predicate (Delta ``replaceWhere``) or the whole table, or
  appends; checks the rows against the declared schema first; and returns the
  version it committed (found by a token in the commit's ``userMetadata``,
  not by asking for the latest version afterwards).
- Lineage is a typed column, ``map<string,bigint>`` (table -> Delta version,
  :data:`ntl_spark.schemas.LINEAGE_TYPE`), built with :func:`lineage_column`
  and combined with :func:`merge_lineage`.

A write is one Delta commit: a job killed while it writes leaves the table at
its previous version.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import schemas
from ntl_spark.errors import DataError, MissingInputError

Mode = Literal["replace", "append"]
_TOKEN = "#ntl-write-"  # ends every commit's userMetadata: finds the version a write committed


@dataclass(frozen=True)
class Pinned:
    """Rows of a Delta table read at one version."""

    df: DataFrame
    version: int


def is_table(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table exists at ``path``."""
    from delta.tables import DeltaTable

    return bool(DeltaTable.isDeltaTable(spark, path))


def version(spark: SparkSession, path: str) -> int | None:
    """Latest committed version of the Delta table at ``path`` (None when there is none)."""
    from delta.tables import DeltaTable

    if not is_table(spark, path):
        return None
    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    return None if row is None else int(row[0])


def read_pinned(
    spark: SparkSession, path: str, table: str, producer: str, at_version: int | None = None
) -> Pinned:
    """Read a Delta table at one version (the latest unless ``at_version``) and return that version.

    Args:
        path: table location.
        table: table name, for messages.
        producer: the job that writes the table, for the message when it is missing.
        at_version: read this version (time travel) instead of the latest.

    Raises:
        MissingInputError: no Delta table at ``path`` (names the job that writes it).
    """
    latest = version(spark, path)
    if latest is None:
        raise MissingInputError(f"no {table} Delta table at {path}: run the {producer} job first")
    pinned = latest if at_version is None else at_version
    return Pinned(spark.read.format("delta").option("versionAsOf", pinned).load(path), pinned)


def read_optional(spark: SparkSession, path: str) -> Pinned | None:
    """:func:`read_pinned` when the table exists, else None."""
    latest = version(spark, path)
    if latest is None:
        return None
    return Pinned(spark.read.format("delta").option("versionAsOf", latest).load(path), latest)


def conform_to(df: DataFrame, schema: T.StructType, table: str) -> DataFrame:
    """``df``'s columns in ``schema``'s order and types.

    Raises:
        DataError: a column of ``schema`` is missing from ``df``, or ``df`` has a
            column the schema does not declare (a stage bug or a stale input).
    """
    have = set(df.columns)
    missing = [f.name for f in schema.fields if f.name not in have]
    extra = [c for c in df.columns if c not in set(schema.fieldNames())]
    if missing or extra:
        raise DataError(f"rows for table '{table}' do not match its declared schema: "
                        f"missing {missing}, undeclared {extra}")
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def _check_layout(spark: SparkSession, path: str, df: DataFrame, table: str) -> None:
    """Refuse to write rows whose columns or types differ from the table already at ``path``."""
    current = spark.read.format("delta").load(path).schema
    have = {f.name: f.dataType for f in current.fields}
    new = {f.name: f.dataType for f in df.schema.fields}
    changed = sorted(
        f"{name}: {have[name].simpleString() if name in have else 'absent'} -> "
        f"{new[name].simpleString() if name in new else 'absent'}"
        for name in set(have) | set(new)
        if name not in have or name not in new or not _same_type(have[name], new[name])
    )
    if changed:
        raise DataError(
            f"table '{table}' at {path} has another layout than the rows being written ({'; '.join(changed)}); "
            f"the table was written by another version of ntl-spark: move it aside (its history stays "
            f"readable) or rewrite it whole"
        )


def _same_type(a: T.DataType, b: T.DataType) -> bool:
    """Types equal up to nullability (Delta keeps the table's nullability)."""
    if isinstance(a, T.StructType) and isinstance(b, T.StructType):
        return [f.name for f in a.fields] == [f.name for f in b.fields] and all(
            _same_type(x.dataType, y.dataType) for x, y in zip(a.fields, b.fields, strict=True)
        )
    if isinstance(a, T.ArrayType) and isinstance(b, T.ArrayType):
        return _same_type(a.elementType, b.elementType)
    if isinstance(a, T.MapType) and isinstance(b, T.MapType):
        return _same_type(a.keyType, b.keyType) and _same_type(a.valueType, b.valueType)
    return type(a) is type(b) and a.simpleString() == b.simpleString()


def day_window(column: str, start: dt.date, end: dt.date, is_ts: bool) -> str:
    """SQL predicate keeping the days [start, end] of ``column``: a timestamp (local days of the session
    time zone) when ``is_ts``, else a date. The ingest replaces readings by it and readings_daily
    re-reads them by it, so both see the same rows."""
    if is_ts:
        return (f"{column} >= '{start.isoformat()} 00:00:00' AND "
                f"{column} < '{(end + dt.timedelta(days=1)).isoformat()} 00:00:00'")
    return f"{column} >= '{start.isoformat()}' AND {column} <= '{end.isoformat()}'"


def write(
    df: DataFrame,
    path: str,
    table: str,
    *,
    mode: Mode = "replace",
    where: str | None = None,
    partition_by: Sequence[str] = (),
    schema: T.StructType | None = None,
    replace_layout: bool = False,
    add_columns: bool = False,
    note: str = "",
) -> int:
    """Write ``df`` to the Delta table at ``path`` in one commit and return the version committed.

    Args:
        df: the rows.
        path: table location.
        table: table name, for messages.
        mode: ``replace``: the rows matching ``where`` (all rows when ``where`` is
            None) are replaced by ``df``; ``append``: ``df`` is added.
        where: SQL predicate on partition or data columns for ``replace``; rows
            of ``df`` outside it make the commit fail (Delta's replaceWhere check).
        partition_by: partition columns used when the table is created.
        schema: the table's declared schema: ``df`` is conformed to it first.
        replace_layout: the table may change its columns; the whole table is
            replaced (``where`` ignored; the previous layout stays readable in the history).
        add_columns: an append may add columns the table does not have yet
            (Delta schema merge; used by logs that grow a field).
        note: text kept with the commit, read back by :func:`last_note`.

    Returns:
        The Delta version this write committed.

    Raises:
        DataError: the rows do not match ``schema`` or the existing table's layout.
    """
    spark = df.sparkSession
    if schema is not None:
        df = conform_to(df, schema, table)
    before = version(spark, path)
    exists = before is not None
    if exists and not replace_layout and not add_columns:
        _check_layout(spark, path, df, table)
    token = f"{_TOKEN}{uuid.uuid4().hex}"
    writer = df.write.format("delta").option("userMetadata", f"{note}{token}")
    if mode == "append":
        writer = writer.mode("append")
        if add_columns:
            writer = writer.option("mergeSchema", "true")
    else:
        writer = writer.mode("overwrite")
        if exists and where is not None and not replace_layout:
            writer = writer.option("replaceWhere", where)
        else:
            # the whole table, even where the session overwrites partitions dynamically
            writer = writer.option("partitionOverwriteMode", "static")
        if replace_layout:
            writer = writer.option("overwriteSchema", "true")
    if partition_by and (not exists or replace_layout):
        writer = writer.partitionBy(*partition_by)
    writer.save(path)
    return _committed_version(spark, path, token, before)


def last_note(spark: SparkSession, path: str) -> str | None:
    """The ``note`` of the table's latest commit (None when there is no table or no note)."""
    from delta.tables import DeltaTable

    if not is_table(spark, path):
        return None
    row = DeltaTable.forPath(spark, path).history(1).select("userMetadata").first()
    text = row[0] if row is not None else None
    if not text:
        return None
    return str(text).split(_TOKEN, 1)[0] or None


def _committed_version(spark: SparkSession, path: str, token: str, before: int | None) -> int:
    from delta.tables import DeltaTable

    history = DeltaTable.forPath(spark, path).history(50).select("version", "userMetadata").collect()
    for row in history:
        if row["userMetadata"] and str(row["userMetadata"]).endswith(token):
            return int(row["version"])
    latest = int(history[0]["version"]) if history else None
    if latest is not None and latest == before:
        return latest  # Delta made no commit (e.g. nothing to replace and no rows): the table is unchanged
    raise RuntimeError(f"write to {path}: its commit is not among the last 50 (latest {latest}, before {before})")


# ---------------------------------------------------------------------- lineage
def merge_lineage(*parts: Mapping[str, int | None] | None) -> dict[str, int]:
    """One lineage map from several: every table once, at the highest version any part names.

    Tables without a version (never written) are left out. The highest
    version wins because versions of one Delta table only grow: a set of rows
    built from two reads of a table depends on data up to the later one.
    """
    out: dict[str, int] = {}
    for part in parts:
        for table, v in (part or {}).items():
            if v is not None:
                out[str(table)] = max(int(v), out.get(str(table), int(v)))
    return dict(sorted(out.items()))


def lineage_column(versions: Mapping[str, int | None]) -> Column:
    """A literal lineage map column (table -> Delta version) of type :data:`schemas.LINEAGE_TYPE`."""
    merged = merge_lineage(versions)
    if not merged:
        return F.create_map().cast(schemas.LINEAGE_TYPE)
    items: list[Column] = []
    for table, v in merged.items():
        items += [F.lit(table), F.lit(v).cast("bigint")]
    return F.create_map(*items).cast(schemas.LINEAGE_TYPE)


def lineage_of(df: DataFrame, column: str = schemas.LINEAGE_COLUMN) -> dict[str, int]:
    """The lineage map stored with ``df``'s rows (the union over distinct values; empty when no rows).

    Rows written by one run carry one map; a table holding several runs'
    rows (e.g. training windows of several end dates) gives their merge
    (:func:`merge_lineage`).
    """
    rows = (
        df.select(F.explode(column).alias("table", "version"))
        .groupBy("table").agg(F.max("version").alias("version")).collect()
    )
    return merge_lineage({r["table"]: r["version"] for r in rows})
