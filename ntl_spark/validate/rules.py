"""Consistency rules from config, with warn/block levels and counts of offending rows.

In: tables by name (DataFrames) and rules (``validation.rules``, ``RuleConf``).
Out: one :class:`RuleResult` per rule (rows checked, rows or groups that offend,
status ``ok``/``warn``/``block``/``skipped``), as a list or a results DataFrame;
:func:`enforce` raises ``DataError`` naming every blocking rule that tripped.

Three kinds of rule:

- ``check`` alone: a SQL condition every row must meet (``kwh >= 0``); a row
  where it is false offends, a null result passes (as in a SQL CHECK constraint);
- ``check`` with ``group_by``: an aggregate condition every group must meet
  (``count(*) <= 96`` per meter and day); offending units are groups;
- ``unique``: columns that identify a row; every row of a repeated key offends.

``where`` narrows a rule to some rows; ``max_share`` tolerates that share of
offending rows before the rule trips.

A ``check`` rule that declares its ``day`` (e.g. ``to_date(ts)``) adds up over
days: :func:`day_counts` counts it per day and :func:`day_results` judges the
sums, so counts kept per day need recomputing only for the days that changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import schemas
from ntl_spark.config import RuleConf, same_sql
from ntl_spark.errors import ConfigError, DataError

RESULT_SCHEMA = T.StructType(
    [
        T.StructField("rule", T.StringType(), False),
        T.StructField("table", T.StringType(), False),
        T.StructField("kind", T.StringType(), False),
        T.StructField("level", T.StringType(), False),
        T.StructField("checked", T.LongType(), False),
        T.StructField("offending", T.LongType(), False),
        T.StructField("share", T.DoubleType(), False),
        T.StructField("max_share", T.DoubleType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("description", T.StringType(), False),
    ]
)


@dataclass(frozen=True)
class RuleResult:
    """Outcome of one rule."""

    rule: str
    table: str
    kind: str  # row, group or unique
    level: str
    checked: int  # rows (or groups) the rule saw
    offending: int
    share: float
    max_share: float
    status: str  # ok, warn, block, or skipped (table absent)
    description: str

    @property
    def tripped(self) -> bool:
        return self.status in ("warn", "block")

    def message(self) -> str:
        unit = "groups" if self.kind == "group" else "rows"
        return (f"{self.rule} ({self.table}: {self.description}): {self.offending:,} of {self.checked:,} {unit} "
                f"offend ({self.share:.2%}, tolerated {self.max_share:.2%})")


def describe(rule: RuleConf) -> str:
    """The rule in words for reports."""
    if rule.unique:
        text = f"unique ({', '.join(rule.unique)})"
    elif rule.group_by:
        text = f"per ({', '.join(rule.group_by)}): {rule.check}"
    else:
        text = rule.check
    return f"{text} where {rule.where}" if rule.where else text


def kind_of(rule: RuleConf) -> str:
    return "unique" if rule.unique else "group" if rule.group_by else "row"


def _status(rule: RuleConf, checked: int, offending: int) -> tuple[float, str]:
    share = offending / checked if checked else 0.0
    tripped = offending > 0 and share > rule.max_share
    return share, (rule.level if tripped else "ok")


def _expr(rule: RuleConf, text: str, what: str) -> F.Column:
    try:
        return F.expr(text)
    except ParseException as e:
        raise ConfigError(f"rule '{rule.name}': {what} {text!r} is not valid SQL: {e}") from e


def _judged(df: DataFrame, batch: Sequence[RuleConf]) -> tuple[DataFrame, list[F.Column], list[F.Column]]:
    """What a batch of check rules (same ``where`` and ``group_by``) judges, and how.

    Returns:
        (the rows kept by ``where``, or their groups; each rule's condition on them; the group
        keys as columns of the groups, ``_g0``, ``_g1``, ... (empty for row rules)).
    """
    first = batch[0]
    data = df.where(_expr(first, first.where, "where")) if first.where else df
    checks = [_expr(r, r.check, "check") for r in batch]
    if not first.group_by:
        return data, checks, []
    keys = [_expr(first, g, "group_by").alias(f"_g{i}") for i, g in enumerate(first.group_by)]
    data = data.groupBy(*keys).agg(*[c.alias(f"_ok{i}") for i, c in enumerate(checks)])
    return data, [F.col(f"_ok{i}") for i in range(len(batch))], [F.col(f"_g{i}") for i in range(len(keys))]


def _offending(checks: Sequence[F.Column]) -> list[F.Column]:
    """Per condition, the rows (or groups) that break it: ``bad0``, ``bad1``, ..."""
    return [F.coalesce(F.sum(F.when(~c, 1)), F.lit(0)).alias(f"bad{i}") for i, c in enumerate(checks)]


def evaluate_rule(df: DataFrame, rule: RuleConf) -> RuleResult:
    """Count the rows (or groups) of ``df`` that break ``rule``.

    Raises:
        ValueError: the rule's SQL does not parse or names an unknown column (message names the rule).
    """
    kind = kind_of(rule)
    try:
        data = df.where(_expr(rule, rule.where, "where")) if rule.where else df
        if kind == "unique":
            keys = [F.col(f"`{c}`") for c in rule.unique]
            counts = data.groupBy(*keys).count()
            row = counts.agg(
                F.coalesce(F.sum("count"), F.lit(0)).alias("checked"),
                F.coalesce(F.sum(F.when(F.col("count") > 1, F.col("count"))), F.lit(0)).alias("offending"),
            ).collect()[0]
        elif kind == "group":
            ok = _expr(rule, rule.check, "check")
            groups = data.groupBy(*[_expr(rule, g, "group_by") for g in rule.group_by]).agg(ok.alias("_ok"))
            row = groups.agg(
                F.count(F.lit(1)).alias("checked"),
                F.coalesce(F.sum(F.when(~F.col("_ok"), 1)), F.lit(0)).alias("offending"),
            ).collect()[0]
        else:
            ok = _expr(rule, rule.check, "check")
            row = data.agg(
                F.count(F.lit(1)).alias("checked"),
                F.coalesce(F.sum(F.when(~ok, 1)), F.lit(0)).alias("offending"),
            ).collect()[0]
    except AnalysisException as e:
        raise ConfigError(f"rule '{rule.name}' on table '{rule.table}' cannot run: {e}") from e
    checked, offending = int(row["checked"]), int(row["offending"])
    share, status = _status(rule, checked, offending)
    return RuleResult(rule.name, rule.table, kind, rule.level, checked, offending, share, rule.max_share, status,
                      describe(rule))


def evaluate_rules(tables: Mapping[str, DataFrame], rules: Sequence[RuleConf]) -> list[RuleResult]:
    """Run every rule on its table; a rule whose table is absent is ``skipped``.

    Args:
        tables: table name -> data.
        rules: the rules (``validation.rules``).

    Returns:
        One result per rule, in order.
    """
    out: dict[str, RuleResult] = {}
    # Row rules on the same rows, and group rules with the same grouping, share one Spark job.
    batches: dict[tuple[str, str, tuple[str, ...]], list[RuleConf]] = {}
    for rule in rules:
        if rule.table not in tables:
            out[rule.name] = RuleResult(rule.name, rule.table, kind_of(rule), rule.level, 0, 0, 0.0, rule.max_share,
                                        "skipped", describe(rule))
        elif rule.unique:
            out[rule.name] = evaluate_rule(tables[rule.table], rule)
        else:
            batches.setdefault((rule.table, rule.where, tuple(rule.group_by)), []).append(rule)
    for (table, _, _), batch in batches.items():
        if len(batch) == 1:
            out[batch[0].name] = evaluate_rule(tables[table], batch[0])
            continue
        try:
            data, checks, _ = _judged(tables[table], batch)
            row = data.agg(F.count(F.lit(1)).alias("checked"), *_offending(checks)).collect()[0]
        except AnalysisException:
            # one rule of the batch is wrong: run them one by one so the error names it
            for r in batch:
                out[r.name] = evaluate_rule(tables[table], r)
            continue
        for i, r in enumerate(batch):
            checked, offending = int(row["checked"]), int(row[f"bad{i}"])
            share, status = _status(r, checked, offending)
            out[r.name] = RuleResult(r.name, r.table, kind_of(r), r.level, checked, offending, share, r.max_share,
                                     status, describe(r))
    return [out[r.name] for r in rules]


def day_counts(df: DataFrame, rules: Sequence[RuleConf]) -> DataFrame:
    """Rows (or groups) checked and offending per rule and day, for rules that declare ``day``.

    A group lies within the day of its ``day`` column of ``group_by``, so a
    rule's counts over ``df`` are the sums of its counts per day. Rules with
    the same filter, grouping and day share one Spark job, as in :func:`evaluate_rules`.

    Args:
        df: the table's rows (all of them, or the rows of some days).
        rules: ``check`` rules with ``day`` set, all on this table.

    Returns:
        ``schemas.RULE_DAY_COUNTS_SCHEMA`` rows: rule, day, checked, offending (a day without
        rows, or none left by a rule's ``where``, has no row).

    Raises:
        ValueError: a rule without ``day`` or with ``unique``; a rule's SQL does not parse or names an
            unknown column (the message names the rule).
    """
    bad = [r.name for r in rules if not r.day or r.unique]
    if bad:
        raise ValueError(f"day_counts: rule(s) {bad} do not add up over days (need day and check)")
    batches: dict[tuple[str, tuple[str, ...], str], list[RuleConf]] = {}
    for rule in rules:
        batches.setdefault((rule.where, tuple(rule.group_by), rule.day.lower()), []).append(rule)
    frames = []
    for batch in batches.values():
        try:
            frames.append(_day_counts(df, batch))
        except (AnalysisException, ConfigError):
            if len(batch) == 1:
                raise
            frames += [_day_counts(df, [r]) for r in batch]  # the error names the wrong rule
    if not frames:
        return df.sparkSession.createDataFrame([], schemas.RULE_DAY_COUNTS_SCHEMA)
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


def _day_counts(df: DataFrame, batch: Sequence[RuleConf]) -> DataFrame:
    first = batch[0]
    try:
        data, checks, keys = _judged(df, batch)
        day = _expr(first, first.day, "day")
        if first.group_by:
            at = next((i for i, g in enumerate(first.group_by) if same_sql(g, first.day)), None)
            if at is None:
                raise ConfigError(f"rule '{first.name}': day {first.day!r} is not one of group_by {first.group_by}")
            day = keys[at]
        counted = data.groupBy(day.cast("date").alias("day")).agg(F.count(F.lit(1)).alias("checked"),
                                                                 *_offending(checks))
        per_rule = F.explode(F.array(*[F.struct(F.lit(r.name).alias("rule"), F.col(f"bad{i}").alias("offending"))
                                       for i, r in enumerate(batch)]))
        out = counted.select("day", "checked", per_rule.alias("_r")).select(
            F.col("_r.rule").alias("rule"), "day", F.col("checked").cast("long").alias("checked"),
            F.col("_r.offending").cast("long").alias("offending"))
    except AnalysisException as e:
        names = ", ".join(r.name for r in batch)
        raise ConfigError(f"rule '{names}' on table '{first.table}' cannot run: {e}") from e
    return out


def day_results(rules: Sequence[RuleConf], totals: Mapping[str, tuple[int, int]]) -> list[RuleResult]:
    """The results of day rules from their counts summed over every day.

    Args:
        rules: the rules.
        totals: rule name -> (checked, offending) over all days (a rule absent: nothing checked).

    Returns:
        One result per rule, in order, as :func:`evaluate_rules` gives it for the whole table.
    """
    out = []
    for r in rules:
        checked, offending = totals.get(r.name, (0, 0))
        share, status = _status(r, checked, offending)
        out.append(RuleResult(r.name, r.table, kind_of(r), r.level, checked, offending, share, r.max_share, status,
                              describe(r)))
    return out


def results_frame(spark: SparkSession, results: Sequence[RuleResult]) -> DataFrame:
    """Rule results as a DataFrame (``RESULT_SCHEMA``)."""
    return spark.createDataFrame(
        [tuple(asdict(r)[f.name] for f in RESULT_SCHEMA.fields) for r in results], RESULT_SCHEMA
    )


def enforce(results: Sequence[RuleResult]) -> None:
    """Raise when a blocking rule tripped.

    Raises:
        DataError: names every blocking rule with its table and counts.
    """
    blocked = [r for r in results if r.status == "block"]
    if blocked:
        raise DataError("blocking rule(s) failed: " + "; ".join(r.message() for r in blocked))
