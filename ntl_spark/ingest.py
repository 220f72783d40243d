"""Ingest: source tables (files, JDBC, HBase) -> bronze Delta tables.

In: the data contract's tables (customers, bills, readings, events,
inspections) from the source named by ``ingest.source``.
Out: one Delta table per source table under ``paths.lakehouse`` with the
contract schema plus ingest metadata (run id, source, time); rows that break
the contract go to the ``quarantine`` Delta table with the reason; one row per
table and run in ``ingest_log`` with counts and the Delta version written.

Re-ingesting the same period replaces it (Delta ``replaceWhere``), so a
re-run gives the same tables. A schema difference in the source (missing,
retyped or unexpected column) stops the job before anything is written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import lakehouse, schemas
from ntl_spark.config import Config
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.sparkutil import first_row

log = logging.getLogger(__name__)

REASON = "_reason"

# Source types accepted for a contract type without loss (anything else is a schema error).
_COMPATIBLE: dict[type, tuple[type, ...]] = {
    T.DoubleType: (T.DoubleType, T.FloatType, T.IntegerType, T.LongType, T.ShortType, T.DecimalType),
    T.IntegerType: (T.IntegerType, T.ShortType, T.ByteType, T.LongType),
    T.LongType: (T.LongType, T.IntegerType, T.ShortType),
    T.DateType: (T.DateType,),
    T.TimestampType: (T.TimestampType, T.TimestampNTZType),
    T.StringType: (T.StringType,),
}


@dataclass(frozen=True)
class IngestReport:
    """What one table's ingest did."""

    table: str
    source: str
    rows_read: int
    rows_written: int
    rows_quarantined: int
    delta_version: int | None
    reasons: dict[str, int]


# ----------------------------------------------------------------- transforms
def rename_columns(df: DataFrame, mapping: dict[str, str]) -> DataFrame:
    """Rename source columns to contract names (``{source_name: contract_name}``)."""
    for src, dst in mapping.items():
        if src in df.columns:
            df = df.withColumnRenamed(src, dst)
    return df


def check_schema(df: DataFrame, schema: T.StructType, table: str, text_source: bool = False) -> None:
    """Compare a source's columns and types with the contract; raise naming the difference.

    Args:
        df: the source DataFrame (after renaming).
        schema: contract schema of ``table``.
        table: table name, for messages.
        text_source: the source is text (CSV): only column names are checked.

    Raises:
        DataError: a contract column is missing, has an incompatible type, or
            the source has a column the contract does not know.
    """
    have = {f.name: f.dataType for f in df.schema.fields}
    missing = [f.name for f in schema.fields if f.name not in have]
    extra = [c for c in have if c not in schema.fieldNames()]
    if missing and extra:
        raise DataError(
            f"{table}: column(s) {missing} missing from the source and unexpected column(s) {extra} found "
            f"(renamed upstream? map them in ingest.rename.{table})"
        )
    if missing:
        raise DataError(f"{table}: column(s) {missing} missing from the source (has {sorted(have)})")
    if extra:
        raise DataError(
            f"{table}: unexpected column(s) {extra} in the source; map them in ingest.rename or drop them upstream"
        )
    if text_source:
        return
    for field in schema.fields:
        got = have[field.name]
        ok = _COMPATIBLE.get(type(field.dataType), (type(field.dataType),))
        if not isinstance(got, ok):
            raise DataError(
                f"{table}: column '{field.name}' has type {got.simpleString()}, "
                f"expected {field.dataType.simpleString()}"
            )


