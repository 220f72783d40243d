"""The data gate, day by day: statistics and day rules of a table recomputed only for its changed days.

In: a day-keyed table read at one Delta version (``readings``), its day column
(``validation.incremental``), the rules on it that declare ``day``.
Out: the Delta tables ``data_rule_days`` (checked and offending per rule and
day) and ``data_stats_days`` (mergeable moments per column and day), both
partitioned by ``table``, brought up to that version; the rules' results and
the table's statistics from their sums over every day.

Which days: the table's commits since the version the kept rows were computed
from, explained by ``ingest_log`` (:func:`ntl_spark.lakehouse.changed_days`).
Those days are computed again and replace their rows (Delta ``replaceWhere``
on the table and the days, so a rerun gives the same rows and the other days
keep theirs). Everything is recomputed, and :class:`DayRefresh` says why, when
there are no kept rows yet, they have another layout, a rule or a column
changed, a commit is not explained by the log (an operation not logged, a
history cleaned up, a table recreated) or more than
``validation.incremental_max_days`` days changed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import lakehouse, schemas
from ntl_spark.config import Config, RuleConf
from ntl_spark.errors import ConfigError
from ntl_spark.validate import rules as rules_
from ntl_spark.validate import stats as stats_

log = logging.getLogger(__name__)

RULES = "rules"
STATISTICS = "statistics"


@dataclass(frozen=True)
class DayRefresh:
    """What one gate run recomputed of a table's per-day rule counts or statistics."""

    table: str
    part: str  # rules or statistics
    since: int | None  # the table version the kept rows reflected (None: none kept)
    version: int  # the table version now reflected
    plan: lakehouse.DayPlan

    @property
    def whole(self) -> bool:
        return self.plan.whole

    def describe(self) -> str:
        since = f"v{self.since}" if self.since is not None else "nothing kept"
        return f"{self.table} {self.part} (v{self.version}, kept: {since}): recomputed {self.plan.describe()}"


def day_column(df: DataFrame, table: str, column: str) -> bool:
    """Whether ``table``'s day column is a timestamp (else a date).

    Raises:
        ConfigError: the column is absent or neither a timestamp nor a date (names ``validation.incremental``).
    """
    field = next((f for f in df.schema.fields if f.name == column), None)
    if field is None or not isinstance(field.dataType, (T.TimestampType, T.TimestampNTZType, T.DateType)):
        found = field.dataType.simpleString() if field is not None else "absent"
        raise ConfigError(f"config key 'validation.incremental.{table}': column {column!r} must be a timestamp or "
                          f"date column of {table} (it is {found})")
    return not isinstance(field.dataType, T.DateType)


def definition(rule: RuleConf) -> str:
    """What a rule's per-day counts depend on: its condition in words and its day."""
    return f"{rules_.describe(rule)} by day {rule.day}"


def _kept(spark: SparkSession, path: str, schema: T.StructType, table: str) -> tuple[DataFrame | None, str, bool]:
    """The kept rows of ``table`` (None and why when there are none usable), and whether the kept table
    may be written as it is (absent, or of ``schema``'s layout)."""
    pinned = lakehouse.read_optional(spark, path)
    if pinned is None:
        return None, "no previous state", True
    if not lakehouse.has_layout(spark, path, schema):
        return None, f"the kept per-day table at {path} has another layout", False
    return pinned.df.where(F.col("table") == table), "", True


def _plan(spark: SparkSession, cfg: Config, table: str, since: int | None, version: int, problem: str,
          ) -> lakehouse.DayPlan:
    if problem:
        return lakehouse.DayPlan(None, problem)
    if cfg.validation.incremental_max_days == 0 and since is not None:
        return lakehouse.DayPlan(None, "validation.incremental_max_days is 0")
    return lakehouse.changed_days(spark, cfg.paths.table(table), cfg.paths.table(schemas.INGEST_LOG), table,
                                  since, version, cfg.validation.incremental_max_days)


def _save(rows: DataFrame, path: str, name: str, schema: T.StructType, table: str, plan: lakehouse.DayPlan,
          layout_ok: bool) -> int | None:
    """Write recomputed rows: the table's rows of the changed days, or all of them; the version committed."""
    spark = rows.sparkSession
    if plan.windows is not None and not plan.windows:
        return None  # no day changed: the kept rows stand
    if not lakehouse.is_table(spark, path) or not layout_ok:
        return lakehouse.write(rows, path, name, schema=schema, partition_by=("table",), replace_layout=not layout_ok)
    where = f"table = '{table}'"
    if plan.windows:
        where += f" AND ({lakehouse.days_predicate('day', plan.windows, False)})"
    return lakehouse.write(rows, path, name, where=where, schema=schema)


def _changed(df: DataFrame, column: str, is_ts: bool, plan: lakehouse.DayPlan) -> DataFrame:
    """The rows to compute again: the changed days' (read through Delta's file skipping on ``column``), or all."""
    if plan.windows is None:
        return df
    if not plan.windows:
        return df.where(F.lit(False))
    return df.where(lakehouse.days_predicate(column, plan.windows, is_ts))


