"""Train DAICE: training_set (Delta) -> XGBoost model in the MLflow registry.

In: the ``training_set`` Delta table written by the features stage.
Out: an MLflow run with parameters, metrics (f1, precision, recall,
accuracy, PR-AUC, ROC-AUC, FPR, TPR, precision at the campaign size, also per
region), PR/ROC curves, feature importance, the configuration, the Delta
version of every input table and the categorical vocabulary
(``categories.json``); the native booster registered under
``model.name`` with alias ``model.challenger``, its metadata holding the
input columns and the vocabulary (read back by ``models.load_daice``).

The categorical columns (``train.categorical``) are encoded with levels
learned from the training split only (``ntl_spark.encoding``), so the test
split and later scoring data are encoded as the model saw its training rows.

Training runs distributed with ``xgboost.spark``; the split keeps customers
apart (a customer's inspections are all in train or all in test). The held-out
customers are a salted hash of customer_id (``train.split_salt``,
``train.test_fraction``: ``models.CustomerSplit``), not of the seed; the salt
and fraction are kept with the model (its metadata, ``split.*`` run parameters
and version tags), so the model gate rebuilds exactly the customers this
model never trained on.

Beside the random customer split, the time-based validation
(``fitting.validate_by_time``, ``train.time_validation_months``) fits the same
recipe on the inspections before a cut-off, unlabelled negatives included
when ``monthly_features`` holds a month before it, and judges it on the later
ones: ``time_*`` metrics and the ``time_validation`` tag. The model gate
judges challenger and champion recipes with the same function.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.xgboost
import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import evaluate, lakehouse, models, registry, schemas, tracking
from ntl_spark.config import Config, TrainConf, as_dict, read_tuned
from ntl_spark.encoding import CategoricalVocabulary
from ntl_spark.errors import DataError, MissingInputError
from ntl_spark.fitting import (  # noqa: F401  (build_estimator: part of this stage's API for benchmarks and tests)
    Recipe,
    build_estimator,
    fit_model,
    label_weights,
    unlabelled_months,
    unlabelled_negatives,
    validate_by_time,
    with_score,
    worker_layout,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_name: str
    model_version: str | None
    metrics: dict[str, float]


def with_tuned_params(tc: TrainConf) -> TrainConf:
    """``tc`` with the parameters the tune job wrote (``train.params_from``) over ``train.params``.

    Raises:
        ConfigError: the file is missing or holds no ``train.params`` mapping (names the file).
    """
    import dataclasses

    if not tc.params_from:
        return tc
    tuned = read_tuned(tc.params_from, "train.params_from", ("train", "params"), "tune")
    log.info("train: parameters from %s: %s", tc.params_from, tuned)
    return dataclasses.replace(tc, params={**tc.params, **tuned})


def check_training_set(df: DataFrame, feature_cols: list[str]) -> None:
    """Raise naming what is missing before any heavy work.

    Args:
        df: the training set.
        feature_cols: the columns read from it: numeric inputs and raw categorical columns.
    """
    wanted = dict.fromkeys(["customer_id", "inspection_id", "label", "region", *feature_cols])
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise DataError(f"training_set lacks column(s) {missing}: rebuild it with the features job "
                        f"(features.months must match between the two jobs)")


def control_arm_metrics(scored: Any, threshold: float, k: int) -> dict[str, float]:
    """Metrics on the held-out rows of the control arm (pandas: label, score, arm).

    Returns ``rows`` and ``positives`` always, and :func:`evaluate.binary_metrics`
    (precision, PR-AUC ...; precision at min(k, rows)) when both classes are there.
    """
    if "arm" not in scored.columns:
        return {"rows": 0.0}
    part = scored[scored["arm"] == "control"]
    out = {"rows": float(len(part)), "positives": float(part["label"].sum())}
    if part["label"].nunique() < 2:
        return out
    return {**out, **evaluate.binary_metrics(part["label"].to_numpy(), part["score"].to_numpy(), threshold,
                                             min(k, len(part)))}


def split_tags(client: Any, name: str, version: str, split: models.CustomerSplit) -> None:
    """Tag a registered version with the customers it held out (``split.*``), as its metadata records them."""
    registry.tag_version(client, name, version, {
        "split.method": split.method, "split.salt": split.salt, "split.fraction": split.fraction,
        "split.definition": split.describe()})


def run(spark: SparkSession, cfg: Config) -> TrainResult:
    """Train, evaluate, log and register one DAICE model."""
    from ntl_spark import rules

    tc = with_tuned_params(cfg.train)
    client = tracking.setup(cfg)
    path = cfg.paths.table(schemas.TRAINING_SET)
    pinned = lakehouse.read_pinned(spark, path, schemas.TRAINING_SET, "features")
    data, version = pinned.df, pinned.version
    numeric = schemas.numeric_feature_columns(cfg.features.months, tc.raw_consumption)
    categorical = list(tc.categorical.columns)
    check_training_set(data, numeric + categorical)
    versions = lakehouse.merge_lineage(lakehouse.lineage_of(data), {schemas.TRAINING_SET: version})
    raw = list(dict.fromkeys(["region", *categorical]))
    field = [c for c in ("arm", "selection_probability") if c in data.columns]
    data = data.select("customer_id", "inspection_id", "label", *raw, *field,
                       *[F.col(c).cast("double") for c in numeric])
    data = label_weights(data, tc.weighting)

    split = models.CustomerSplit(tc.split_salt, tc.test_fraction)
    raw_train, raw_test = split.split(data)
    n_unlabelled = 0
    mf = None
    drawn_at: list[dt.date] = []
    if tc.unlabelled_share > 0:
        mf = lakehouse.read_pinned(spark, cfg.paths.table(schemas.MONTHLY_FEATURES), schemas.MONTHLY_FEATURES,
                                   "features")
        available = models.reference_months(mf.df)
        if not available:
            raise MissingInputError("monthly_features is empty: run the features job (train.unlabelled_share > 0 "
                                    "draws never-inspected negatives from it)")
        drawn_at = unlabelled_months(available, available[-1], tc.unlabelled_months)
        lacking = sorted(models.months_before(available[-1], tc.unlabelled_months) - set(drawn_at))
        if lacking:
            log.warning("unlabelled negatives: monthly_features lacks the month(s) %s (train.unlabelled_months; "
                        "the features job builds them)", ", ".join(m.isoformat() for m in lacking))
        versions = lakehouse.merge_lineage(versions, {schemas.MONTHLY_FEATURES: mf.version})
        want = int(round(tc.unlabelled_share * raw_train.count()))
        extra = unlabelled_negatives(mf.df.where(F.col("reference_month").isin(drawn_at)), raw_train, split, want,
                                     tc.unlabelled_weight, tc.seed)
        if "weight" not in raw_train.columns:
            raw_train = raw_train.withColumn("weight", F.lit(1.0))
        raw_train = raw_train.unionByName(extra)
    workers, threads = worker_layout(spark, tc)
    # Cached in the training layout so that the fit reads it without another shuffle
    # (the encoding below is a select on top: same partitions).
    raw_train = raw_train.repartition(workers).cache()
    n_train = raw_train.count()
    n_pos = raw_train.where(F.col("label") == 1).count()
    if tc.unlabelled_share > 0:
        n_unlabelled = raw_train.where(F.col("inspection_id").isNull()).count()
    if n_train == 0 or n_pos == 0 or n_pos == n_train:
        raise DataError(f"training split has {n_train} rows and {n_pos} irregular: need both classes")
    cc = tc.categorical
    vocabulary = CategoricalVocabulary.fit(raw_train, categorical, cc.max_levels, cc.min_count)
    feature_cols = numeric + vocabulary.feature_columns
    train_df, test_df = vocabulary.transform(raw_train), vocabulary.transform(raw_test)

    with mlflow.start_run(run_name=f"{cfg.model.name}-train") as run_:
        mlflow.log_params(tracking.run_params("xgb", tc.params))
        mlflow.log_params({
            "model_name": cfg.model.name, "num_workers": workers, "threads_per_worker": threads,
            "test_fraction": tc.test_fraction, "split.method": split.method, "split.salt": split.salt,
            "split.fraction": split.fraction,
            "seed": tc.seed, "months": cfg.features.months, "n_features": len(feature_cols),
            "campaign_size": tc.campaign_size, "threshold": tc.threshold, "weighting": tc.weighting,
            "n_train": n_train, "n_train_positive": n_pos,
            "categorical": ",".join(categorical), "n_encoded_features": len(vocabulary.feature_columns),
            "unlabelled_share": tc.unlabelled_share, "unlabelled_weight": tc.unlabelled_weight,
            "n_train_unlabelled": n_unlabelled, "unlabelled_months": list(tc.unlabelled_months),
            "unlabelled_drawn_months": ",".join(m.isoformat() for m in drawn_at) or "-",
        })
        tracking.log_data_versions(versions)
        mlflow.log_dict(vocabulary.to_dict(), "categories.json")

        model = fit_model(spark, train_df, feature_cols, tc)
        booster = model.get_booster()
        booster.feature_names = feature_cols

        rc = cfg.rules
        with_rule = rules.has_inputs(test_df.columns, rc.recent_months)
        if with_rule:
            test_df = rules.rule_scores(test_df, rc.recent_months, rc.zero_kwh, rc.min_zero_run)
        scored: Any = with_score(model.transform(test_df)).select(
            "customer_id", "region", "label", "score", *(["arm"] if "arm" in test_df.columns else []), *([rules.RULE_SCORE] if with_rule else [])).toPandas()
        y, s = scored["label"].to_numpy(), scored["score"].to_numpy()
        k = min(tc.campaign_size, len(y))
        m = evaluate.binary_metrics(y, s, tc.threshold, k)
        mlflow.log_metrics({f"test_{n}": v for n, v in m.items() if not math.isnan(v)})
        # the rules baseline on the same held-out rows: "lift over the rule"
        vs_rule = evaluate.lift_over_rule(y, s, scored[rules.RULE_SCORE].to_numpy(), k) if with_rule else {}
        mlflow.log_metrics({f"test_{n}": v for n, v in vs_rule.items() if not math.isnan(v)})
        # beside the random customer split: train before a cut-off, judge on later inspections
        # (the same recipe fitted on the earlier rows; the model gate judges recipes with the same function)
        timed = validate_by_time(spark, pinned.df, tc.time_validation_months, {"model": Recipe(tc, tuple(numeric))},
                                 rc, mf.df if mf is not None else None)
        by_time = timed.metrics("model", tc.threshold, tc.campaign_size) if timed.judged else {}
        mlflow.log_metrics({f"time_{n}": v for n, v in by_time.items() if not math.isnan(v)})
        mlflow.set_tag("time_validation", timed.describe())
        per_region = evaluate.metrics_by_group(scored, "region", tc.threshold, k)
        # the control arm is a random draw: the one unbiased sample of the population among the labels
        control = control_arm_metrics(scored, tc.threshold, k)
        mlflow.log_metrics({f"test_control_{n}": v for n, v in control.items() if not math.isnan(v)})

        importance = booster.get_score(importance_type="total_gain")
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            evaluate.plot_curves({"test": (y, s)}, d / "curves.png", f"{cfg.model.name} (test, n={len(y)})")
            evaluate.plot_importance(importance, d / "feature_importance.png")
            (d / "feature_importance.json").write_text(json.dumps(importance, indent=1, sort_keys=True))
            (d / "metrics_by_region.json").write_text(json.dumps(per_region, indent=1, default=float))
            if vs_rule:
                (d / "rule_baseline.json").write_text(json.dumps(
                    {**vs_rule, "model_precision_at_k": m["precision_at_k"], "campaign_size": k,
                     "rule": vars(rc)}, indent=1, default=float))
            (d / "config.json").write_text(json.dumps(as_dict(cfg), indent=1, default=str))
            c = evaluate.curves(y, s)
            np.savez(d / "curves.npz", **c)
            (d / "test_scores.json").write_text(json.dumps({"label": y.tolist(), "score": s.tolist()}))
            mlflow.log_artifacts(tmp, artifact_path="evaluation")

        info = mlflow.xgboost.log_model(
            booster,
            name="model",
            registered_model_name=cfg.model.name if tc.register else None,
            metadata=models.daice_metadata(feature_cols, vocabulary, cfg.features.months, split),
        )
        mv = info.registered_model_version if tc.register else None
        if mv is not None:
            split_tags(client, cfg.model.name, str(mv), split)
            tracking.set_alias(client, cfg.model.name, cfg.model.challenger, str(mv))
        raw_train.unpersist()
        result = TrainResult(run_.info.run_id, cfg.model.name, str(mv) if mv is not None else None, m)

    print(f"train: {cfg.model.name} v{result.model_version} run {result.run_id}  "
          f"test n={int(m['n'])} positives={int(m['positives'])}  PR-AUC {m['pr_auc']:.3f}  "
          f"ROC-AUC {m['roc_auc']:.3f}  precision@{k} {m['precision_at_k']:.3f}  f1 {m['f1']:.3f}")
    if by_time:
        print(f"train: time-based validation (last {tc.time_validation_months} months of inspections, model trained "
              f"on the earlier ones, {int(by_time['n_unlabelled'])} unlabelled negatives): n={int(by_time['n'])} "
              f"positives={int(by_time['positives'])}  PR-AUC {by_time['pr_auc']:.3f}  "
              f"precision@{min(tc.campaign_size, int(by_time['n']))} {by_time['precision_at_k']:.3f}"
              + (f"  lift over the rule {by_time['lift_over_rule']:.2f}x" if "lift_over_rule" in by_time else ""))
    elif tc.time_validation_months:
        print(f"train: {timed.describe()}")
    if vs_rule:
        print(f"train: rule (drop vs a year before, zero runs) on the same rows: precision@{k} "
              f"{vs_rule['rule_precision_at_k']:.3f}  PR-AUC {vs_rule['rule_pr_auc']:.3f}  "
              f"lift over the rule {vs_rule['lift_over_rule']:.2f}x")
    return result