def cast_to_schema(df: DataFrame, schema: T.StructType, timestamp_format: str = "yyyy-MM-dd HH:mm:ss") -> DataFrame:
    """Cast every contract column to its type; text that does not parse gets a reason.

    Returns:
        ``df`` with the contract's columns (in contract order) plus ``_reason``
        (null when every value parsed).
    """
    cols, reasons = [], []
    for field in schema.fields:
        src = F.col(field.name)
        if isinstance(df.schema[field.name].dataType, T.StringType) and not isinstance(field.dataType, T.StringType):
            text = F.trim(src)
            if isinstance(field.dataType, T.TimestampType):
                parsed = F.to_timestamp(text, timestamp_format)
            elif isinstance(field.dataType, T.DateType):
                parsed = F.to_date(text, "yyyy-MM-dd")
            else:
                parsed = text.cast(field.dataType)
            bad = text.isNotNull() & (text != "") & parsed.isNull()
            reasons.append(F.when(bad, F.concat(F.lit(f"{field.name}: cannot parse '"), text,
                                                 F.lit(f"' as {field.dataType.simpleString()}"))))
            cols.append(parsed.alias(field.name))
        else:
            cols.append(src.cast(field.dataType).alias(field.name))
    reason = F.concat_ws("; ", *reasons) if reasons else F.lit("")
    out = df.select(*cols, reason.alias(REASON))
    return out.withColumn(REASON, F.when(F.col(REASON) == "", None).otherwise(F.col(REASON)))


def contract_rules(table: str, max_kwh_per_bill: float, max_kwh_per_interval: float) -> list[tuple[str, Column]]:
    """Row rules of the data contract as (reason, column that is true for a bad row)."""
    rules: list[tuple[str, Column]] = [
        (f"{f.name} is null", F.col(f.name).isNull()) for f in schemas.SOURCE_SCHEMAS[table].fields if not f.nullable
    ]
    if table == schemas.CUSTOMERS:
        rules += [
            ("meter_type not in " + "/".join(schemas.METER_TYPES), ~F.col("meter_type").isin(*schemas.METER_TYPES)),
            ("status not in " + "/".join(schemas.CUSTOMER_STATUS), ~F.col("status").isin(*schemas.CUSTOMER_STATUS)),
            ("contracted_kw <= 0", F.col("contracted_kw") <= 0),
            ("smart meter without meter_id", (F.col("meter_type") == "smart") & F.col("meter_id").isNull()),
        ]
    elif table == schemas.BILLS:
        rules += [
            ("kwh negative", F.col("kwh") < 0),
            (f"kwh above {max_kwh_per_bill:g}", F.col("kwh") > max_kwh_per_bill),
            ("days outside 1..62", (F.col("days") < 1) | (F.col("days") > 62)),
            ("read_type not in " + "/".join(schemas.READ_TYPES), ~F.col("read_type").isin(*schemas.READ_TYPES)),
            ("period not the first day of a month", F.dayofmonth("period") != 1),
        ]
    elif table == schemas.READINGS:
        rules += [
            ("kwh negative", F.col("kwh") < 0),
            (f"kwh above {max_kwh_per_interval:g}", F.col("kwh") > max_kwh_per_interval),
        ]
    elif table == schemas.EVENTS:
        rules += [("code not in " + "/".join(schemas.EVENT_CODES), ~F.col("code").isin(*schemas.EVENT_CODES))]
    elif table == schemas.INSPECTIONS:
        rules += [("outcome not in " + "/".join(schemas.OUTCOMES), ~F.col("outcome").isin(*schemas.OUTCOMES))]
    return rules


def apply_rules(df: DataFrame, rules: list[tuple[str, Column]]) -> DataFrame:
    """Add every failed rule's reason to ``_reason`` (``"; "``-separated)."""
    found = [F.when(F.coalesce(bad, F.lit(False)), F.lit(reason)) for reason, bad in rules]
    existing = F.col(REASON) if REASON in df.columns else F.lit(None).cast("string")
    merged = F.concat_ws("; ", existing, *found)
    return df.withColumn(REASON, F.when(merged == "", None).otherwise(merged))