def rule_results(spark: SparkSession, cfg: Config, table: str, df: DataFrame, version: int,
                 rules: Sequence[RuleConf], now: dt.datetime) -> tuple[list[rules_.RuleResult], DayRefresh]:
    """Results of ``table``'s day rules, with the per-day counts of ``data_rule_days`` brought up to ``version``.

    Args:
        table: the table (a key of ``validation.incremental``).
        df: its rows at ``version``.
        rules: its rules that declare ``day``.
        now: the run's time (``computed_at`` of recomputed rows).

    Returns:
        (one result per rule, in order, equal to :func:`rules.evaluate_rules` on the whole table; what was recomputed).
    """
    column = cfg.validation.incremental[table]
    is_ts = day_column(df, table, column)
    path = cfg.paths.table(schemas.DATA_RULE_DAYS)
    kept, problem, layout_ok = _kept(spark, path, schemas.DATA_RULE_DAYS_SCHEMA, table)
    wanted = {r.name: definition(r) for r in rules}
    since = None
    if kept is not None:
        found = kept.groupBy("rule", "definition").agg(F.max("delta_version").alias("v")).collect()
        stored = {r["rule"]: r["definition"] for r in found}
        since = max((int(r["v"]) for r in found), default=None)
        changed = sorted(n for n in set(wanted) | set(stored) if wanted.get(n) != stored.get(n))
        if since is None:
            problem = "no previous state"
        elif changed:
            problem = f"rule(s) {', '.join(changed)} added, changed or removed since the kept counts"
    plan = _plan(spark, cfg, table, since, version, problem)
    counts = rules_.day_counts(_changed(df, column, is_ts, plan), rules)
    definitions = F.create_map(*[x for n, d in wanted.items() for x in (F.lit(n), F.lit(d))])
    rows = counts.select(F.lit(table).alias("table"), "rule", F.element_at(definitions, F.col("rule")).alias("definition"),
                         "day", "checked", "offending", F.lit(version).cast("long").alias("delta_version"),
                         F.lit(now).cast("timestamp").alias("computed_at"))
    written = _save(rows, path, schemas.DATA_RULE_DAYS, schemas.DATA_RULE_DAYS_SCHEMA, table, plan, layout_ok)
    refresh = DayRefresh(table, RULES, since, version, plan)
    log.info("data gate: %s", refresh.describe())
    current = lakehouse.read_pinned(spark, path, schemas.DATA_RULE_DAYS, "validate_data", written).df
    totals = {r["rule"]: (int(r["checked"]), int(r["offending"])) for r in (
        current.where(F.col("table") == table).groupBy("rule")
        .agg(F.sum("checked").alias("checked"), F.sum("offending").alias("offending")).collect())}
    return rules_.day_results(rules, totals), refresh


def table_stats(spark: SparkSession, cfg: Config, table: str, df: DataFrame, version: int, columns: Sequence[str],
                now: dt.datetime) -> tuple[DataFrame, DayRefresh]:
    """``table``'s statistics (``stats.STATS_SCHEMA``), with its per-day moments in ``data_stats_days`` brought up
    to ``version``.

    Rows, nulls, min, max, mean and std come from the moments of every day;
    the distinct count, quantiles, histograms and top values from the rows of
    the days recomputed in this run (all rows when everything was).

    Returns:
        (the statistics, what was recomputed).
    """
    vc = cfg.validation
    column = vc.incremental[table]
    is_ts = day_column(df, table, column)
    path = cfg.paths.table(schemas.DATA_STATS_DAYS)
    kept, problem, layout_ok = _kept(spark, path, schemas.DATA_STATS_DAYS_SCHEMA, table)
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    wanted = {c: types[c] for c in columns}
    since = None
    if kept is not None:
        found = kept.groupBy("column", "dtype").agg(F.max("delta_version").alias("v")).collect()
        stored = {r["column"]: r["dtype"] for r in found}
        since = max((int(r["v"]) for r in found), default=None)
        if since is None:
            problem = "no previous state"
        elif stored != wanted:
            problem = "the table's columns or their types changed since the kept statistics"
    plan = _plan(spark, cfg, table, since, version, problem)
    changed = _changed(df, column, is_ts, plan)
    moments = stats_.day_moments(changed, list(columns), F.to_date(F.col(f"`{column}`")))
    rows = moments.select(F.lit(table).alias("table"), *schemas.DAY_MOMENTS_SCHEMA.names,
                          F.lit(version).cast("long").alias("delta_version"),
                          F.lit(now).cast("timestamp").alias("computed_at"))
    written = _save(rows, path, schemas.DATA_STATS_DAYS, schemas.DATA_STATS_DAYS_SCHEMA, table, plan, layout_ok)
    refresh = DayRefresh(table, STATISTICS, since, version, plan)
    log.info("data gate: %s", refresh.describe())
    described = stats_.column_stats(changed, list(columns), vc.histogram_bins, histogram_rows=vc.sample_rows)
    if plan.whole:
        return described, refresh  # the whole table was described: every field is exact already
    current = lakehouse.read_pinned(spark, path, schemas.DATA_STATS_DAYS, "validate_data", written).df
    merged = stats_.merge_moments(current.where(F.col("table") == table))
    return stats_.with_moments(described, merged), refresh
