"""Score: monthly_features (Delta) + a registered model -> ranked ``scores`` (Delta).

In: the ``monthly_features`` rows of the reference month (every active
customer) and the registered DAICE model ``model.name``: the version under
the champion alias (``model.champion``), or the version or alias named in
``score.model_ref`` for a manual run. The
categorical columns are encoded with the model's own vocabulary (learned at
training): a value it never saw, such as a new region, counts as
``<column>__other``.
Out: one row per customer in the ``scores`` Delta table (partitioned by
scored_on and model_name): score, rank (1 = inspect first) overall and within
region, the top contributing features (XGBoost SHAP contributions), the
model's name and version, the scoring run id and the data versions used.
Re-scoring the same day with the same model replaces its rows.

Contributions are computed only where someone reads them: the customers
ranked within ``score.explain_top_n`` overall or within
``score.explain_per_region`` in their region (the head that campaigns draw
from). Every other row has ``top_features`` null; the console computes a
customer's contributions on demand. Exact contributions cost ~1 ms per
customer, so explaining all 1.5M customers would dominate the job.

Inference runs with the native booster inside ``mapInArrow`` (Arrow batches
straight into a float32 matrix, no pandas): the model is broadcast once and
loaded once per Python worker.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import mlflow
import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import combine, lakehouse, models, schemas, tracking
from ntl_spark.config import Config
from ntl_spark.errors import DataError, MissingInputError
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

    Runs inside ``mapInArrow``: each Arrow batch's feature columns are copied
    once into a float32 matrix (nulls become NaN, xgboost's missing value)
    without a pandas frame in between, and the scores go back as Arrow.

    Args:
        df: rows with customer_id, region and ``feature_cols``.
        model_bytes: broadcast variable holding the booster's raw (UBJSON) bytes.
        feature_cols: model inputs in training order.
        top_k: how many contributing features to keep (0 = none, faster).
    """
    from pyspark.sql.pandas.types import to_arrow_schema

    out_schema = to_arrow_schema(PREDICTION_SCHEMA)
    top_type = out_schema.field("top_features").type
    n_features = len(feature_cols)

    def infer(batches: Iterable[Any]) -> Iterator[Any]:
        import pyarrow as pa
        import xgboost as xgb

        booster = models.worker_booster(model_bytes.value)
        for batch in batches:
            x = np.empty((batch.num_rows, n_features), dtype=np.float32)
            for j in range(n_features):
                x[:, j] = batch.column(j + 2).to_numpy(zero_copy_only=False)
            score = booster.inplace_predict(x, missing=np.nan, validate_features=False).astype(np.float64)
            if top_k:
                contribs = booster.predict(xgb.DMatrix(x, missing=np.nan, feature_names=feature_cols), pred_contribs=True)
                top = pa.array(top_contributions(contribs, feature_cols, top_k), type=top_type)
            else:
                top = pa.nulls(batch.num_rows, type=top_type)
            yield pa.RecordBatch.from_arrays([batch.column(0), batch.column(1), pa.array(score), top],
                                             schema=out_schema)

    # float32 on the wire: what the booster reads anyway (xgboost predicts on float32), half the bytes of doubles
    return df.select("customer_id", "region", *[F.col(c).cast("float") for c in feature_cols]).mapInArrow(
        infer, PREDICTION_SCHEMA
    )


def explain_head(ranked: DataFrame, feats: DataFrame, model_bytes: Any, feature_cols: list[str], top_k: int,
                 top_n: int, per_region: int) -> DataFrame:
    """``ranked`` with ``top_features`` computed for its head and null for every other row.

    Args:
        ranked: :func:`models.rank_scores` output with ``customer_id``, ``rank``, ``region_rank``
            and a (null) ``top_features`` column; its column order is kept.
        feats: the model inputs the scores came from (``customer_id`` and ``feature_cols``).
        top_k: features kept per explained row (0: none explained).
        top_n: rows with ``rank <= top_n`` are explained.
        per_region: rows with ``region_rank <= per_region`` are explained.
    """
    columns = ranked.columns
    if top_k == 0 or (top_n == 0 and per_region == 0):
        return ranked.withColumn("top_features", F.lit(None).cast(PREDICTION_SCHEMA["top_features"].dataType)
                                 ).select(*columns)
    head = ranked.where((F.col("rank") <= top_n) | (F.col("region_rank") <= per_region)).select("customer_id")
    spark = ranked.sparkSession
    # the head is small and sits in a few range partitions: spread it over every core
    parts = max(int(spark.sparkContext.defaultParallelism), 1)
    rows = feats.join(F.broadcast(head), "customer_id").repartition(parts, "customer_id")
    explained = predict_frame(rows, model_bytes, feature_cols, top_k).select(
        "customer_id", F.col("top_features").alias("_explained"))
    return (
        ranked.join(F.broadcast(explained), "customer_id", "left")
        .withColumn("top_features", F.col("_explained"))
        .select(*columns)
    )