def flag_duplicates(df: DataFrame, keys: tuple[str, ...]) -> DataFrame:
    """Mark duplicate keys: exact copies beyond the first, and all rows of a conflicting key.

    Exact duplicate rows carry no new information, so one copy is kept and
    the others are quarantined as ``duplicate row``. Rows that share a key but
    differ in values cannot be reconciled here; all of them are quarantined
    as ``conflicting duplicate key (...)``.
    """
    value_cols = [c for c in df.columns if c != REASON]
    # One shuffle, on the first key column only: both windows below are
    # satisfied by it, and the rows written afterwards keep each meter's (or
    # customer's) rows together in key order, the layout the readings pivot
    # into readings_daily is fastest on.
    df = df.repartition(keys[0])
    by_key = Window.partitionBy(*keys)
    by_row = Window.partitionBy(*keys, "_h").orderBy("_h")
    key_text = ", ".join(keys)
    flagged = (
        df.withColumn("_h", F.xxhash64(*value_cols))
        .withColumn("_conflict", F.min("_h").over(by_key) != F.max("_h").over(by_key))
        .withColumn("_copy", F.row_number().over(by_row))
    )
    reason = (
        F.when(F.col("_conflict"), F.lit(f"conflicting duplicate key ({key_text})"))
        .when(F.col("_copy") > 1, F.lit("duplicate row"))
    )
    merged = F.concat_ws("; ", F.col(REASON), reason)
    return flagged.withColumn(REASON, F.when(merged == "", None).otherwise(merged)).drop("_h", "_conflict", "_copy")


def conform(
    raw: DataFrame,
    table: str,
    text_source: bool,
    max_kwh_per_bill: float = 1e6,
    max_kwh_per_interval: float = 1e3,
    timestamp_format: str = "yyyy-MM-dd HH:mm:ss",
) -> DataFrame:
    """Schema gate, casting, contract rules and duplicate detection for one table.

    Returns:
        The contract columns plus ``_reason`` (null for good rows).

    Raises:
        DataError: the source's schema differs from the contract.
    """
    schema = schemas.SOURCE_SCHEMAS[table]
    check_schema(raw, schema, table, text_source=text_source)
    typed = cast_to_schema(raw, schema, timestamp_format)
    ruled = apply_rules(typed, contract_rules(table, max_kwh_per_bill, max_kwh_per_interval))
    return flag_duplicates(ruled, schemas.PRIMARY_KEYS[table])


def quarantine_rows(bad: DataFrame, table: str) -> DataFrame:
    """Bad rows as quarantine records: table, reason and the row as JSON."""
    values = [c for c in bad.columns if c != REASON]
    return bad.select(
        F.lit(table).alias("table"),
        F.col(REASON).alias("reason"),
        F.to_json(F.struct(*values)).alias("record"),
    )


def period_filter(column: str, start: dt.date | None, end: dt.date | None) -> Column | None:
    """Rows of ``column`` inside [start, end] (dates inclusive); None when unbounded."""
    cond: Column | None = None
    if start is not None:
        cond = F.col(column) >= F.lit(start)
    if end is not None:
        upper = F.col(column) < F.lit(end + dt.timedelta(days=1))
        cond = upper if cond is None else cond & upper
    return cond


def _sql_window(column: str, start: dt.date, end: dt.date, is_ts: bool) -> str:
    if is_ts:
        return f"{column} >= '{start.isoformat()} 00:00:00' AND {column} < '{(end + dt.timedelta(days=1)).isoformat()} 00:00:00'"
    return f"{column} >= '{start.isoformat()}' AND {column} <= '{end.isoformat()}'"


# -------------------------------------------------------------------- sources
def read_source(
    spark: SparkSession, cfg: Config, table: str, start: dt.date | None, end: dt.date | None
) -> tuple[DataFrame, bool, str]:
    """Read one contract table from the configured source.

    Returns:
        (raw DataFrame, whether it is a text source, a description of the source).
    """
    schema = schemas.SOURCE_SCHEMAS[table]
    source = cfg.ingest.source
    if source == "files":
        from ntl_spark.io.files import read_files, source_path

        fmt = cfg.ingest.format
        raw = read_files(spark, cfg.raw_dir, table, fmt, schema)
        return raw, fmt == "csv", f"{fmt}:{source_path(cfg.raw_dir, table, fmt)}"
    if source == "jdbc" and table in cfg.jdbc.tables:
        from ntl_spark.io.jdbc import read_table

        raw = read_table(spark, cfg.jdbc, table, schema, schemas.PERIOD_COLUMNS[table], start, end,
                         rename=cfg.ingest.rename.get(table))
        return raw, False, f"jdbc:{cfg.jdbc.url}/{cfg.jdbc.tables[table]}"
    if source == "hbase" and table in (schemas.READINGS, schemas.EVENTS):
        from ntl_spark.io.hbase import read_events, read_readings

        if start is None or end is None:
            raise ConfigError("ingest.source=hbase needs ingest.period_start and ingest.period_end (days to scan)")
        read = read_readings if table == schemas.READINGS else read_events
        return read(spark, cfg.hbase, start, end), False, f"hbase:{cfg.hbase.host}:{cfg.hbase.port}/{cfg.hbase.table}"
    raise ConfigError(f"ingest.source={source!r} cannot read table '{table}'")


