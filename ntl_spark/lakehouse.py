"""The lakehouse layer: every Delta read and write of the pipeline goes through here.

- :func:`read_pinned` reads a table at one version and returns that version
  with the rows, so what a stage records as lineage is exactly what it read
  (a commit landing meanwhile does not change either).
- :func:`write` creates a table on its first write, replaces exactly the rows
  of a partition predicate (Delta ``replaceWhere``) or the whole table, or
  appends; checks the rows against the declared schema first; and returns the
  version it committed (found by a token in the commit's ``userMetadata``,
  not by asking for the latest version afterwards).
- :func:`changed_days` tells which days of a day-keyed table (readings) its
  commits since a known version replaced, from the Delta history and
  ``ingest_log`` (:func:`plan_days`), or why only a whole recompute is safe;
  ``readings_daily`` and the data gate refresh by it.
- Lineage is a typed column, ``map<string,bigint>`` (table -> Delta version,
  :data:`ntl_spark.schemas.LINEAGE_TYPE`), built with :func:`lineage_column`
  and combined with :func:`merge_lineage`.

A write is one Delta commit: a job killed while it writes leaves the table at
its previous version.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import schemas
from ntl_spark.errors import DataError, MissingInputError

log = logging.getLogger(__name__)

T_ = TypeVar("T_")
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


# Delta's public ``DeltaTable.history()`` builds and runs a query over the commits (~0.2-0.4 s a
# call on 2 cores, whatever the limit), and every write and read here asks for a version or a commit.
# The table's log answers the same in ~10-20 ms: DeltaLog's snapshot version and its commit files
# (``getChanges``, commitInfo first). Those are Delta's internal Scala API (pinned: delta-spark 3.3.x);
# where they cannot be reached (another Delta, Spark Connect) the public history answers instead.
@dataclass(frozen=True)
class Commit:
    """One commit of a Delta table's log."""

    version: int
    operation: str
    note: str  # userMetadata ("" when none)


_internal_log = [True]  # whether Delta's internal log API answered (False after it once failed)


def _log_version(spark: SparkSession, path: str) -> int:
    jvm = spark._jvm
    none = jvm.scala.Option.apply(None)  # type: ignore[union-attr]
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)  # type: ignore[union-attr]
    return int(delta_log.update(False, none, none).version())


def _log_commits(spark: SparkSession, path: str, start: int, end: int) -> list[Commit]:
    delta_log = spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)  # type: ignore[union-attr]
    found = []
    changes = delta_log.getChanges(start, end, False)
    while changes.hasNext():
        entry = changes.next()
        actions = entry._2().iterator()
        while actions.hasNext():
            action = actions.next()
            if action.getClass().getSimpleName() == "CommitInfo":  # written first in every commit file
                note = action.userMetadata()
                found.append(Commit(int(entry._1()), str(action.operation()), str(note.get()) if note.isDefined() else ""))
                break
    return found


def _from_log(read: Callable[..., T_], *args: object) -> T_ | None:
    """``read(*args)`` on Delta's internal log API; None (and the public history from then on) when it fails."""
    if not _internal_log[0]:
        return None
    try:
        return read(*args)
    except Exception as exc:  # noqa: BLE001 - the public history answers the same, slower
        _internal_log[0] = False
        log.warning("Delta's log API did not answer (%s): table versions come from DeltaTable.history()", exc)
        return None


def version(spark: SparkSession, path: str) -> int | None:
    """Latest committed version of the Delta table at ``path`` (None when there is none)."""
    from delta.tables import DeltaTable

    if not is_table(spark, path):
        return None
    found = _from_log(_log_version, spark, path)
    if found is not None:
        return None if found < 0 else found
    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    return None if row is None else int(row[0])


def commits(spark: SparkSession, path: str, start: int, end: int) -> list[Commit]:
    """The commits of the Delta table at ``path`` from version ``start`` to ``end`` (both included) whose
    log entries are still kept, oldest first."""
    from delta.tables import DeltaTable

    if end < start:
        return []
    found = _from_log(_log_commits, spark, path, start, end)
    if found is not None:
        return found
    rows = (DeltaTable.forPath(spark, path).history()
            .where((F.col("version") >= start) & (F.col("version") <= end))
            .select("version", "operation", "userMetadata").collect())
    return sorted((Commit(int(r["version"]), str(r["operation"]), str(r["userMetadata"] or "")) for r in rows),
                  key=lambda c: c.version)


