"""Score: monthly_features (Delta) + a registered model -> ranked ``scores`` (Delta).

In: the ``monthly_features`` rows of the reference month (every active
customer) and a registered DAICE model resolved by alias or version.
Out: one row per customer in the ``scores`` Delta table (partitioned by
scored_on and model_name): score, rank (1 = inspect first) overall and within
region, the top contributing features (XGBoost SHAP contributions), the
model's name and version, the scoring run id and the data versions used.
Re-scoring the same day with the same model replaces its rows.

Inference runs with the native booster inside ``mapInPandas``: the model is
broadcast once and loaded once per Python worker.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import mlflow
import mlflow.xgboost
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import schemas, tracking
from ntl_spark.config import Config
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.sparkutil import arrow_batch_rows, scalar

log = logging.getLogger(__name__)

PREDICTION_SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.StringType(), False),
        T.StructField("region", T.StringType(), False),
        T.StructField("score", T.DoubleType(), False),
        schemas.SCORES_SCHEMA["top_features"],
    ]
)

_BOOSTERS: dict[int, Any] = {}


def _booster(raw: bytes) -> Any:
    """One Booster per Python worker process, keyed by the model bytes."""
    import xgboost as xgb

    key = hash(raw)
    if key not in _BOOSTERS:
        b = xgb.Booster()
        b.load_model(bytearray(raw))
        b.set_param({"nthread": 1})
        _BOOSTERS.clear()
        _BOOSTERS[key] = b
    return _BOOSTERS[key]


def top_contributions(contribs: np.ndarray, names: list[str], k: int) -> list[list[dict[str, Any]]]:
    """The ``k`` features pushing each row's score up the most (bias column excluded)."""
    if k == 0:
        return [[] for _ in range(len(contribs))]
    values = contribs[:, : len(names)]
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    return [
        [{"feature": names[j], "contribution": float(values[i, j])} for j in row]
        for i, row in enumerate(order)
    ]