# --------------------------------------------------------------------- writes
def gate_source(
    spark: SparkSession, cfg: Config, table: str, start: dt.date | None, end: dt.date | None
) -> tuple[DataFrame, bool, str]:
    """Read one source (files, JDBC or HBase), rename its columns and check them against the contract.

    Returns:
        (renamed raw DataFrame, whether it is a text source, a description of the source).

    Raises:
        DataError: the source's columns or types differ from the contract (the message names them).
    """
    raw, text_source, source_desc = read_source(spark, cfg, table, start, end)
    raw = rename_columns(raw, cfg.ingest.rename.get(table, {}))
    check_schema(raw, schemas.SOURCE_SCHEMAS[table], table, text_source=text_source)
    if source_desc.startswith("jdbc:"):
        # The JDBC reader selects the contract columns; a column added upstream is still a schema change.
        from ntl_spark.io.jdbc import source_expression, source_schema

        renames = {k.lower(): v.lower() for k, v in cfg.ingest.rename.get(table, {}).items()}
        found = source_schema(spark, cfg.jdbc, table, source_expression(cfg.jdbc, table, start, end)).fieldNames()
        known = {n.lower() for n in schemas.SOURCE_SCHEMAS[table].fieldNames()}
        extra = [c for c in found if renames.get(c.lower(), c.lower()) not in known]
        if extra:
            raise DataError(f"{table}: unexpected column(s) {extra} in the source; map them in "
                            f"ingest.rename or select the contract columns in jdbc.tables.{table}")
    return raw, text_source, source_desc


