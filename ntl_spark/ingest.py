"""Ingest: source tables (files, JDBC, HBase) -> bronze Delta tables.

In: the data contract's tables (customers, bills, readings, events,
inspections) from the source named by ``ingest.source``.
Out: one Delta table per source table under ``paths.lakehouse`` with the
contract schema plus ingest metadata (run id, source, time); rows that break
the contract go to the ``quarantine`` Delta table with the reason; one row per
table and run in ``ingest_log`` with counts and the Delta version written.

Re-ingesting the same period replaces it (Delta ``replaceWhere``), so a
re-run gives the same tables; a write that would drop more than
``ingest.max_drop_share`` of the rows it replaces stops instead
(:func:`check_drop`). Every table is checked and counted
(:func:`check_table`) before any is written (:func:`write_table`). Every source is gated before anything is
written: a missing or retyped column, a source with no rows (tables outside
``ingest.allow_empty``), a CSV file not in ``ingest.encoding`` or with a
record Spark would misread, a column type Spark cannot read
(``ntl_spark.io.files``) or a CSV column in which nothing parses stops the
job; a column the contract does not know is dropped with a warning
(``ingest.extra_columns``).

Row rules (:func:`contract_rules`) take their thresholds as arguments
(:class:`ContractLimits`); bills, inspections, readings and events are also
checked against the customers of the same run (else the customers table) with
one join. Gaps inside a customer's bills or a meter's readings are counted
(:func:`gap_counts`), not filled.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import lakehouse, schemas
from ntl_spark.config import Config
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.sparkutil import first_row

log = logging.getLogger(__name__)

REASON = "_reason"
UNPARSED = "_unparsed"

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
    # Holes in the rows written, reported and never filled (see gap_counts), e.g. {"missing_months": 12}.
    gaps: dict[str, int] = field(default_factory=dict)
    # First and last day (or month) of the period column whose rows this write replaced; None = no period
    # write (a snapshot table, or nothing written). Readers of the table refresh only these days.
    replaced: tuple[dt.date, dt.date] | None = None


# Columns the contract requires although the bronze schema lets them be null: a
# bill without kWh, days or read type has no meaning (unlike readings.kwh, where
# null is a missing interval). A truncated last CSV line leaves exactly these empty.
REQUIRED_NULLABLE: dict[str, tuple[str, ...]] = {schemas.BILLS: ("kwh", "days", "read_type")}

# Identifiers the tables are joined on. One with leading or trailing whitespace (a CHAR column, a
# fixed-width export) matches no other table's, and trimming it would guess: such rows are quarantined.
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    schemas.CUSTOMERS: ("customer_id", "meter_id"),
    schemas.BILLS: ("customer_id",),
    schemas.READINGS: ("meter_id",),
    schemas.EVENTS: ("meter_id",),
    schemas.INSPECTIONS: ("inspection_id", "customer_id"),
}

# ISO 8601 as CSV exports write it: date, 'T' or space, time with optional
# seconds and fraction, optional offset. Spark's cast parses these (an offset
# is converted to the session time zone) but also accepts fragments such as
# '2026-09' or '2026-9-1 1:2', which the pattern keeps out.
ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"

# Customers key sets up to this size are broadcast to the referential join
# (a few tens of MB); larger ones are joined by shuffle.
BROADCAST_MAX_KEYS = 1_000_000

EXTRA_COLUMN_POLICIES = ("drop", "fail")


@dataclass(frozen=True)
class ContractLimits:
    """Thresholds and vocabularies of the row rules; a field left at its default turns its rule off.

    Attributes:
        max_kwh_per_bill: bills above it are absurd.
        max_kwh_per_interval: readings above it are absurd.
        regions: accepted customers.region values (empty = any).
        tariffs: accepted customers.tariff values (empty = any).
        bbox: (lat_min, lat_max, lon_min, lon_max) the coordinates must fall in (nulls pass).
        now: the ingest time as a naive wall-clock time in the utility's time zone;
            dates after its day and timestamps after ``now + future_tolerance`` are in the future.
        future_tolerance: slack for timestamps (meter clocks run ahead).
        intervals_per_day: readings must start on this grid (96 = every 15 minutes).
    """

    max_kwh_per_bill: float | None = None
    max_kwh_per_interval: float | None = None
    regions: tuple[str, ...] = ()
    tariffs: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    now: dt.datetime | None = None
    future_tolerance: dt.timedelta = dt.timedelta(0)
    intervals_per_day: int | None = None


def contract_limits(cfg: Config, now: dt.datetime) -> ContractLimits:
    """The row rules' limits from ``ingest.*`` (and the readings grid from ``windows.intervals_per_day``).

    Args:
        cfg: loaded configuration.
        now: the ingest time, naive, in the utility's time zone (see :func:`local_now`).
    """
    ic = cfg.ingest
    return ContractLimits(
        max_kwh_per_bill=ic.max_kwh_per_bill,
        max_kwh_per_interval=ic.max_kwh_per_interval,
        regions=tuple(ic.regions),
        tariffs=tuple(ic.tariffs),
        bbox=(ic.bbox.lat_min, ic.bbox.lat_max, ic.bbox.lon_min, ic.bbox.lon_max),
        now=now,
        future_tolerance=dt.timedelta(days=ic.future_tolerance_days),
        intervals_per_day=cfg.windows.intervals_per_day,
    )


def local_now(spark: SparkSession, now: dt.datetime | None = None) -> dt.datetime:
    """``now`` (the machine's local time; default the current time) as wall-clock time of the session time zone.

    Source timestamps are the utility's local time (``spark.sql.session.timeZone``),
    which need not be the zone of the machine that runs the job.
    """
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(spark.conf.get("spark.sql.session.timeZone") or "UTC")
    moment = now.astimezone() if now is not None else dt.datetime.now().astimezone()
    return moment.astimezone(zone).replace(tzinfo=None, microsecond=0)


# ----------------------------------------------------------------- transforms
def rename_columns(df: DataFrame, mapping: dict[str, str]) -> DataFrame:
    """Rename source columns to contract names (``{source_name: contract_name}``)."""
    for src, dst in mapping.items():
        if src in df.columns:
            df = df.withColumnRenamed(src, dst)
    return df


def check_schema(
    df: DataFrame, schema: T.StructType, table: str, text_source: bool = False, extra_columns: str = "fail"
) -> list[str]:
    """Compare a source's columns and types with the contract; raise naming the difference.

    Args:
        df: the source DataFrame (after renaming).
        schema: contract schema of ``table``.
        table: table name, for messages.
        text_source: the source is text (CSV): only column names are checked.
        extra_columns: ``fail`` stops on a column the contract does not know;
            ``drop`` returns such columns for the caller to drop.

    Returns:
        The source's columns the contract does not know (empty unless ``extra_columns="drop"``).

    Raises:
        DataError: a contract column is missing or has an incompatible type, or
            (``extra_columns="fail"``) the source has a column the contract does not know.
    """
    if extra_columns not in EXTRA_COLUMN_POLICIES:
        raise ConfigError(f"ingest.extra_columns must be one of {EXTRA_COLUMN_POLICIES} (got {extra_columns!r})")
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
    if extra and extra_columns == "fail":
        raise DataError(
            f"{table}: unexpected column(s) {extra} in the source; map them in ingest.rename, drop them upstream "
            f"or set ingest.extra_columns=drop"
        )
    if not text_source:
        for fld in schema.fields:
            got = have[fld.name]
            ok = _COMPATIBLE.get(type(fld.dataType), (type(fld.dataType),))
            if not isinstance(got, ok):
                raise DataError(
                    f"{table}: column '{fld.name}' has type {got.simpleString()}, "
                    f"expected {fld.dataType.simpleString()}"
                )
    return extra


def parse_text(text: Column, data_type: T.DataType, timestamp_format: str = "", date_format: str = "") -> Column:
    """Text parsed as ``data_type``; null where it does not parse.

    Args:
        text: trimmed text.
        data_type: contract type.
        timestamp_format: Spark datetime pattern of timestamps; empty = ISO 8601
            (``T`` or space, optional seconds, fraction and offset; a value with
            an offset is converted to the session time zone).
        date_format: Spark datetime pattern of dates; empty = ``YYYY-MM-DD``.
    """
    if isinstance(data_type, T.TimestampType):
        if timestamp_format:
            return F.to_timestamp(text, timestamp_format)
        return F.when(text.rlike(ISO_TIMESTAMP), text.cast(T.TimestampType()))
    if isinstance(data_type, T.DateType):
        if date_format:
            return F.to_date(text, date_format)
        return F.when(text.rlike(ISO_DATE), text.cast(T.DateType()))
    return text.cast(data_type)


def _format_hint(data_type: T.DataType, table: str) -> str:
    if isinstance(data_type, T.TimestampType):
        return ("set ingest.csv_timestamp_format to the Spark datetime pattern of the file "
                "(e.g. dd/MM/yyyy HH:mm:ss); empty = ISO 8601")
    if isinstance(data_type, T.DateType):
        return "set ingest.csv_date_format to the Spark datetime pattern of the file (e.g. dd/MM/yyyy); empty = yyyy-MM-dd"
    return (f"numbers need '.' as the decimal separator and no thousands separator; check that "
            f"ingest.rename.{table} maps the right source column")


def check_text_parses(
    raw: DataFrame, schema: T.StructType, table: str, timestamp_format: str = "", date_format: str = ""
) -> None:
    """Stop when a typed column of a text source has values and none of them parses, or a number has a comma.

    A whole column that fails is a format setting, not bad rows: quarantining
    every row would hide it. So is a number written with a comma (a decimal
    comma or a thousands separator), even where some values parse. Each column
    costs one small job that stops at the first value that parses (numbers:
    one more that stops at the first comma); only a failing (or empty) column
    is read to the end.

    Raises:
        DataError: naming the table, the column, a sample value and the config key to set.
    """
    for fld in schema.fields:
        if isinstance(fld.dataType, T.StringType) or not isinstance(raw.schema[fld.name].dataType, T.StringType):
            continue
        text = F.trim(F.col(fld.name))
        if isinstance(fld.dataType, T.NumericType):
            # '0,047' is 47 thousandths with a decimal comma and '1,234' a thousand with a separator; the
            # integers of such an export parse, so its other rows would be quarantined one by one while
            # the integers replace the period
            comma = raw.where(text.contains(",")).select(text).head(1)
            if comma:
                raise DataError(
                    f"{table}: column '{fld.name}' holds numbers with a comma (e.g. '{comma[0][0]}'): a decimal "
                    f"comma or a thousands separator, which the ingest does not guess; "
                    f"{_format_hint(fld.dataType, table)}"
                )
        parsed = parse_text(text, fld.dataType, timestamp_format, date_format)
        if raw.where(parsed.isNotNull()).select(F.lit(1)).head(1):
            continue
        sample = raw.where(text.isNotNull() & (text != "")).select(text).head(1)
        if sample:
            raise DataError(
                f"{table}: no value of column '{fld.name}' parses as {fld.dataType.simpleString()} "
                f"(e.g. '{sample[0][0]}'); {_format_hint(fld.dataType, table)}"
            )


def cast_to_schema(
    df: DataFrame, schema: T.StructType, timestamp_format: str = "", date_format: str = ""
) -> DataFrame:
    """Cast every contract column to its type; text that does not parse (or a bigint past the int range) gets a reason.

    Args:
        df: the source with the contract's columns (text or typed).
        schema: contract schema.
        timestamp_format, date_format: see :func:`parse_text`.

    Returns:
        ``df`` with the contract's columns (in contract order), ``_reason``
        (null when every value parsed) and ``_unparsed`` (the columns whose
        text did not parse, so that the rules do not report them again as null).
    """
    cols, reasons, unparsed = [], [], []
    for fld in schema.fields:
        src = F.col(fld.name)
        if isinstance(df.schema[fld.name].dataType, T.StringType) and not isinstance(fld.dataType, T.StringType):
            text = F.trim(src)
            parsed = parse_text(text, fld.dataType, timestamp_format, date_format)
            bad = text.isNotNull() & (text != "") & parsed.isNull()
            reasons.append(F.when(bad, F.concat(F.lit(f"{fld.name}: cannot parse '"), text,
                                                 F.lit(f"' as {fld.dataType.simpleString()}"))))
            unparsed.append(F.when(bad, F.lit(fld.name)))
            cols.append(parsed.alias(fld.name))
        elif isinstance(fld.dataType, T.IntegerType) and isinstance(df.schema[fld.name].dataType, T.LongType):
            # a bigint source (accepted for an int column) would wrap around silently past the int range
            out_of_range = src.isNotNull() & ~src.between(-(2**31), 2**31 - 1)
            reasons.append(F.when(out_of_range, F.concat(F.lit(f"{fld.name}: "), src.cast(T.StringType()),
                                                          F.lit(" is outside the int range"))))
            unparsed.append(F.when(out_of_range, F.lit(fld.name)))
            cols.append(F.when(~out_of_range, src.cast(fld.dataType)).alias(fld.name))
        else:
            cols.append(src.cast(fld.dataType).alias(fld.name))
    reason = F.concat_ws("; ", *reasons) if reasons else F.lit("")
    failed = F.filter(F.array(*unparsed), lambda c: c.isNotNull()) if unparsed else F.array().cast("array<string>")
    out = df.select(*cols, reason.alias(REASON), failed.alias(UNPARSED))
    return out.withColumn(REASON, F.when(F.col(REASON) == "", None).otherwise(F.col(REASON)))


# Helper columns the referential join adds (dropped before duplicates are looked for).
_KNOWN = "_ref_known"
_CONNECTED_ON = "_ref_connected_on"
_REF_KEY = "_ref_key"

# The customers column each table's rows must find there.
REFERENCE_KEYS: dict[str, str] = {
    schemas.BILLS: "customer_id",
    schemas.INSPECTIONS: "customer_id",
    schemas.READINGS: "meter_id",
    schemas.EVENTS: "meter_id",
}


def join_customers(df: DataFrame, table: str, customers: DataFrame, broadcast: bool = True) -> DataFrame:
    """Mark the rows whose customer (or meter) is in ``customers``: one left join with a flag column.

    Args:
        df: rows of ``table`` (contract columns).
        table: a table listed in :data:`REFERENCE_KEYS`.
        customers: customers rows (at least ``customer_id``, ``meter_id``, ``connected_on``).
        broadcast: send the key set to every task instead of shuffling ``df``.

    Returns:
        ``df`` plus ``_ref_known`` (true, or null when the key is not in customers)
        and, for inspections, ``_ref_connected_on``.
    """
    key = REFERENCE_KEYS[table]
    known = customers.where(F.col(key).isNotNull())
    if table == schemas.INSPECTIONS:
        ref = known.groupBy(F.col(key).alias(_REF_KEY)).agg(F.min("connected_on").alias(_CONNECTED_ON))
    else:
        ref = known.select(F.col(key).alias(_REF_KEY)).distinct()
    ref = ref.withColumn(_KNOWN, F.lit(True))
    if broadcast:
        ref = F.broadcast(ref)
    # A join condition (not on=key) keeps df's column order; the key set is unique per key.
    return df.join(ref, F.col(key) == ref[_REF_KEY], "left").drop(_REF_KEY)


def _finite(name: str) -> Column:
    """Column ``name`` where it is a finite number, else null (NaN and infinities have a rule of their own)."""
    c = F.col(name)
    return F.when(~F.isnan(c) & (F.abs(c) != F.lit(float("inf"))), c)


def contract_rules(
    table: str, limits: ContractLimits | None = None, referenced: bool = False
) -> list[tuple[str, Column]]:
    """Row rules of the data contract as (reason, column that is true for a bad row).

    The rules apply to the output of :func:`cast_to_schema` (they read its ``_unparsed``).

    Args:
        table: contract table.
        limits: thresholds and vocabularies; None = only the rules that need none.
        referenced: the rows carry the columns of :func:`join_customers`, so the
            referential rules apply.
    """
    lim = limits or ContractLimits()
    required = [f.name for f in schemas.SOURCE_SCHEMAS[table].fields if not f.nullable]
    required += list(REQUIRED_NULLABLE.get(table, ()))
    rules: list[tuple[str, Column]] = [
        (f"{name} is null", F.col(name).isNull() & ~F.array_contains(F.col(UNPARSED), name)) for name in required
    ]
    rules += [
        (f"{name} has leading or trailing whitespace", F.col(name).rlike(r"^\s|\s$"))
        for name in ID_COLUMNS.get(table, ())
    ]
    # NaN and infinities parse as doubles (CSV "NaN", "Infinity"; Parquet float values) and pass a comparison
    # unnoticed or under a wrong reason (NaN sorts above every number): reported as such, and the range
    # rules below read only finite values.
    rules += [
        (f"{f.name} is NaN or infinite", F.isnan(f.name) | (F.abs(f.name) == F.lit(float("inf"))))
        for f in schemas.SOURCE_SCHEMAS[table].fields if isinstance(f.dataType, T.DoubleType)
    ]
    ahead = lim.now + lim.future_tolerance if lim.now is not None else None
    today = lim.now.date() if lim.now is not None else None

    def future_date(col: str) -> list[tuple[str, Column]]:
        return [] if today is None else [(f"{col} after the ingest date", F.col(col) > F.lit(today))]

    def future_ts(col: str) -> list[tuple[str, Column]]:
        if ahead is None:
            return []
        days = lim.future_tolerance.total_seconds() / 86400
        # a string literal is read in the session time zone, like the data (a datetime literal would use the OS zone)
        limit = F.lit(ahead.isoformat(sep=" ")).cast(T.TimestampType())
        return [(f"{col} more than {days:g} day(s) after the ingest time", F.col(col) > limit)]

    if table == schemas.CUSTOMERS:
        rules += [
            ("meter_type not in " + "/".join(schemas.METER_TYPES), ~F.col("meter_type").isin(*schemas.METER_TYPES)),
            ("status not in " + "/".join(schemas.CUSTOMER_STATUS), ~F.col("status").isin(*schemas.CUSTOMER_STATUS)),
            ("contracted_kw <= 0", _finite("contracted_kw") <= 0),
            ("smart meter without meter_id", (F.col("meter_type") == "smart") & F.col("meter_id").isNull()),
        ]
        if lim.regions:
            rules.append(("region not in ingest.regions", ~F.col("region").isin(*lim.regions)))
        if lim.tariffs:
            rules.append(("tariff not in ingest.tariffs", ~F.col("tariff").isin(*lim.tariffs)))
        if lim.bbox is not None:
            lat_min, lat_max, lon_min, lon_max = lim.bbox
            outside = ~_finite("latitude").between(lat_min, lat_max) | ~_finite("longitude").between(lon_min, lon_max)
            rules.append((f"coordinates outside lat {lat_min:g}..{lat_max:g}, lon {lon_min:g}..{lon_max:g}", outside))
        rules += future_date("connected_on")
    elif table == schemas.BILLS:
        rules.append(("kwh negative", _finite("kwh") < 0))
        if lim.max_kwh_per_bill is not None:
            rules.append((f"kwh above {lim.max_kwh_per_bill:g}", _finite("kwh") > lim.max_kwh_per_bill))
        rules += [
            ("days outside 1..62", (F.col("days") < 1) | (F.col("days") > 62)),
            ("read_type not in " + "/".join(schemas.READ_TYPES), ~F.col("read_type").isin(*schemas.READ_TYPES)),
            ("period not the first day of a month", F.dayofmonth("period") != 1),
        ]
        rules += future_date("period")
    elif table == schemas.READINGS:
        rules.append(("kwh negative", _finite("kwh") < 0))
        if lim.max_kwh_per_interval is not None:
            rules.append((f"kwh above {lim.max_kwh_per_interval:g}", _finite("kwh") > lim.max_kwh_per_interval))
        if lim.intervals_per_day:
            step = 24 * 60 // lim.intervals_per_day
            ts = F.col("ts")
            off_grid = (
                ((F.hour(ts) * 60 + F.minute(ts)) % step != 0)
                | (F.second(ts) != 0)
                | (F.unix_micros(ts) % 1_000_000 != 0)
            )
            rules.append((f"ts not on the {step}-minute grid", off_grid))
        rules += future_ts("ts")
    elif table == schemas.EVENTS:
        rules.append(("code not in " + "/".join(schemas.EVENT_CODES), ~F.col("code").isin(*schemas.EVENT_CODES)))
        rules += future_ts("ts")
    elif table == schemas.INSPECTIONS:
        rules += [
            ("outcome not in " + "/".join(schemas.OUTCOMES), ~F.col("outcome").isin(*schemas.OUTCOMES)),
            ("recovered_kwh negative", _finite("recovered_kwh") < 0),
        ]
        rules += future_date("inspected_on")
        if referenced:
            rules.append(("inspected_on before the customer's connected_on",
                          F.col("inspected_on") < F.col(_CONNECTED_ON)))
    if referenced and table in REFERENCE_KEYS:
        key = REFERENCE_KEYS[table]
        rules.append((f"{key} not in customers", F.col(key).isNotNull() & F.col(_KNOWN).isNull()))
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
    limits: ContractLimits | None = None,
    *,
    customers: DataFrame | None = None,
    broadcast_customers: bool = True,
    timestamp_format: str = "",
    date_format: str = "",
    extra_columns: str = "fail",
) -> DataFrame:
    """Schema gate, casting, contract rules and duplicate detection for one table.

    Args:
        raw: the source after renaming.
        table: contract table.
        text_source: the source is text (CSV): values are parsed, types not checked.
        limits: thresholds and vocabularies of the row rules (None = rules that need none).
        customers: customers rows (``customer_id``, ``meter_id``, ``connected_on``)
            that bills, inspections, readings and events must refer to; None
            leaves the referential rules out.
        broadcast_customers: broadcast the customers key set (small key sets).
        timestamp_format, date_format: text formats (see :func:`parse_text`).
        extra_columns: ``fail`` or ``drop`` a column the contract does not know.

    Returns:
        The contract columns plus ``_reason`` (null for good rows).

    Raises:
        DataError: the source's schema differs from the contract.
    """
    schema = schemas.SOURCE_SCHEMAS[table]
    extra = check_schema(raw, schema, table, text_source=text_source, extra_columns=extra_columns)
    typed = cast_to_schema(raw.drop(*extra), schema, timestamp_format, date_format)
    referenced = False
    if customers is not None and table in REFERENCE_KEYS:
        typed = join_customers(typed, table, customers, broadcast_customers)
        referenced = True
    ruled = apply_rules(typed, contract_rules(table, limits, referenced)).select(*schema.fieldNames(), REASON)
    return flag_duplicates(ruled, schemas.PRIMARY_KEYS[table])


def gap_counts(good: DataFrame, table: str) -> DataFrame | None:
    """Holes inside each customer's bills or each meter's readings, counted (never filled).

    Bills: months between a customer's first and last period without a bill;
    readings: days between a meter's first and last reading without any.
    The distinct key-units (meter-days, customer-months) come first, in an
    aggregation that spills, so a year of a large fleet's readings is reduced
    96-fold before the per-key span is taken (a per-key ``countDistinct``
    beside ``min``/``max`` ran out of execution memory at 578M readings).

    Args:
        good: the rows written (contract columns).
        table: contract table.

    Returns:
        One row (``customers_with_gaps``, ``missing_months``) for bills,
        (``meters_with_gaps``, ``missing_meter_days``) for readings; None for other tables.
    """
    u = F.col("_unit")
    if table == schemas.BILLS:
        key, unit, what = "customer_id", F.col("period"), ("customers_with_gaps", "missing_months")
        span = F.months_between(F.max(u), F.min(u)).cast("int")
    elif table == schemas.READINGS:
        key, unit, what = "meter_id", F.to_date("ts"), ("meters_with_gaps", "missing_meter_days")
        span = F.datediff(F.max(u), F.min(u))
    else:
        return None
    units = good.select(key, unit.alias("_unit")).where(u.isNotNull()).distinct()
    per_key = units.groupBy(key).agg((span + 1 - F.count(F.lit(1))).alias("_missing"))
    return per_key.agg(
        F.count(F.when(F.col("_missing") > 0, True)).cast("long").alias(what[0]),
        F.coalesce(F.sum("_missing"), F.lit(0)).cast("long").alias(what[1]),
    )


def gaps(good: DataFrame, table: str) -> dict[str, int]:
    """:func:`gap_counts` as a dict (empty for tables without a gap measure)."""
    counts = gap_counts(good, table)
    if counts is None:
        return {}
    row = first_row(counts, f"gaps of {table}")
    return {k: int(v) for k, v in row.asDict().items()}


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


# -------------------------------------------------------------------- sources
@dataclass(frozen=True)
class MeterList:
    """The meters an HBase read asks for, and where the list came from."""

    meter_ids: tuple[str, ...]
    source: str
    customers_without_meter: int


def hbase_meters(
    spark: SparkSession, cfg: Config, customers_source: tuple[DataFrame, bool, str] | None = None
) -> MeterList | None:
    """The meter ids of this run's customers source, else of the customers table (bronze).

    With the meter list the HBase reader reads a day window by multi-gets or
    one key range per meter instead of the row-key regex over the whole table
    (``ntl_spark.io.hbase.choose_strategy``). Meters that no customer row names
    are then not read at all (and so not quarantined as unknown meters):
    ``hbase.scan=filter`` reads every meter, for a backfill or an audit.

    Args:
        customers_source: this run's customers, as :func:`gate_source` read them
            (every row counts, also one quarantined for another rule, as in :func:`customer_keys`).

    Returns:
        The list, or None when ``hbase.scan=filter`` or there is no customers table yet.
    """
    if cfg.hbase.scan == "filter":
        return None
    if customers_source is not None:
        # gated: meter_id is a string column in every source, text or typed
        df, _, desc = customers_source
        where = f"this run's customers ({desc})"
    else:
        pinned = lakehouse.read_optional(spark, cfg.paths.table(schemas.CUSTOMERS))
        if pinned is None:
            return None
        df, where = pinned.df, f"the customers table v{pinned.version}"
    meter = F.trim(F.col("meter_id"))
    counts = df.agg(
        F.collect_set(F.when(meter != "", meter)).alias("meters"),
        F.sum(F.when(meter.isNull() | (meter == ""), 1).otherwise(0)).alias("without"),
    )
    row = first_row(counts, "customers' meters")
    return MeterList(tuple(sorted(row["meters"])), where, int(row["without"] or 0))


def read_source(
    spark: SparkSession, cfg: Config, table: str, start: dt.date | None, end: dt.date | None,
    customers_source: tuple[DataFrame, bool, str] | None = None,
) -> tuple[DataFrame, bool, str]:
    """Read one contract table from the configured source.

    Args:
        customers_source: this run's customers source, whose meters an HBase
            read asks for (:func:`hbase_meters`; else the customers table's).

    Returns:
        (raw DataFrame, whether it is a text source, a description of the source).
    """
    schema = schemas.SOURCE_SCHEMAS[table]
    source = cfg.ingest.source
    if source == "files":
        from ntl_spark.io.files import read_files, source_path

        fmt = cfg.ingest.format
        raw = read_files(spark, cfg.raw_dir, table, fmt, schema, encoding=cfg.ingest.encoding,
                         delimiter=cfg.ingest.csv_delimiter)
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
        meters = hbase_meters(spark, cfg, customers_source)
        if meters is not None:
            log.info(
                "ingest %s: reading the %d meters of %s from HBase (%d customers without a meter id); meters no "
                "customer names are not read (hbase.scan=filter reads every meter)",
                table, len(meters.meter_ids), meters.source, meters.customers_without_meter,
            )
        elif cfg.hbase.scan != "filter":
            _warn(f"{table}: no customers source in this run and no customers table: HBase is read without a "
                  f"meter list (hbase.scan={cfg.hbase.scan})")
        ids = meters.meter_ids if meters is not None else None
        desc = f"hbase:{cfg.hbase.host}:{cfg.hbase.port}/{cfg.hbase.table}"
        return read(spark, cfg.hbase, start, end, ids), False, desc
    raise ConfigError(f"ingest.source={source!r} cannot read table '{table}'")


# --------------------------------------------------------------------- writes
def _warn(message: str) -> None:
    """A warning the job goes on after: logged once (stderr under spark-submit, the scheduler's log)."""
    log.warning(message)


def _empty_source_error(cfg: Config, table: str, source_desc: str) -> DataError:
    where = source_desc
    if cfg.ingest.source == "files":
        from ntl_spark.io.files import data_files, source_path

        path = source_path(cfg.raw_dir, table, cfg.ingest.format)
        files = [str(f) for f in data_files(path)]
        where = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "") if files else path
    return DataError(
        f"{table}: the source has no rows ({where}: a header only?); ingesting it would leave an empty {table} "
        f"period. Fix the extraction, or list the table in ingest.allow_empty (now {cfg.ingest.allow_empty}) "
        f"if it may be empty"
    )


def gate_source(
    spark: SparkSession, cfg: Config, table: str, start: dt.date | None, end: dt.date | None,
    customers_source: tuple[DataFrame, bool, str] | None = None,
) -> tuple[DataFrame, bool, str]:
    """Read one source (files, JDBC or HBase), rename its columns and check them against the contract.

    ``customers_source`` (this run's customers, already gated) names the
    meters an HBase source is read for (:func:`hbase_meters`).

    A column the contract does not know is dropped with a warning, or stops
    the job when ``ingest.extra_columns`` is ``fail``.

    Returns:
        (renamed raw DataFrame without unknown columns, whether it is a text source, a description of the source).

    Raises:
        DataError: the source's columns or types differ from the contract, it
            has no rows (unless the table is in ``ingest.allow_empty``), a CSV
            file is not in ``ingest.encoding``, or no value of a CSV column
            parses (the message names the column and the config key to set).
    """
    schema = schemas.SOURCE_SCHEMAS[table]
    policy = cfg.ingest.extra_columns
    raw, text_source, source_desc = read_source(spark, cfg, table, start, end, customers_source)
    raw = rename_columns(raw, cfg.ingest.rename.get(table, {}))
    extra = check_schema(raw, schema, table, text_source=text_source, extra_columns=policy)
    if source_desc.startswith("jdbc:"):
        # The JDBC reader selects the contract columns; a column added upstream is still a schema change.
        from ntl_spark.io.jdbc import source_expression, source_schema

        renames = {k.lower(): v.lower() for k, v in cfg.ingest.rename.get(table, {}).items()}
        found = source_schema(spark, cfg.jdbc, table, source_expression(cfg.jdbc, table, start, end)).fieldNames()
        known = {n.lower() for n in schema.fieldNames()}
        upstream = [c for c in found if renames.get(c.lower(), c.lower()) not in known]
        if upstream and policy == "fail":
            raise DataError(f"{table}: unexpected column(s) {upstream} in the source; map them in "
                            f"ingest.rename, select the contract columns in jdbc.tables.{table} "
                            f"or set ingest.extra_columns=drop")
        extra += [c for c in upstream if c not in extra]
    if extra:
        _warn(f"{table}: column(s) {extra} of {source_desc} are not in the contract and are dropped "
              f"(ingest.extra_columns=fail stops instead)")
        raw = raw.drop(*[c for c in extra if c in raw.columns])
    if table not in cfg.ingest.allow_empty and raw.isEmpty():
        raise _empty_source_error(cfg, table, source_desc)
    if text_source:
        check_text_parses(raw, schema, table, cfg.ingest.csv_timestamp_format, cfg.ingest.csv_date_format)
    return raw, text_source, source_desc


@dataclass(frozen=True)
class CustomerKeys:
    """The customers that rows of bills, inspections, readings and events must refer to.

    Attributes:
        df: ``customer_id``, ``meter_id``, ``connected_on`` (cached by :func:`customer_keys`).
        rows: its row count.
        source: where it came from, for messages.
    """

    df: DataFrame
    rows: int
    source: str

    @property
    def broadcast(self) -> bool:
        return self.rows <= BROADCAST_MAX_KEYS


def customer_keys(
    spark: SparkSession, cfg: Config, sources: dict[str, tuple[DataFrame, bool, str]]
) -> CustomerKeys | None:
    """The customers of this run's customers source, else of the customers table; None when neither exists.

    Every row of the customers source counts, also one quarantined for another
    rule (bad coordinates, say): the referential rules ask whether the utility
    knows the customer, and a quarantined customer row should not take its
    bills along.
    """
    cols = ["customer_id", "meter_id", "connected_on"]
    if schemas.CUSTOMERS in sources:
        raw, _, desc = sources[schemas.CUSTOMERS]
        typed = cast_to_schema(raw, schemas.CUSTOMERS_SCHEMA, cfg.ingest.csv_timestamp_format,
                               cfg.ingest.csv_date_format)
        df, where = typed.select(*cols), f"this run's customers ({desc})"
    else:
        path = cfg.paths.table(schemas.CUSTOMERS)
        if not lakehouse.is_table(spark, path):
            return None
        pinned = lakehouse.read_pinned(spark, path, schemas.CUSTOMERS, "ingest")
        df, where = pinned.df.select(*cols), f"the customers table v{pinned.version}"
        # The run that wrote the table counted its quarantined customer rows too: count them
        # here as well, or re-ingesting a period would quarantine bills the first ingest kept.
        quarantine = lakehouse.read_optional(spark, cfg.paths.table(schemas.QUARANTINE))
        if quarantine is not None:
            refused = (
                quarantine.df.where(F.col("table") == schemas.CUSTOMERS)
                .join(pinned.df.select("_ingest_run_id").distinct(), "_ingest_run_id", "left_semi")
                .select(F.from_json("record", "customer_id string, meter_id string, connected_on date").alias("r"))
                .select(*[F.col(f"r.{c}").alias(c) for c in cols])
            )
            df, where = df.unionByName(refused), f"{where} and its quarantined rows"
    df = df.persist()
    return CustomerKeys(df, df.count(), where)


@dataclass(frozen=True)
class CheckedTable:
    """One table of a run, checked and counted but not written (:func:`check_table`).

    Attributes:
        checked: the source's rows in the period with ``_reason`` (persisted until written).
        where: the predicate of the rows the write replaces (None: the whole table, a snapshot).
    """

    table: str
    source: str
    checked: DataFrame
    rows_read: int
    reasons: dict[str, int]
    gaps: dict[str, int]
    where: str | None
    replaced: tuple[dt.date, dt.date] | None

    @property
    def rows_bad(self) -> int:
        return sum(self.reasons.values())


def check_table(
    spark: SparkSession, cfg: Config, table: str, now: dt.datetime,
    source: tuple[DataFrame, bool, str] | None = None,
    customers: CustomerKeys | None = None,
) -> CheckedTable:
    """Read and check one table, count its rows and reasons, and decide what its write replaces; write nothing.

    Args:
        source: the table's source already read by :func:`gate_source` (read here when None).
        customers: the customers other tables must refer to (:func:`customer_keys`);
            None leaves the referential rules out.

    Raises:
        DataError: every row broke the contract, or the write would drop more
            than ``ingest.max_drop_share`` of the rows it replaces (:func:`check_drop`).
    """
    start, end = cfg.ingest.period
    raw, text_source, source_desc = source or gate_source(spark, cfg, table, start, end)
    checked = conform(
        raw, table, text_source, contract_limits(cfg, local_now(spark, now)),
        customers=customers.df if customers else None,
        broadcast_customers=customers.broadcast if customers else False,
        timestamp_format=cfg.ingest.csv_timestamp_format, date_format=cfg.ingest.csv_date_format,
        extra_columns=cfg.ingest.extra_columns,
    )
    period_col = schemas.PERIOD_COLUMNS[table]
    window = period_filter(period_col, start, end) if period_col else None
    if period_col and window is not None:
        # rows whose period does not parse stay in scope so that they are quarantined
        checked = checked.where(window | F.col(period_col).isNull())
    checked = checked.persist()
    try:
        rows_read = checked.count()
        good = checked.where(F.col(REASON).isNull())
        reasons = {r["reason"]: int(r["n"]) for r in checked.where(F.col(REASON).isNotNull())
                   .groupBy(F.col(REASON).alias("reason")).agg(F.count("*").alias("n")).collect()}
        rows_bad = sum(reasons.values())
        holes = gaps(good, table)
        if rows_read and rows_bad == rows_read:
            raise DataError(f"{table}: every one of the {rows_read} rows broke the contract: {reasons}")
        where: str | None = None
        replaced: tuple[dt.date, dt.date] | None = None
        if period_col and rows_read:
            lo = start
            hi = end
            if lo is None or hi is None:
                # Days of the session time zone, taken in Spark: a timestamp collected into Python is
                # converted to the driver machine's zone, whose day can differ from the utility's.
                day = F.to_date(period_col)
                bounds = first_row(good.agg(F.min(day), F.max(day)), table)
                lo = lo or bounds[0]
                hi = hi or bounds[1]
            if lo is not None and hi is not None:
                where = lakehouse.day_window(period_col, lo, hi, period_col == "ts")
                replaced = (lo, hi)
        if rows_read:
            check_drop(spark, cfg.paths.table(table), table, where, rows_read - rows_bad, rows_bad,
                       cfg.ingest.max_drop_share)
    except BaseException:
        checked.unpersist()
        raise
    return CheckedTable(table, source_desc, checked, rows_read, reasons, holes, where, replaced)


def write_table(spark: SparkSession, cfg: Config, c: CheckedTable, run_id: str, now: dt.datetime) -> IngestReport:
    """Write one checked table, its quarantined rows and its ``ingest_log`` row; release its rows.

    Re-ingesting a period replaces exactly that period; customers are a
    snapshot. A source that gave no rows never replaces anything: the table
    keeps its rows.
    """
    start, end = cfg.ingest.period
    meta = [
        F.lit(run_id).alias("_ingest_run_id"),
        F.lit(c.source).alias("_ingest_source"),
        F.lit(now).cast("timestamp").alias("_ingested_at"),
    ]
    path = cfg.paths.table(c.table)
    try:
        if c.rows_read:
            good = c.checked.where(F.col(REASON).isNull()).drop(REASON).select("*", *meta)
            version: int | None = lakehouse.write(good, path, c.table, where=c.where,
                                                  schema=schemas.bronze_schema(c.table))
            window_text = f"{start or ''}..{end or ''}"
            bad = c.checked.where(F.col(REASON).isNotNull())
            q = quarantine_rows(bad, c.table).select("*", F.lit(window_text).alias("window"), *meta)
            # the kept rows keep their quarantined siblings too
            lakehouse.write(
                q, cfg.paths.table(schemas.QUARANTINE), schemas.QUARANTINE,
                where=f"table = '{c.table}' AND window = '{window_text}'", schema=schemas.QUARANTINE_SCHEMA,
            )
        else:
            version = lakehouse.version(spark, path)
            log.warning("ingest %s: the source gave no rows; the table is left as it was (version %s)", c.table,
                        version)
    finally:
        c.checked.unpersist()
    report = IngestReport(c.table, c.source, c.rows_read, c.rows_read - c.rows_bad, c.rows_bad, version, c.reasons,
                          c.gaps, c.replaced if c.rows_read else None)
    _log_run(spark, cfg, run_id, report, start, end, now)
    return report


def ingest_table(
    spark: SparkSession, cfg: Config, table: str, run_id: str, now: dt.datetime,
    source: tuple[DataFrame, bool, str] | None = None,
    customers: CustomerKeys | None = None,
) -> IngestReport:
    """Read, check and write one table (:func:`check_table`, then :func:`write_table`); return its counts."""
    return write_table(spark, cfg, check_table(spark, cfg, table, now, source, customers), run_id, now)


def check_drop(
    spark: SparkSession, path: str, table: str, where: str | None, rows_kept: int, rows_bad: int, max_drop_share: float,
) -> None:
    """Stop before a write that would drop more than ``max_drop_share`` of the rows it replaces.

    A file cut at a line boundary, a partial extraction or a source half of
    whose rows break the contract reads as a valid, smaller period (or
    customers snapshot), and writing it would delete the rest from the table.

    Args:
        path: the table.
        where: the predicate of the rows the write replaces (None: all of them, a snapshot).
        rows_kept: rows the write would put in their place.
        rows_bad: rows of the source quarantined, for the message.
        max_drop_share: largest share of the replaced rows the write may drop (1 = no limit).

    Raises:
        DataError: naming the table, both counts and ``ingest.max_drop_share``.
    """
    if max_drop_share >= 1:
        return
    current = lakehouse.read_optional(spark, path)
    if current is None:
        return
    replaced = (current.df if where is None else current.df.where(where)).count()
    if replaced and rows_kept < replaced * (1 - max_drop_share):
        what = f"{replaced:,} rows of v{current.version}" + (f" ({where})" if where else " (the whole snapshot)")
        raise DataError(
            f"{table}: this run would replace {what} with {rows_kept:,} ({1 - rows_kept / replaced:.0%} fewer"
            f"{f'; {rows_bad:,} source rows quarantined' if rows_bad else ''}): a file cut short or a partial "
            f"extraction? The table is left as it was; set ingest.max_drop_share (now {max_drop_share:g}) to 1 "
            f"to accept the drop"
        )


def _log_run(
    spark: SparkSession, cfg: Config, run_id: str, r: IngestReport,
    start: dt.date | None, end: dt.date | None, now: dt.datetime,
) -> None:
    row = (run_id, r.table, r.source, start, end, r.rows_read, r.rows_written, r.rows_quarantined,
           r.delta_version, now, dict(r.gaps), *(r.replaced or (None, None)))
    df = spark.createDataFrame([row], schemas.INGEST_LOG_SCHEMA)
    lakehouse.write(df, cfg.paths.table(schemas.INGEST_LOG), schemas.INGEST_LOG, mode="append", add_columns=True)


def run(spark: SparkSession, cfg: Config) -> dict[str, IngestReport]:
    """Ingest every table in ``ingest.tables``; print a summary.

    Returns:
        Report per table.
    """
    run_id = uuid.uuid4().hex[:12]
    now = dt.datetime.now().replace(microsecond=0)
    start, end = cfg.ingest.period
    # Schema gate on every source before any table is written: one bad source leaves all tables as they were.
    # customers first: their meters are the meters an HBase source is read for
    sources: dict[str, tuple[DataFrame, bool, str]] = {}
    for table in sorted(cfg.ingest.tables, key=lambda t: t != schemas.CUSTOMERS):
        sources[table] = gate_source(spark, cfg, table, start, end, sources.get(schemas.CUSTOMERS))
    customers = customer_keys(spark, cfg, sources)
    if customers is None and any(t in REFERENCE_KEYS for t in cfg.ingest.tables):
        _warn("no customers source in this run and no customers table: rows are not checked against customers")
    reports = {}
    checked: list[CheckedTable] = []
    try:
        # Every table is checked and counted before any is written: a table whose rows all break the
        # contract, or whose write would drop most of what it replaces, leaves every table as it was.
        for table in cfg.ingest.tables:
            checked.append(check_table(spark, cfg, table, now, sources[table], customers))
        for c in checked:
            rep = reports[c.table] = write_table(spark, cfg, c, run_id, now)
            log.info(
                "ingest %-11s read=%d written=%d quarantined=%d version=%s %s %s",
                c.table, rep.rows_read, rep.rows_written, rep.rows_quarantined, rep.delta_version,
                json.dumps(rep.reasons) if rep.reasons else "", json.dumps(rep.gaps) if rep.gaps else "",
            )
    finally:
        for c in checked:
            c.checked.unpersist()
        if customers is not None:
            customers.df.unpersist()
    print(f"ingest run {run_id} ({cfg.ingest.source}):")
    for rep in reports.values():
        print(f"  {rep.table:<12} read {rep.rows_read:>10,}  written {rep.rows_written:>10,}  "
              f"quarantined {rep.rows_quarantined:>7,}  delta v{rep.delta_version}")
        for reason, n in sorted(rep.reasons.items(), key=lambda kv: -kv[1])[:5]:
            print(f"      {n:>8,} x {reason}")
        if rep.gaps:
            print("      gaps (reported, not filled): " + ", ".join(f"{k} {v:,}" for k, v in rep.gaps.items()))
    return reports