# Input tables whose layout the data contract declares: a read checks their columns (a table written by hand or
# by another tool fails here, naming what is wrong, not deep inside a stage with a Spark analysis error).
DECLARED_INPUTS: dict[str, T.StructType] = {**schemas.SOURCE_SCHEMAS, schemas.OUTCOMES_TABLE: schemas.OUTCOMES_SCHEMA}


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
        DataError: ``table`` is one of :data:`DECLARED_INPUTS` and lacks a declared column or holds it in
            another type (:func:`check_declared`).
    """
    latest = version(spark, path)
    if latest is None:
        raise MissingInputError(f"no {table} Delta table at {path}: run the {producer} job first")
    return _pinned_at(spark, path, latest if at_version is None else at_version, table, producer)


def read_optional(spark: SparkSession, path: str, table: str | None = None, producer: str = "ingest") -> Pinned | None:
    """:func:`read_pinned` when the table exists, else None (``table``: checked as there when given)."""
    latest = version(spark, path)
    return None if latest is None else _pinned_at(spark, path, latest, table, producer)


def _pinned_at(spark: SparkSession, path: str, at: int, table: str | None, producer: str) -> Pinned:
    """The table at version ``at``, its layout checked (:func:`check_declared`) when ``table`` is given."""
    df = spark.read.format("delta").option("versionAsOf", at).load(path)
    if table is not None:
        check_declared(df, table, path, producer)
    return Pinned(df, at)


def check_declared(df: DataFrame, table: str, path: str, producer: str) -> None:
    """Refuse a :data:`DECLARED_INPUTS` table that lacks a declared column or holds one in another type.

    Extra columns are allowed (the ingest metadata, a utility's own additions): stages select what they read.

    Raises:
        DataError: naming the table, its path and each missing or mistyped column.
    """
    declared = DECLARED_INPUTS.get(table)
    if declared is None:
        return
    have = {f.name: f.dataType for f in df.schema.fields}
    missing = [f"{f.name} ({f.dataType.simpleString()})" for f in declared.fields if f.name not in have]
    mistyped = [f"{f.name}: {have[f.name].simpleString()}, declared {f.dataType.simpleString()}"
                for f in declared.fields if f.name in have and not _same_type(have[f.name], f.dataType)]
    if missing or mistyped:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"other types: {'; '.join(mistyped)}"] if mistyped else [])
        raise DataError(f"table '{table}' at {path} does not have the layout the data contract declares "
                        f"({'; '.join(problems)}): it was not written by the {producer} job of this version; "
                        f"re-create it with that job (schemas.{table.upper()}_SCHEMA)")


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


def has_layout(spark: SparkSession, path: str, schema: T.StructType) -> bool:
    """Whether the Delta table at ``path`` has exactly ``schema``'s columns and types (nullability aside)."""
    current = spark.read.format("delta").load(path).schema
    return _same_type(current, schema)


def day_window(column: str, start: dt.date, end: dt.date, is_ts: bool) -> str:
    """SQL predicate keeping the days [start, end] of ``column``: a timestamp (local days of the session
    time zone) when ``is_ts``, else a date. The ingest replaces readings by it and readings_daily
    re-reads them by it, so both see the same rows."""
    # typed literals, not strings: a string compared with the column is a cast that Delta's file skipping
    # does not fold when a replaceWhere deletes, and the delete then reads every file of the table
    if is_ts:
        return (f"{column} >= TIMESTAMP '{start.isoformat()} 00:00:00' AND "
                f"{column} < TIMESTAMP '{(end + dt.timedelta(days=1)).isoformat()} 00:00:00'")
    return f"{column} >= DATE '{start.isoformat()}' AND {column} <= DATE '{end.isoformat()}'"


def days_predicate(column: str, windows: Sequence[tuple[dt.date, dt.date]], is_ts: bool) -> str:
    """SQL predicate keeping the days of every window (:func:`day_window` of each, OR-ed)."""
    return " OR ".join(f"({day_window(column, lo, hi, is_ts)})" for lo, hi in windows)


# ------------------------------------------------------------------ changed days
# Delta operations that change no rows: nothing derived from the table needs recomputing.
NO_DATA_CHANGE = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UNSET TBLPROPERTIES",
                            "ADD CONSTRAINT", "DROP CONSTRAINT", "FSCK"})


@dataclass(frozen=True)
class DayPlan:
    """Which days of a day-keyed table (e.g. readings) changed between two of its versions.

    ``windows`` are merged, sorted, inclusive day ranges (empty when no row
    changed), or None when the change cannot be explained day by day: then
    whatever was derived from the table must be recomputed whole, and
    ``reason`` says why in words.
    """

    windows: tuple[tuple[dt.date, dt.date], ...] | None
    reason: str = ""

    @property
    def whole(self) -> bool:
        return self.windows is None

    @property
    def days(self) -> int:
        """Days in the windows (0 when whole)."""
        return sum((hi - lo).days + 1 for lo, hi in self.windows or ())

    def describe(self) -> str:
        """The plan in words, for logs and reports."""
        if self.windows is None:
            return f"everything ({self.reason})"
        if not self.windows:
            return "no day changed"
        ranges = ", ".join(str(lo) if lo == hi else f"{lo}..{hi}" for lo, hi in self.windows)
        return f"{self.days} day(s): {ranges}"


