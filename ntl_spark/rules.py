"""Rules baseline: the one-line rankings a utility uses without a model.

In: rows of ``monthly_features`` or ``training_set`` (C1..CN, C1 = the
reference month, null = not billed). Out: the same rows with ``rule_score``
(higher = inspect first), the number every model is compared with ("lift
over the rule" = the model's precision at the campaign size over the rule's,
on the same held-out rows).

The rule: the sustained drop of the last ``recent_months`` months against the
same months a year before, ``1 - (mean(C1..Cr) + 1) / (mean(C13..C12+r) + 1)``
(0 where the year before has no bill), plus 1 for a run of at least
``min_zero_run`` consecutive months at or below ``zero_kwh`` among the last 12
(a stopped meter or a bypass that leaves nothing). It reads only the monthly
series, so it obeys the same point-in-time rule as the features it is given.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ntl_spark import schemas

RULE_SCORE = "rule_score"


def _mean(cols: list[str]) -> Column:
    present = sum((F.col(c).isNotNull().cast("int") for c in cols), F.lit(0))
    total = sum((F.coalesce(F.col(c).cast("double"), F.lit(0.0)) for c in cols), F.lit(0.0))
    return F.when(present > 0, total / present)


def yoy_drop(recent_months: int) -> Column:
    """Drop of the last ``recent_months`` months against the same months a year before (0 = none, 1 = to zero)."""
    recent = _mean([f"C{i}" for i in range(1, recent_months + 1)])
    before = _mean([f"C{i}" for i in range(13, 13 + recent_months)])
    # coalesce first: least/greatest skip nulls, which would turn "unknown" into 1
    drop = F.coalesce(F.lit(1.0) - (recent + 1.0) / (before + 1.0), F.lit(0.0))
    return F.greatest(F.least(drop, F.lit(1.0)), F.lit(-1.0))


def longest_zero_run(zero_kwh: float, months: int = 12) -> Column:
    """Longest run of consecutive months at or below ``zero_kwh`` among C1..C``months`` (unbilled breaks a run)."""
    flags = F.array(*[F.coalesce((F.col(f"C{i}") <= F.lit(zero_kwh)).cast("int"), F.lit(0)) for i in range(1, months + 1)])
    start = F.struct(F.lit(0).alias("run"), F.lit(0).alias("best"))

    def step(acc: Column, z: Column) -> Column:
        run = F.when(z == 1, acc["run"] + 1).otherwise(F.lit(0))
        return F.struct(run.alias("run"), F.greatest(acc["best"], run).alias("best"))

    return F.aggregate(flags, start, step)["best"]


def has_inputs(columns: list[str], recent_months: int) -> bool:
    """Whether rows with ``columns`` carry the monthly series the rule needs (C1..C(12 + recent_months))."""
    return set(schemas.consumption_columns(12 + recent_months)) <= set(columns)


def rule_scores(df: DataFrame, recent_months: int, zero_kwh: float, min_zero_run: int) -> DataFrame:
    """Add ``rule_score`` (and its parts ``rule_yoy_drop``, ``rule_zero_run``) to rows with C1..CN.

    Args:
        df: rows with the consumption columns C1..C(12 + recent_months) at least.
        recent_months: months compared with the same months a year before (6 by default).
        zero_kwh: a month at or below this kWh counts as zero.
        min_zero_run: a zero run this long puts the customer above every drop.

    Returns:
        ``df`` with ``rule_yoy_drop``, ``rule_zero_run`` and ``rule_score``.

    Raises:
        ValueError: a needed consumption column is missing or an argument is out of range.
    """
    if not 1 <= recent_months <= 12:
        raise ValueError(f"rules: recent_months must be in 1..12, got {recent_months}")
    if min_zero_run < 1:
        raise ValueError(f"rules: min_zero_run must be >= 1, got {min_zero_run}")
    need = schemas.consumption_columns(12 + recent_months)
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"rules: columns {missing} missing; the rule needs {need[0]}..{need[-1]} "
                         f"(features.months >= {12 + recent_months})")
    out = df.withColumn("rule_yoy_drop", yoy_drop(recent_months)).withColumn("rule_zero_run",
                                                                              longest_zero_run(zero_kwh))
    return out.withColumn(
        RULE_SCORE, F.col("rule_yoy_drop") + F.when(F.col("rule_zero_run") >= min_zero_run, 1.0).otherwise(0.0))
