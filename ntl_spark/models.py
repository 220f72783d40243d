"""Model plumbing shared by training, validation and scoring.

- :func:`split_by_customer`: the held-out split (a customer's rows all on one side);
- :func:`worker_booster` / :func:`load_booster`: a registered DAICE version's
  native booster, loaded once per Python worker for inference;
- :func:`rank_scores` and :func:`write_scores`: the ranking written to the
  ``scores`` table, the same for every model family.

Stages import these instead of importing each other.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ntl_spark import lakehouse, schemas, tracking
from ntl_spark.errors import ConfigError

_BOOSTERS: dict[int, Any] = {}


def split_by_customer(df: DataFrame, test_fraction: float, seed: int) -> tuple[DataFrame, DataFrame]:
    """Deterministic split on a hash of customer_id, so a customer never sits on both sides.

    Returns:
        (train, test) DataFrames.
    """
    bucket = F.pmod(F.xxhash64(F.col("customer_id"), F.lit(seed)), F.lit(10_000))
    is_test = bucket < F.lit(int(round(test_fraction * 10_000)))
    return df.where(~is_test), df.where(is_test)


def worker_booster(raw: bytes) -> Any:
    """One xgboost Booster per Python worker process, keyed by the model bytes (UBJSON)."""
    import xgboost as xgb

    key = hash(raw)
    if key not in _BOOSTERS:
        b = xgb.Booster()
        b.load_model(bytearray(raw))
        b.set_param({"nthread": 1})
        _BOOSTERS.clear()
        _BOOSTERS[key] = b
    return _BOOSTERS[key]


def load_booster(ref: tracking.ModelRef) -> tuple[Any, list[str]]:
    """The native booster of a registered DAICE version and its input columns, in training order.

    Raises:
        ConfigError: the version is not a DAICE model (no ``feature_columns`` metadata).
    """
    import mlflow
    import mlflow.xgboost

    info = mlflow.models.get_model_info(ref.uri)
    meta = info.metadata or {}
    cols = meta.get("feature_columns")
    if not cols:
        raise ConfigError(f"model {ref.name} v{ref.version} has no feature_columns metadata: not a DAICE model")
    return mlflow.xgboost.load_model(ref.uri), list(cols)


def rank_scores(scored: DataFrame) -> DataFrame:
    """Add ``rank`` (1 = highest score, ties by customer_id) overall and ``region_rank`` within region."""
    order = [F.col("score").desc(), F.col("customer_id").asc()]
    return scored.withColumn("rank", F.row_number().over(Window.orderBy(*order)).cast("int")).withColumn(
        "region_rank", F.row_number().over(Window.partitionBy("region").orderBy(*order)).cast("int")
    )


def write_scores(ranked: DataFrame, path: str, scored_on: dt.date, model_name: str) -> int:
    """Replace this day's rows of one model in the ``scores`` table; return the Delta version committed."""
    return lakehouse.write(
        ranked, path, schemas.SCORES,
        where=f"scored_on = '{scored_on.isoformat()}' AND model_name = '{model_name}'",
        partition_by=("scored_on", "model_name"), schema=schemas.SCORES_SCHEMA,
    )
