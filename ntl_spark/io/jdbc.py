"""Relational sources over JDBC (Oracle in production, PostgreSQL locally).

In: a contract table name (customers, bills, inspections) mapped by
``jdbc.tables`` onto a source table, a ``(select ...) t`` query, or a table
function call (``table(pkg.bills_fn({start}, {end}))``, wrapped in a select);
``{start}``/``{end}`` in that text become ``DATE 'yyyy-mm-dd'`` literals.
Out: a DataFrame with exactly the contract schema passed in (names renamed,
types cast).

Before any data moves, the source's columns and types are checked against the
schema: a dropped or retyped column raises ``ValueError`` naming it. Reads are
split into partitions by period predicates (one per month of the window), or by
``jdbc.partition_columns[table]``: numeric columns by range (bounds from the
source), others by a hash expression per dialect (``jdbc.hash_template``).

``read_table`` reads the rows once, into Spark's cache, before it returns: a
read that loses its connection (SQLState class 08, PostgreSQL's 57P0x, Java's
``SQLRecoverableException`` / ``SQLTransientException``) is read again up to
``jdbc.retries`` times with exponential backoff, since Spark does not retry a
failed task in local mode. Any other failure, or the last retry's, raises
``JdbcReadError`` naming the URL, the table and the SQLState, so a job stops
before it writes anything.

``write_table`` replaces the rows of a key (a scoring run, a campaign)
atomically (staging table, then ``delete where <key> in (...)`` + ``insert ...
select`` in one transaction; ``write_scores`` is it for scores);
``load_tables`` bulk-loads generated tables into PostgreSQL with COPY.

Passwords come from the environment variable named by ``jdbc.password_env``
or the file named by ``jdbc.password_file``, never from the repository.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    IntegralType,
    LongType,
    MapType,
    NumericType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from ntl_spark import schemas
from ntl_spark.config import JdbcConf
from ntl_spark.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$#.]*$")

# SQLStates after which the same read may succeed: class 08 (connection
# exception) plus these; 57P0x are PostgreSQL's administrator / crash shutdown.
_TRANSIENT_SQLSTATES = ("40001", "40P01", "53300", "57P01", "57P02", "57P03")
_TRANSIENT_CLASSES = ("java.sql.SQLRecoverableException", "java.sql.SQLTransientException")


class JdbcReadError(RuntimeError):
    """A JDBC read failed (after its retries when the failure was transient).

    The message names the URL, the contract table, the source and the SQLState.
    """


# ------------------------------------------------------------------ settings
def jdbc_password(jc: JdbcConf) -> str:
    """The database password from ``jdbc.password_file`` or the ``jdbc.password_env`` variable.

    Raises:
        ValueError: neither is set (the message names both keys).
    """
    if jc.password_file:
        path = Path(jc.password_file).expanduser()
        try:
            return path.read_text().strip()
        except OSError as e:
            raise ConfigError(f"config key 'jdbc.password_file': cannot read {path}: {e}") from e
    value = os.environ.get(jc.password_env) if jc.password_env else None
    if value is None:
        raise ValueError(
            f"no JDBC password: set the environment variable {jc.password_env!r} (jdbc.password_env) "
            "or name a file in jdbc.password_file"
        )
    return value


def dialect(jc: JdbcConf) -> str:
    """``oracle``, ``postgresql`` or the JDBC subprotocol of ``jc.url``."""
    m = re.match(r"jdbc:([a-z0-9]+):", jc.url)
    return m.group(1) if m else "unknown"


def _options(jc: JdbcConf) -> dict[str, str]:
    opts = {
        "url": jc.url,
        "driver": jc.driver,
        "user": jc.user,
        "password": jdbc_password(jc),
        "fetchsize": str(jc.fetchsize),
    }
    if jc.session_init:
        opts["sessionInitStatement"] = jc.session_init
    return opts


def source_expression(jc: JdbcConf, table: str, start: dt.date | None = None, end: dt.date | None = None) -> str:
    """What goes after FROM for contract table ``table``: a name or a parenthesised, aliased query.

    ``{start}``/``{end}`` placeholders are replaced by ``DATE`` literals (needed by
    table functions that take the window as arguments).
    """
    text = jc.tables.get(table, table).strip()
    if "{start}" in text or "{end}" in text:
        if start is None or end is None:
            raise ConfigError(f"jdbc.tables.{table} uses {{start}}/{{end}} but no period window was given")
        text = text.replace("{start}", _date_literal(start)).replace("{end}", _date_literal(end))
    if text.startswith("("):
        return text
    if _IDENT.match(text):
        return text
    # a table function call or any other FROM item: select from it
    return f"(select * from {text}) src"


def _date_literal(day: dt.date) -> str:
    return f"DATE '{day:%Y-%m-%d}'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -------------------------------------------------------------- schema check
def _compatible(expected: DataType, actual: DataType) -> bool:
    if isinstance(expected, StringType):
        return isinstance(actual, StringType)
    if isinstance(expected, (DoubleType, FloatType)):
        return isinstance(actual, NumericType)
    if isinstance(expected, (IntegerType, LongType)):
        # Oracle NUMBER(p) arrives as DECIMAL(p, 0); a bare NUMBER as DECIMAL(38, 10)
        return isinstance(actual, (IntegralType, DecimalType))
    if isinstance(expected, DateType):
        return isinstance(actual, (DateType, TimestampType, TimestampNTZType))  # Oracle DATE has a time part
    if isinstance(expected, (TimestampType, TimestampNTZType)):
        return isinstance(actual, (TimestampType, TimestampNTZType, DateType))
    return type(expected) is type(actual)


def check_columns(
    actual: StructType,
    expected: StructType,
    table: str,
    rename: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Match the source's columns to the contract's and check their types.

    Args:
        actual: schema the source reports (no rows read).
        expected: the contract schema.
        table: contract table name (for messages).
        rename: source column name -> contract name (``ingest.rename[table]``).

    Returns:
        Contract column name -> source column name.

    Raises:
        ValueError: a contract column is missing or has an incompatible type; the
            message names the column, the source type and the expected one.
    """
    by_contract: dict[str, Any] = {}
    renames = {k.lower(): v for k, v in (rename or {}).items()}
    for field in actual.fields:
        contract = renames.get(field.name.lower(), field.name).lower()
        by_contract[contract] = field
    mapping = {}
    for field in expected.fields:
        src = by_contract.get(field.name.lower())
        if src is None:
            raise ValueError(
                f"source table for '{table}': column '{field.name}' is missing "
                f"(source columns: {[f.name for f in actual.fields]})"
            )
        if not _compatible(field.dataType, src.dataType):
            raise ValueError(
                f"source table for '{table}': column '{field.name}' (source '{src.name}') has type "
                f"{src.dataType.simpleString()}, expected {field.dataType.simpleString()}"
            )
        mapping[field.name] = src.name
    return mapping