def model_to_score(client: Any, cfg: Config) -> tuple[tracking.ModelRef, str]:
    """The registered version to score with and the reference it was found by.

    Raises:
        MissingInputError: ``score.model_ref`` is empty and no version holds the
            champion alias yet (the model gate or ``promote`` sets it).
        ConfigError: ``score.model_ref`` names a version or alias that does not exist.
    """
    mc = cfg.model
    if cfg.score.model_ref:
        return tracking.resolve(client, mc.name, cfg.score.model_ref), cfg.score.model_ref
    if tracking.alias_version(client, mc.name, mc.champion) is None:
        raise MissingInputError(
            f"registered model '{mc.name}' has no champion yet (alias '{mc.champion}'): run validate_model to "
            f"judge the challenger (@{mc.challenger}), or promote a version (--set promote.version=N); "
            f"to score another version anyway set score.model_ref")
    return tracking.resolve(client, mc.name, mc.champion), mc.champion


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Score every active customer with the champion (or ``score.model_ref``) and write the ranking."""
    sc = cfg.score
    client = tracking.setup(cfg, experiment=f"{cfg.mlflow.experiment}-scoring")
    ref, model_ref = model_to_score(client, cfg)
    model = models.load_daice(ref)
    booster, feature_cols = model.booster, model.feature_columns

    mf_path = cfg.paths.table(schemas.MONTHLY_FEATURES)
    pinned = lakehouse.read_pinned(spark, mf_path, "monthly_features", "features")
    feats, mf_version = pinned.df, pinned.version
    if cfg.features.reference_month:
        ref_month = dt.date.fromisoformat(cfg.features.reference_month)
    else:
        ref_month = scalar(feats.agg(F.max("reference_month")), "monthly_features")
    feats = models.model_inputs(feats.where(F.col("reference_month") == F.lit(ref_month)), model,
                                schemas.MONTHLY_FEATURES)
    if feats.select("customer_id").first() is None:
        raise DataError(f"monthly_features has no rows for reference month {ref_month}")
    data_versions = lakehouse.merge_lineage(lakehouse.lineage_of(feats), {schemas.MONTHLY_FEATURES: mf_version})
    scored_on = dt.date.fromisoformat(sc.scored_on) if sc.scored_on else dt.date.today()

    with mlflow.start_run(run_name=f"score-{ref.name}-v{ref.version}") as run_:
        model_bytes = spark.sparkContext.broadcast(bytes(booster.save_raw("ubj")))
        # scores for everyone, contributions for the head only (explain_head)
        predicted = predict_frame(feats, model_bytes, feature_cols, 0)
        ranked = explain_head(models.rank_scores(predicted), feats, model_bytes, feature_cols, sc.top_features,
                              sc.explain_top_n, sc.explain_per_region).select(
            "*",
            F.lit(ref.name).alias("model_name"),
            F.lit(ref.version).alias("model_version"),
            F.lit(run_.info.run_id).alias("run_id"),
            F.lit(scored_on).alias("scored_on"),
            F.lit(ref_month).alias("reference_month"),
            lakehouse.lineage_column(data_versions).alias(schemas.LINEAGE_COLUMN),
        )
        path = cfg.paths.table(schemas.SCORES)
        with arrow_batch_rows(spark, sc.arrow_batch_rows):
            version = models.write_scores(ranked, path, scored_on, ref.name)
        model_bytes.unpersist()
        written = lakehouse.read_pinned(spark, path, schemas.SCORES, "score", version).df.where(
            (F.col("scored_on") == F.lit(scored_on)) & (F.col("model_name") == ref.name)
        )
        n = written.count()
        mlflow.log_params({"model_name": ref.name, "model_version": ref.version, "model_ref": model_ref,
                           "reference_month": str(ref_month), "scored_on": str(scored_on)})
        tracking.log_data_versions(data_versions)
        mlflow.log_param("data.scores.version", version)
        mlflow.log_metric("customers_scored", n)
        top = written.orderBy("rank").limit(10).select("rank", "customer_id", "region", "score").collect()
        combined = combine.refresh(spark, cfg, scored_on, run_.info.run_id)
        if combined:
            mlflow.log_param("combined_model_version", combined["model_version"])
    print(f"score: {n:,} customers scored with {ref.name} v{ref.version} (@{model_ref}), "
          f"reference month {ref_month}, scores Delta v{version} at {path}")
    for r in top:
        print(f"  #{r['rank']:<3} {r['customer_id']}  {r['region']:<11} {r['score']:.3f}")
    return {"rows": n, "version": version, "model_version": ref.version, "run_id": run_.info.run_id,
            "scored_on": scored_on, "path": path, "combined": combined}