def ingest_table(
    spark: SparkSession, cfg: Config, table: str, run_id: str, now: dt.datetime,
    source: tuple[DataFrame, bool, str] | None = None,
) -> IngestReport:
    """Read, check and write one table; return its counts.

    Args:
        source: the table's source already read by :func:`gate_source` (read here when None).
    """
    start = dt.date.fromisoformat(cfg.ingest.period_start) if cfg.ingest.period_start else None
    end = dt.date.fromisoformat(cfg.ingest.period_end) if cfg.ingest.period_end else None
    raw, text_source, source_desc = source or gate_source(spark, cfg, table, start, end)
    checked = conform(
        raw, table, text_source,
        cfg.ingest.max_kwh_per_bill, cfg.ingest.max_kwh_per_interval, cfg.ingest.csv_timestamp_format,
    )
    period_col = schemas.PERIOD_COLUMNS[table]
    window = period_filter(period_col, start, end) if period_col else None
    if period_col and window is not None:
        # rows whose period does not parse stay in scope so that they are quarantined
        checked = checked.where(window | F.col(period_col).isNull())
    meta = [
        F.lit(run_id).alias("_ingest_run_id"),
        F.lit(source_desc).alias("_ingest_source"),
        F.lit(now).cast("timestamp").alias("_ingested_at"),
    ]
    checked = checked.persist()
    try:
        rows_read = checked.count()
        good = checked.where(F.col(REASON).isNull()).drop(REASON).select("*", *meta)
        bad = checked.where(F.col(REASON).isNotNull())
        reasons = {r["reason"]: int(r["n"]) for r in bad.groupBy(F.col(REASON).alias("reason"))
                   .agg(F.count("*").alias("n")).collect()}
        rows_bad = sum(reasons.values())
        if rows_read and rows_bad == rows_read:
            raise DataError(f"{table}: every one of the {rows_read} rows broke the contract: {reasons}")

        path = cfg.paths.table(table)
        where: str | None = None
        if period_col and rows_read:
            lo = start
            hi = end
            if lo is None or hi is None:
                bounds = first_row(good.agg(F.min(period_col), F.max(period_col)), table)
                lo = lo or (bounds[0].date() if isinstance(bounds[0], dt.datetime) else bounds[0])
                hi = hi or (bounds[1].date() if isinstance(bounds[1], dt.datetime) else bounds[1])
            if lo is not None and hi is not None:
                where = _sql_window(period_col, lo, hi, period_col == "ts")
        # Re-ingesting a period replaces exactly that period; customers are a snapshot.
        # A source that gave no rows never replaces anything: the table keeps its rows.
        if rows_read:
            version: int | None = lakehouse.write(good, path, table, where=where, schema=schemas.bronze_schema(table))
        else:
            version = lakehouse.version(spark, path)
            log.warning("ingest %s: the source gave no rows; the table is left as it was (version %s)", table, version)

        window_text = f"{start or ''}..{end or ''}"
        q = quarantine_rows(bad, table).select("*", F.lit(window_text).alias("window"), *meta)
        lakehouse.write(
            q, cfg.paths.table(schemas.QUARANTINE), schemas.QUARANTINE,
            where=f"table = '{table}' AND window = '{window_text}'", schema=schemas.QUARANTINE_SCHEMA,
        )
    finally:
        checked.unpersist()
    report = IngestReport(table, source_desc, rows_read, rows_read - rows_bad, rows_bad, version, reasons)
    _log_run(spark, cfg, run_id, report, start, end, now)
    return report


def _log_run(
    spark: SparkSession, cfg: Config, run_id: str, r: IngestReport,
    start: dt.date | None, end: dt.date | None, now: dt.datetime,
) -> None:
    row = (run_id, r.table, r.source, start, end, r.rows_read, r.rows_written, r.rows_quarantined,
           r.delta_version, now, dict(getattr(r, "gaps", None) or {}))
    df = spark.createDataFrame([row], schemas.INGEST_LOG_SCHEMA)
    lakehouse.write(df, cfg.paths.table(schemas.INGEST_LOG), schemas.INGEST_LOG, mode="append", add_columns=True)


def run(spark: SparkSession, cfg: Config) -> dict[str, IngestReport]:
    """Ingest every table in ``ingest.tables``; print a summary.

    Returns:
        Report per table.
    """
    run_id = uuid.uuid4().hex[:12]
    now = dt.datetime.now().replace(microsecond=0)
    start = dt.date.fromisoformat(cfg.ingest.period_start) if cfg.ingest.period_start else None
    end = dt.date.fromisoformat(cfg.ingest.period_end) if cfg.ingest.period_end else None
    # Schema gate on every source before any table is written: one bad source leaves all tables as they were.
    sources = {table: gate_source(spark, cfg, table, start, end) for table in cfg.ingest.tables}
    reports = {}
    for table in cfg.ingest.tables:
        rep = ingest_table(spark, cfg, table, run_id, now, sources[table])
        reports[table] = rep
        log.info(
            "ingest %-11s read=%d written=%d quarantined=%d version=%s %s",
            table, rep.rows_read, rep.rows_written, rep.rows_quarantined, rep.delta_version,
            json.dumps(rep.reasons) if rep.reasons else "",
        )
    print(f"ingest run {run_id} ({cfg.ingest.source}):")
    for rep in reports.values():
        print(f"  {rep.table:<12} read {rep.rows_read:>10,}  written {rep.rows_written:>10,}  "
              f"quarantined {rep.rows_quarantined:>7,}  delta v{rep.delta_version}")
        for reason, n in sorted(rep.reasons.items(), key=lambda kv: -kv[1])[:5]:
            print(f"      {n:>8,} x {reason}")
    return reports