def predict_frame(df: DataFrame, model_bytes: Any, feature_cols: list[str], top_k: int) -> DataFrame:
    """customer_id, region, score and top features for every row of ``df``.

    Args:
        df: rows with customer_id, region and ``feature_cols``.
        model_bytes: broadcast variable holding the booster's raw (UBJSON) bytes.
        feature_cols: model inputs in training order.
        top_k: how many contributing features to keep (0 = none, faster).
    """

    def infer(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import xgboost as xgb

        booster = _booster(model_bytes.value)
        for pdf in batches:
            x = pdf[feature_cols].to_numpy(dtype=np.float32, na_value=np.nan)
            score = booster.inplace_predict(x, missing=np.nan, validate_features=False)
            out = pd.DataFrame({"customer_id": pdf["customer_id"], "region": pdf["region"], "score": score.astype(float)})
            if top_k:
                contribs = booster.predict(xgb.DMatrix(x, missing=np.nan, feature_names=feature_cols), pred_contribs=True)
                out["top_features"] = top_contributions(contribs, feature_cols, top_k)
            else:
                out["top_features"] = None
            yield out

    return df.select("customer_id", "region", *[F.col(c).cast("double") for c in feature_cols]).mapInPandas(
        infer, PREDICTION_SCHEMA
    )


def rank_scores(scored: DataFrame) -> DataFrame:
    """Add ``rank`` (1 = highest score, ties by customer_id) overall and ``region_rank`` within region."""
    order = [F.col("score").desc(), F.col("customer_id").asc()]
    return scored.withColumn("rank", F.row_number().over(Window.orderBy(*order)).cast("int")).withColumn(
        "region_rank", F.row_number().over(Window.partitionBy("region").orderBy(*order)).cast("int")
    )


def load_booster(ref: tracking.ModelRef) -> tuple[Any, list[str]]:
    """The native booster of a registered DAICE version and its feature columns."""
    info = mlflow.models.get_model_info(ref.uri)
    meta = info.metadata or {}
    cols = meta.get("feature_columns")
    if not cols:
        raise ConfigError(f"model {ref.name} v{ref.version} has no feature_columns metadata: not a DAICE model")
    return mlflow.xgboost.load_model(ref.uri), list(cols)


def write_scores(spark: SparkSession, ranked: DataFrame, path: str, scored_on: dt.date, model_name: str) -> int | None:
    """Write (replace) this day's rows of one model into the scores table; return the Delta version."""
    from delta.tables import DeltaTable

    from ntl_spark.ingest import delta_version

    out = ranked.select(*[F.col(f.name).cast(f.dataType) for f in schemas.SCORES_SCHEMA.fields])
    writer = out.write.format("delta").mode("overwrite").partitionBy("scored_on", "model_name")
    if DeltaTable.isDeltaTable(spark, path):
        writer = writer.option("replaceWhere", f"scored_on = '{scored_on.isoformat()}' AND model_name = '{model_name}'")
    writer.save(path)
    return delta_version(spark, path)


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Score every active customer with the configured model and write the ranking."""
    from ntl_spark.ingest import read_pinned

    sc = cfg.score
    client = tracking.setup(cfg, experiment=f"{cfg.mlflow.experiment}-scoring")
    ref = tracking.resolve(client, sc.model_name, sc.model_ref)
    booster, feature_cols = load_booster(ref)

    mf_path = cfg.paths.table(schemas.MONTHLY_FEATURES)
    feats, mf_version = read_pinned(spark, mf_path, "monthly_features", "features")
    if cfg.features.reference_month:
        ref_month = dt.date.fromisoformat(cfg.features.reference_month)
    else:
        ref_month = scalar(feats.agg(F.max("reference_month")), "monthly_features")
    feats = feats.where(F.col("reference_month") == F.lit(ref_month))
    missing = [c for c in feature_cols if c not in feats.columns]
    if missing:
        raise DataError(f"monthly_features lacks model input column(s) {missing} (model {ref.name} v{ref.version})")
    source_versions = feats.select("source_versions").first()
    if source_versions is None:
        raise DataError(f"monthly_features has no rows for reference month {ref_month}")
    data_versions = json.dumps(
        {"monthly_features": mf_version, "model_training_run": ref.run_id,
         **{t: int(v) for t, _, v in (i.partition("=") for i in source_versions[0].split(",")) if v.isdigit()}},
        sort_keys=True,
    )
    scored_on = dt.date.fromisoformat(sc.scored_on) if sc.scored_on else dt.date.today()

    with mlflow.start_run(run_name=f"score-{ref.name}-v{ref.version}") as run_:
        model_bytes = spark.sparkContext.broadcast(bytes(booster.save_raw("ubj")))
        predicted = predict_frame(feats, model_bytes, feature_cols, sc.top_features)
        ranked = rank_scores(predicted).select(
            "*",
            F.lit(ref.name).alias("model_name"),
            F.lit(ref.version).alias("model_version"),
            F.lit(run_.info.run_id).alias("run_id"),
            F.lit(scored_on).alias("scored_on"),
            F.lit(ref_month).alias("reference_month"),
            F.lit(data_versions).alias("data_versions"),
        )
        path = cfg.paths.table(schemas.SCORES)
        with arrow_batch_rows(spark, sc.arrow_batch_rows):
            version = write_scores(spark, ranked, path, scored_on, ref.name)
        model_bytes.unpersist()
        written = spark.read.format("delta").load(path).where(
            (F.col("scored_on") == F.lit(scored_on)) & (F.col("model_name") == ref.name)
        )
        n = written.count()
        mlflow.log_params({"model_name": ref.name, "model_version": ref.version, "model_ref": sc.model_ref,
                           "reference_month": str(ref_month), "scored_on": str(scored_on)})
        mlflow.log_params({"data.monthly_features.version": mf_version, "data.scores.version": version})
        mlflow.log_metric("customers_scored", n)
        top = written.orderBy("rank").limit(10).select("rank", "customer_id", "region", "score").collect()
    print(f"score: {n:,} customers scored with {ref.name} v{ref.version} (@{sc.model_ref}), "
          f"reference month {ref_month}, scores Delta v{version} at {path}")
    for r in top:
        print(f"  #{r['rank']:<3} {r['customer_id']}  {r['region']:<11} {r['score']:.3f}")
    return {"rows": n, "version": version, "model_version": ref.version, "run_id": run_.info.run_id,
            "scored_on": scored_on, "path": path}