def plan_days(since: int | None, current: int, commits: Mapping[int, str],
              replaced: Mapping[int, tuple[dt.date, dt.date] | None], max_days: int | None = None) -> DayPlan:
    """The days a table's commits after version ``since`` up to ``current`` replaced.

    Args:
        since: the version the derived data reflects (None: there is none yet).
        current: the table's version now.
        commits: the table's commits after ``since`` up to ``current``: version -> Delta operation.
        replaced: version -> the days that commit replaced (``ingest_log.replaced_start/end``;
            None when the write replaced no period). Versions not logged are absent.
        max_days: more changed days than this recompute everything (None: no limit).

    Returns:
        The merged day windows, or a whole plan with the reason when a commit that changed rows is
        not a logged period write, the history between the versions is incomplete, the table was
        recreated, or the change spans more than ``max_days`` days.
    """
    if since is None:
        return DayPlan(None, "no previous state")
    if current < since:
        return DayPlan(None, f"the table is at version {current}, before the version {since} last seen: recreated")
    if current == since:
        return DayPlan(())
    missing = sorted(set(range(since + 1, current + 1)) - set(commits))
    if missing:
        return DayPlan(None, f"the table's history lacks version(s) {_versions(missing)} (cleaned up or recreated)")
    windows: list[tuple[dt.date, dt.date]] = []
    for v in range(since + 1, current + 1):
        if commits[v] in NO_DATA_CHANGE:
            continue
        if v not in replaced:
            return DayPlan(None, f"version {v} ({commits[v]}) is not in ingest_log")
        window = replaced[v]
        if window is None:
            return DayPlan(None, f"version {v} ({commits[v]}) replaced no period of days")
        windows.append(window)
    merged: list[tuple[dt.date, dt.date]] = []
    for lo, hi in sorted(windows):
        if merged and lo <= merged[-1][1] + dt.timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    plan = DayPlan(tuple(merged))
    if max_days is not None and plan.days > max_days:
        return DayPlan(None, f"{plan.days} days changed, more than the {max_days} recomputed day by day")
    return plan


def _versions(vs: Sequence[int]) -> str:
    return ", ".join(map(str, vs)) if len(vs) <= 5 else f"{vs[0]}..{vs[-1]}"


def logged_changes(spark: SparkSession, path: str, log_path: str, table: str, since: int, current: int,
                   ) -> tuple[dict[int, str], dict[int, tuple[dt.date, dt.date] | None]]:
    """A table's commits after ``since`` up to ``current`` and the days each logged write replaced.

    Args:
        path: the table's location.
        log_path: the ``ingest_log`` table's location.
        table: the table's name in ``ingest_log``.

    Returns:
        (version -> Delta operation, version -> (replaced_start, replaced_end) or None), the inputs of
        :func:`plan_days`.
    """
    operations = {c.version: c.operation for c in commits(spark, path, since + 1, current)}
    replaced: dict[int, tuple[dt.date, dt.date] | None] = {}
    logged = read_optional(spark, log_path)
    if logged is not None and {"replaced_start", "replaced_end"} <= set(logged.df.columns):
        for r in (logged.df.where((F.col("table") == table) & F.col("delta_version").between(since + 1, current))
                  .select("delta_version", "replaced_start", "replaced_end").collect()):
            ok = r["replaced_start"] is not None and r["replaced_end"] is not None
            replaced[int(r["delta_version"])] = (r["replaced_start"], r["replaced_end"]) if ok else None
    return operations, replaced


def changed_days(spark: SparkSession, path: str, log_path: str, table: str, since: int | None, current: int,
                 max_days: int | None = None) -> DayPlan:
    """:func:`plan_days` of the table at ``path`` from its Delta history and ``ingest_log``."""
    if since is None or current <= since:
        return plan_days(since, current, {}, {}, max_days)
    return plan_days(since, current, *logged_changes(spark, path, log_path, table, since, current), max_days)


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
    latest = version(spark, path)
    if latest is None:
        return None
    found = commits(spark, path, latest, latest)
    text = found[-1].note if found else None
    if not text:
        return None
    return str(text).split(_TOKEN, 1)[0] or None


def _committed_version(spark: SparkSession, path: str, token: str, before: int | None) -> int:
    latest = version(spark, path)
    if latest is not None:
        for commit in reversed(commits(spark, path, max(0 if before is None else before + 1, latest - 49), latest)):
            if commit.note.endswith(token):
                return commit.version
        if latest == before:
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