def source_schema(spark: SparkSession, jc: JdbcConf, table: str, source: str) -> StructType:
    """Columns and types of ``source`` as Spark sees them (Spark runs ``... WHERE 1=0``)."""
    reader = spark.read.format("jdbc").options(**_options(jc)).option("dbtable", source)
    if table in jc.custom_schema:
        reader = reader.option("customSchema", jc.custom_schema[table])
    try:
        return reader.load().schema
    except Exception as e:
        raise ValueError(f"cannot read the columns of {source!r} for '{table}' at {jc.url}: {e}") from e


# --------------------------------------------------------------------- read
def month_windows(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[start, end] cut at month boundaries: ``(first_day, day_after_last)`` pairs."""
    out = []
    lo = start
    while lo <= end:
        nxt = dt.date(lo.year + (lo.month == 12), lo.month % 12 + 1, 1)
        hi = min(nxt, end + dt.timedelta(days=1))
        out.append((lo, hi))
        lo = nxt
    return out


def hash_expression(jc: JdbcConf, column: str, n: int) -> str:
    """SQL giving a partition number in [0, n) for ``column`` (already quoted)."""
    template = jc.hash_template
    if not template:
        kind = dialect(jc)
        if kind == "oracle":
            template = "mod(ora_hash({column}), {n})"
        elif kind == "postgresql":
            template = "mod(mod(hashtext(cast({column} as text)), {n}) + {n}, {n})"
        else:
            raise ConfigError(f"no hash expression known for {jc.url!r}: set jdbc.hash_template")
    return template.format(column=column, n=n)


def read_table(
    spark: SparkSession,
    jc: JdbcConf,
    table: str,
    schema: StructType,
    period_column: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    rename: Mapping[str, str] | None = None,
) -> DataFrame:
    """Read contract table ``table`` from the database as ``schema``.

    Args:
        spark: active session (JDBC driver jar on its classpath).
        jc: connection, fetch size, partitioning and per-table mapping.
        table: contract table name (key of ``jdbc.tables``).
        schema: contract schema; the result has exactly these columns and types.
        period_column: contract column that places a row in time (``period``,
            ``inspected_on``); with ``start``/``end`` it bounds the read and
            splits it into one partition per month.
        start: first day of the window (inclusive), or ``None``.
        end: last day of the window (inclusive), or ``None``.
        rename: source column name -> contract name.

    Returns:
        A DataFrame of ``schema`` whose rows are already read and cached
        (``unpersist()`` it when done); later actions do not query the source again.

    Raises:
        ValueError: a column is missing or retyped in the source (named), the
            password is not configured, or the source cannot be reached.
        JdbcReadError: the rows could not be read (after ``jdbc.retries``
            retries when the connection was lost).
    """
    source = source_expression(jc, table, start, end)
    found = source_schema(spark, jc, table, source)
    mapping = check_columns(found, schema, table, rename)
    where = []
    if period_column is not None:
        col = _quote(mapping[period_column])
        if start is not None:
            where.append(f"{col} >= {_date_literal(start)}")
        if end is not None:
            where.append(f"{col} < {_date_literal(end + dt.timedelta(days=1))}")
    opts = _options(jc)
    if table in jc.custom_schema:
        opts["customSchema"] = jc.custom_schema[table]
    part_col = jc.partition_columns.get(table)
    n = jc.num_partitions

    def read() -> DataFrame:
        if period_column is not None and start is not None and end is not None:
            col = _quote(mapping[period_column])
            preds = [
                f"{col} >= {_date_literal(lo)} AND {col} < {_date_literal(hi)}" for lo, hi in month_windows(start, end)
            ]
            df = _read_predicates(spark, opts, source, preds)
        elif part_col and n > 1:
            src_col = mapping.get(part_col, part_col)
            field = next((f for f in found.fields if f.name == src_col), None)
            if field is None:
                raise ConfigError(f"config key 'jdbc.partition_columns.{table}': column {part_col!r} not in the source")
            if isinstance(field.dataType, (IntegralType, DecimalType)):
                df = _read_numeric_ranges(spark, opts, source, _quote(src_col), where, n)
            else:
                base = " AND ".join(where)
                preds = [
                    f"{hash_expression(jc, _quote(src_col), n)} = {i}" + (f" AND {base}" if base else "")
                    for i in range(n)
                ]
                df = _read_predicates(spark, opts, source, preds)
        else:
            df = _read_predicates(spark, opts, source, [" AND ".join(where)] if where else [])
        return df.select(*[F.col(mapping[f.name]).cast(f.dataType).alias(f.name) for f in schema.fields])

    return _read_with_retries(read, jc, table, source)


def _read_with_retries(read: Any, jc: JdbcConf, table: str, source: str) -> DataFrame:
    """Run ``read()`` and cache its rows; a lost connection reads again, up to ``jc.retries`` times."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    for attempt in range(1, jc.retries + 2):
        df = None
        try:
            df = read().persist()
            rows = df.count()
            log.info("JDBC %s (%s): %d rows read", table, source, rows)
            return df
        except (Py4JJavaError, PySparkException) as e:
            if df is not None:
                df.unpersist()
            transient, why = classify_failure(e)
            where = f"JDBC source {jc.url}, table '{table}' ({source})"
            if not transient:
                raise JdbcReadError(f"{where}: read failed: {why}") from e
            if attempt > jc.retries:
                raise JdbcReadError(
                    f"{where}: read failed after {attempt} attempt(s) (jdbc.retries={jc.retries}): {why}"
                ) from e
            wait = jc.retry_backoff_s * 2 ** (attempt - 1)
            log.warning("JDBC read of '%s' from %s failed (%s), retry %d/%d in %.1f s",
                        table, jc.url, why, attempt, jc.retries, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def classify_failure(error: BaseException) -> tuple[bool, str]:
    """Whether a failed Spark JDBC action may succeed when run again, and why it failed.

    Looks through the Java exception and its causes for a ``java.sql.SQLException``:
    transient when its SQLState is of class 08 (connection exception) or in
    ``_TRANSIENT_SQLSTATES``, or when it is a ``SQLRecoverableException`` /
    ``SQLTransientException`` (Oracle's lost connections).

    Returns:
        (transient, ``"SQLState <state> <ExceptionClass>: <message>"`` of the first
        SQL exception found, or the Java exception's class and message).
    """
    from py4j.java_gateway import is_instance_of
    from pyspark import SparkContext

    java = getattr(error, "java_exception", None) or getattr(error, "_origin", None)
    gateway = SparkContext._gateway
    if java is None or gateway is None:
        return False, f"{type(error).__name__}: {error}"
    cause, seen = java, 0
    while cause is not None and seen < 20:
        if is_instance_of(gateway, cause, "java.sql.SQLException"):
            state = cause.getSQLState() or ""
            transient = (
                state.startswith("08") or state in _TRANSIENT_SQLSTATES
                or any(is_instance_of(gateway, cause, c) for c in _TRANSIENT_CLASSES)
            )
            first_line = (cause.getMessage() or "").strip().splitlines()[:1]
            return transient, f"SQLState {state or '-'} {cause.getClass().getSimpleName()}: {' '.join(first_line)}"
        cause, seen = cause.getCause(), seen + 1
    first_line = (java.getMessage() or "").strip().splitlines()[:1]
    return False, f"{java.getClass().getName()}: {' '.join(first_line)}"


def _read_predicates(spark: SparkSession, opts: dict[str, str], source: str, predicates: list[str]) -> DataFrame:
    if not predicates:
        return spark.read.format("jdbc").options(**opts).option("dbtable", source).load()
    props = {k: v for k, v in opts.items() if k != "url"}
    return spark.read.jdbc(opts["url"], source, predicates=predicates, properties=props)


def _read_numeric_ranges(
    spark: SparkSession, opts: dict[str, str], source: str, column: str, where: list[str], n: int
) -> DataFrame:
    bounded = f"(select * from {source} where {' AND '.join(where)}) w" if where else source
    bounds = (
        spark.read.format("jdbc").options(**{k: v for k, v in opts.items() if k != "customSchema"})
        .option("dbtable", f"(select min({column}) lo, max({column}) hi from {bounded}) b")
        .load().collect()[0]
    )
    if bounds["lo"] is None:
        return _read_predicates(spark, opts, bounded, [])
    return (
        spark.read.format("jdbc").options(**opts).option("dbtable", bounded)
        .option("partitionColumn", column.strip('"')).option("lowerBound", str(int(bounds["lo"])))
        .option("upperBound", str(int(bounds["hi"]) + 1)).option("numPartitions", str(n)).load()
    )


# -------------------------------------------------------------------- write
def _jdbc_connection(spark: SparkSession, jc: JdbcConf) -> Any:
    """A java.sql.Connection in the driver JVM, through the driver class Spark loaded."""
    jvm = spark.sparkContext._jvm
    if jvm is None:
        raise RuntimeError("the Spark session has no JVM gateway (stopped session?)")
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    driver = jvm.java.lang.Class.forName(jc.driver, True, loader).newInstance()
    props = jvm.java.util.Properties()
    props.setProperty("user", jc.user)
    props.setProperty("password", jdbc_password(jc))
    conn = driver.connect(jc.url, props)
    if conn is None:
        raise ConfigError(f"JDBC driver {jc.driver} does not accept the URL {jc.url!r}")
    if jc.session_init:
        _execute(conn, jc.session_init)
    return conn


def _execute(conn: Any, sql: str) -> int:
    stmt = conn.createStatement()
    try:
        return stmt.executeUpdate(sql)
    finally:
        stmt.close()


def _table_exists(conn: Any, table: str) -> bool:
    stmt = conn.createStatement()
    try:
        stmt.executeQuery(f"select 1 from {table} where 1 = 0").close()
        return True
    except Exception:  # noqa: BLE001 - any SQL error here means "cannot select from it"
        return False
    finally:
        stmt.close()


def write_table(df: DataFrame, jc: JdbcConf, table: str, key_column: str) -> int:
    """Replace the rows of the ``key_column`` values in ``df`` in ``table``, atomically.

    ``df`` goes to a fresh staging table first (Spark JDBC writer, parallel);
    then one transaction deletes the target's rows with those key values and
    inserts the staged rows, so readers see either the previous or the new
    rows of a key (a scoring run, a campaign), never a mix. Array/struct/map
    columns (``top_features``, ``data_versions``) are written as JSON text. The
    target is created (empty, same columns as staging) when missing. On Oracle
    the same statements apply (``DELETE ... WHERE key IN (...)``;
    ``INSERT /*+ APPEND */ ... SELECT``; the staging ``DROP`` runs after the
    commit since DDL commits implicitly there).

    Args:
        df: the rows; every row's ``key_column`` value names the set it replaces.
        jc: connection settings.
        table: target table name.
        key_column: column whose values identify the sets of rows replaced
            (``run_id`` for scores, ``campaign_id`` for inspection requests).

    Returns:
        Rows inserted.

    Raises:
        ValueError: ``key_column`` is missing or the table name is not an identifier.
    """
    if key_column not in df.columns:
        raise ValueError(f"write_table: column '{key_column}' missing; got {df.columns}")
    if not _IDENT.match(table):
        raise ValueError(f"write_table: table {table!r} is not a plain table name")
    spark = df.sparkSession
    flat = df.select(*[
        F.to_json(F.col(f.name)).alias(f.name) if isinstance(f.dataType, (ArrayType, StructType, MapType))
        else F.col(f.name) for f in df.schema.fields
    ]).cache()
    keys = [r[0] for r in flat.select(key_column).distinct().collect()]
    staging = f"{table}_stg_{uuid.uuid4().hex[:8]}"
    opts = _options(jc)
    flat.write.format("jdbc").options(**opts).option("dbtable", staging).option("truncate", "false").mode(
        "overwrite"
    ).save()
    # Spark's writer created the staging columns with quoted (case-preserved) names.
    cols = ", ".join(_quote(c) for c in flat.columns)
    in_list = ", ".join("'" + str(k).replace("'", "''") + "'" for k in keys) or "NULL"
    conn = _jdbc_connection(spark, jc)
    try:
        if not _table_exists(conn, table):
            _execute(conn, f"create table {table} as select * from {staging} where 1 = 0")
        conn.setAutoCommit(False)
        try:
            deleted = _execute(conn, f"delete from {table} where {_quote(key_column)} in ({in_list})")
            inserted = _execute(conn, f"insert into {table} ({cols}) select {cols} from {staging}")
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        finally:
            conn.setAutoCommit(True)
        log.info("table %s: %s %s replaced (%d rows deleted, %d inserted)", table, key_column, keys, deleted,
                 inserted)
        return int(inserted)
    finally:
        try:
            _execute(conn, f"drop table {staging}")
        finally:
            conn.close()
            flat.unpersist()


def write_scores(df: DataFrame, jc: JdbcConf, table: str, run_column: str = "run_id") -> int:
    """Replace the rows of the scoring run(s) in ``df`` in ``table``, atomically (:func:`write_table`).

    Args:
        df: scores (``schemas.SCORES_SCHEMA`` or any frame with ``run_column``).
        jc: connection settings.
        table: target table name.
        run_column: column identifying a run.

    Returns:
        Rows inserted.
    """
    return write_table(df, jc, table, run_column)


# --------------------------------------------------------- PostgreSQL loader
_PG_TYPES = {
    "string": "text",
    "double": "double precision",
    "float": "real",
    "int": "integer",
    "bigint": "bigint",
    "date": "date",
    "timestamp": "timestamp",
}


def pg_ddl(table: str, schema: StructType) -> str:
    """``CREATE TABLE`` for ``schema`` in PostgreSQL (no constraints: sources may hold bad rows)."""
    cols = []
    for f in schema.fields:
        kind = _PG_TYPES.get(f.dataType.simpleString())
        if kind is None:
            raise TypeError(f"column '{f.name}': no PostgreSQL type for {f.dataType.simpleString()}")
        cols.append(f"{f.name} {kind}")
    return f"create table {table} ({', '.join(cols)})"


def pg_connect(jc: JdbcConf) -> Any:
    """A psycopg2 connection for a ``jdbc:postgresql://host:port/db`` URL."""
    import psycopg2

    m = re.match(r"jdbc:postgresql://([^:/?]+)(?::(\d+))?/([^?]+)", jc.url)
    if not m:
        raise ConfigError(f"config key 'jdbc.url': not a PostgreSQL JDBC URL ({jc.url!r})")
    return psycopg2.connect(
        host=m.group(1), port=int(m.group(2) or 5432), dbname=m.group(3), user=jc.user, password=jdbc_password(jc)
    )


def load_tables(
    jc: JdbcConf,
    tables: Mapping[str, pd.DataFrame | pa.Table | str | Path],
    replace: bool = True,
) -> dict[str, int]:
    """Bulk-load contract tables into PostgreSQL with ``COPY`` (one transaction per table).

    Args:
        jc: connection settings; ``jdbc.tables`` gives the target name of each table.
        tables: contract table name -> pandas DataFrame, Arrow table, or a Parquet
            file/folder.
        replace: drop and recreate each table (otherwise rows are appended).

    Returns:
        Rows loaded per table.

    Raises:
        ValueError: an unknown table, a missing column, or a non-PostgreSQL URL.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    counts = {}
    conn = pg_connect(jc)
    try:
        for name, data in tables.items():
            if name not in schemas.SOURCE_SCHEMAS:
                raise ValueError(f"load_tables: unknown table {name!r}; known: {list(schemas.SOURCE_SCHEMAS)}")
            schema = schemas.SOURCE_SCHEMAS[name]
            target = jc.tables.get(name, name)
            if not _IDENT.match(target):
                raise ValueError(f"jdbc.tables.{name} = {target!r}: can only load into a plain table name")
            if isinstance(data, (str, Path)):
                data = pq.read_table(str(data))
            pdf = data.to_pandas() if isinstance(data, pa.Table) else data
            missing = [f.name for f in schema.fields if f.name not in pdf.columns]
            if missing:
                raise ValueError(f"load_tables: table {name!r} lacks column(s) {missing}")
            pdf = pdf[[f.name for f in schema.fields]]
            for f in schema.fields:
                if isinstance(f.dataType, IntegerType):
                    pdf[f.name] = pdf[f.name].astype("Int64")
            buf = io.StringIO()
            pdf.to_csv(buf, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S")
            buf.seek(0)
            with conn, conn.cursor() as cur:
                if replace:
                    cur.execute(f"drop table if exists {target}")
                cur.execute(pg_ddl(target, schema) if replace else pg_ddl(target, schema).replace(
                    "create table", "create table if not exists", 1))
                cols = ", ".join(f.name for f in schema.fields)
                cur.copy_expert(f"copy {target} ({cols}) from stdin with (format csv, null '\\N')", buf)
                period = schemas.PERIOD_COLUMNS.get(name)
                if period:  # month-partitioned reads select by period, as on the production tables
                    cur.execute(f"create index if not exists {target}_{period}_idx on {target} ({period})")
                cur.execute(f"analyze {target}")
            counts[name] = len(pdf)
            log.info("PostgreSQL %s: %d rows loaded", target, len(pdf))
    finally:
        conn.close()
    return counts
