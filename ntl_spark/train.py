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
"""

from __future__ import annotations

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
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import evaluate, lakehouse, models, registry, schemas, tracking
from ntl_spark.config import Config, TrainConf, as_dict
from ntl_spark.encoding import CategoricalVocabulary
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.sparkutil import arrow_batch_rows, scalar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_name: str
    model_version: str | None
    metrics: dict[str, float]


def with_score(predictions: DataFrame, probability_col: str = "probability") -> DataFrame:
    """Add ``score`` = probability of the positive class from a Spark ML probability vector."""
    return predictions.withColumn("score", vector_to_array(F.col(probability_col))[1])


def with_tuned_params(tc: TrainConf) -> TrainConf:
    """``tc`` with the parameters the tune job wrote (``train.params_from``) over ``train.params``.

    Raises:
        ConfigError: the file is missing or holds no ``train.params`` mapping (names the file).
    """
    import dataclasses

    import yaml

    if not tc.params_from:
        return tc
    path = Path(tc.params_from.removeprefix("file://"))
    if not path.is_file():
        raise ConfigError(f"config key 'train.params_from': {tc.params_from!r} does not exist: run the tune job "
                          f"first, or leave it empty")
    data = yaml.safe_load(path.read_text()) or {}
    tuned = data.get("train", {}).get("params") if isinstance(data, dict) else None
    if not isinstance(tuned, dict) or not tuned:
        raise ConfigError(f"config key 'train.params_from': {tc.params_from!r} has no train.params mapping")
    log.info("train: parameters from %s: %s", path, tuned)
    return dataclasses.replace(tc, params={**tc.params, **tuned})


def time_validation(
    spark: SparkSession, training_set: DataFrame, numeric: list[str], tc: TrainConf, rules_conf: Any, months: int,
) -> dict[str, float]:
    """Train on inspections before a cut-off and judge on the later ones (what production faces).

    The cut-off is ``months`` months before the last reference month in
    ``training_set``: rows whose reference month is on or after it are the
    validation set, the earlier rows train a model with ``tc``'s parameters
    (categorical levels learned from the earlier rows only). Beside the random
    customer split, this shows how a model does on inspections it could not
    have seen, at a time the labels' mix may have moved.

    Returns:
        The validation metrics (``evaluate.binary_metrics`` at the campaign size)
        and the rule's on the same rows (``evaluate.lift_over_rule``); empty when
        either side lacks a class.
    """
    from ntl_spark import rules

    row = training_set.agg(F.max("reference_month")).first()
    last = row[0] if row is not None else None
    if last is None:
        return {}
    cutoff = F.add_months(F.lit(last), 1 - months)
    categorical = list(tc.categorical.columns)
    raw = list(dict.fromkeys(["region", *categorical]))
    data = training_set.select("label", "reference_month", *raw, *[F.col(c).cast("double") for c in numeric])
    early, late = data.where(F.col("reference_month") < cutoff), data.where(F.col("reference_month") >= cutoff)
    counts = {side: (df.count(), df.where(F.col("label") == 1).count()) for side, df in (("early", early), ("late", late))}
    if any(n == 0 or pos in (0, n) for n, pos in counts.values()):
        log.warning("train: no time-based validation (rows, irregular before/after the cut-off: %s)", counts)
        return {}
    cc = tc.categorical
    vocabulary = CategoricalVocabulary.fit(early, categorical, cc.max_levels, cc.min_count)
    cols = numeric + vocabulary.feature_columns
    workers, _ = worker_layout(spark, tc)
    model = fit_model(spark, vocabulary.transform(early).repartition(workers), cols, tc)
    late_df = vocabulary.transform(late)
    with_rule = rules.has_inputs(late_df.columns, rules_conf.recent_months)
    if with_rule:
        late_df = rules.rule_scores(late_df, rules_conf.recent_months, rules_conf.zero_kwh, rules_conf.min_zero_run)
    pdf: Any = with_score(model.transform(late_df)).select(
        "label", "score", *([rules.RULE_SCORE] if with_rule else [])).toPandas()
    y, s = pdf["label"].to_numpy(), pdf["score"].to_numpy()
    k = min(tc.campaign_size, len(y))
    out = evaluate.binary_metrics(y, s, tc.threshold, k)
    if with_rule:
        out.update(evaluate.lift_over_rule(y, s, pdf[rules.RULE_SCORE].to_numpy(), k))
    out["n_train"] = float(counts["early"][0])
    return out


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


_ESTIMATOR_CLASS: list[type] = []


def _estimator_class() -> type:
    """SparkXGBClassifier whose workers may run more xgboost threads than ``spark.task.cpus``.

    xgboost.spark refuses ``nthread``/``n_jobs`` and always uses
    ``spark.task.cpus``, a session-wide setting: raising it for training would
    also serialise every other stage sharing the session (local[2] has one slot
    at task.cpus=2). The subclass keeps the documented behaviour when
    ``nthread_per_worker`` is 0.
    """
    if not _ESTIMATOR_CLASS:
        from xgboost.spark import SparkXGBClassifier

        class DaiceXGBClassifier(SparkXGBClassifier):  # type: ignore[misc]
            nthread_per_worker = 0

            def _get_xgb_parameters(self, dataset: DataFrame) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
                booster, train_kwargs, dmatrix = super()._get_xgb_parameters(dataset)
                if self.nthread_per_worker:
                    booster["nthread"] = dmatrix["nthread"] = self.nthread_per_worker
                return booster, train_kwargs, dmatrix

        _ESTIMATOR_CLASS.append(DaiceXGBClassifier)
    return _ESTIMATOR_CLASS[0]


def build_estimator(
    feature_cols: list[str], params: dict[str, Any], num_workers: int, seed: int,
    threads_per_worker: int = 0, callbacks: list[Any] | None = None, weight_col: str | None = None,
) -> Any:
    """The xgboost.spark classifier for DAICE.

    Args:
        feature_cols: model inputs, double columns.
        params: xgboost hyperparameters (``train.params``).
        num_workers: training tasks (a barrier stage: at most the free task slots).
        seed: random_state.
        threads_per_worker: xgboost threads in each worker; 0 = ``spark.task.cpus``.
        callbacks: xgboost training callbacks (pickled to the workers).
    """
    est = _estimator_class()(
        features_col=feature_cols,
        label_col="label",
        num_workers=num_workers,
        missing=float("nan"),
        random_state=seed,
        verbosity=0,
        verbose=False,  # no per-round evaluation log from every worker
        **({"callbacks": callbacks} if callbacks else {}),
        **({"weight_col": weight_col} if weight_col else {}),
        **params,
    )
    est.nthread_per_worker = threads_per_worker
    return est


def worker_layout(spark: SparkSession, tc: TrainConf) -> tuple[int, int]:
    """Training workers and xgboost threads per worker for this session.

    local[N]: ``train.num_workers`` (capped at N) workers sharing the N cores, so
    one worker with N threads avoids the per-node histogram allreduce between
    workers. A cluster keeps xgboost.spark's rule (threads = spark.task.cpus)
    unless ``train.threads_per_worker`` is set.
    """
    slots = spark.sparkContext.defaultParallelism
    workers = min(tc.num_workers, slots)
    if workers < tc.num_workers:
        log.warning("train.num_workers=%d > %d task slots: using %d", tc.num_workers, slots, workers)
    threads = tc.threads_per_worker
    if threads == 0:
        if (spark.sparkContext.master or "").startswith("local"):
            threads = max(1, slots // workers)
        else:
            threads = int(spark.sparkContext.getConf().get("spark.task.cpus", "1"))
    return workers, threads


def label_weights(df: DataFrame, mode: str) -> DataFrame:
    """``df`` with a ``weight`` column for ``train.weighting``.

    ``none``: unchanged (every label counts once). ``ipw``: a campaign label
    weighs 1 / its selection probability (a control-arm label stands for the
    eligible customers the draw left out; a model-arm label, chosen for sure,
    weighs 1); labels outside campaigns weigh 1.

    Raises:
        DataError: ``ipw`` without ``selection_probability`` in the training set.
    """
    if mode == "none":
        return df
    if "selection_probability" not in df.columns:
        raise DataError("train.weighting=ipw: training_set has no selection_probability column: run the outcomes "
                        "job, then features")
    p = F.col("selection_probability")
    return df.withColumn("weight", F.when(p.isNotNull() & (p > 0), 1.0 / p).otherwise(F.lit(1.0)))


def unlabelled_negatives(features: DataFrame, labelled: DataFrame, split: models.CustomerSplit, n: int,
                         weight: float, seed: int) -> DataFrame:
    """About ``n`` never-inspected customers of ``features`` (one month of ``monthly_features``) as negatives.

    Positive-unlabelled training: the labels come from campaigns that chose
    suspicious customers, so a model trained on them alone never sees the
    ordinary population it will rank. Customers without any labelled
    inspection are drawn (by a seeded hash of the customer id, so the draw
    does not depend on partitioning), labelled 0 and given ``weight`` (some of
    them steal unseen). Held-out customers of ``split`` are never drawn, so
    the test split stays labelled inspections only.

    Returns:
        Rows with ``labelled``'s columns (inspection_id and field columns null) plus ``weight``.
    """
    pool = split.split(features.join(labelled.select("customer_id").distinct(), "customer_id", "left_anti"))[0]
    total = pool.count()
    if total == 0 or n <= 0:
        return labelled.limit(0).withColumn("weight", F.lit(weight))
    # a hash of the customer, not rand(): the same customers whatever the partitioning (local or cluster)
    bucket = F.pmod(F.xxhash64(F.lit(f"unlabelled-{seed}"), F.col("customer_id")), F.lit(1_000_000))
    drawn = pool.where(bucket < F.lit(int(min(1.0, n / total) * 1_000_000)))
    cols = []
    for f in labelled.schema.fields:
        if f.name == "label":
            cols.append(F.lit(0).cast(f.dataType).alias("label"))
        elif f.name in drawn.columns:
            cols.append(F.col(f.name).cast(f.dataType).alias(f.name))
        else:
            cols.append(F.lit(None).cast(f.dataType).alias(f.name))
    return drawn.select(*cols, F.lit(weight).alias("weight"))


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


def fit_model(
    spark: SparkSession, train_df: DataFrame, feature_cols: list[str], tc: TrainConf,
    callbacks: list[Any] | None = None,
) -> Any:
    """Fit the DAICE estimator on ``train_df`` (label + double ``feature_cols``) with the configured layout.

    ``train_df`` should be cached with one partition per worker (see
    ``run``): xgboost.spark shuffles any other layout into ``num_workers``
    partitions at every fit (a barrier stage cannot read through ``coalesce``).
    Each worker receives its rows in Arrow batches of ``train.arrow_batch_rows``.

    Returns:
        The fitted ``SparkXGBClassifierModel``.
    """
    workers, threads = worker_layout(spark, tc)
    weighted = "weight" in train_df.columns
    data = train_df.select("label", *(["weight"] if weighted else []), *feature_cols)
    est = build_estimator(feature_cols, tc.params, workers, tc.seed, threads, callbacks,
                          weight_col="weight" if weighted else None)
    with arrow_batch_rows(spark, tc.arrow_batch_rows):
        return est.fit(data)


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
    numeric = schemas.numeric_feature_columns(cfg.features.months)
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
    if tc.unlabelled_share > 0:
        mf = lakehouse.read_pinned(spark, cfg.paths.table(schemas.MONTHLY_FEATURES), schemas.MONTHLY_FEATURES,
                                   "features")
        month = scalar(mf.df.agg(F.max("reference_month")), "monthly_features")
        versions = lakehouse.merge_lineage(versions, {schemas.MONTHLY_FEATURES: mf.version})
        want = int(round(tc.unlabelled_share * raw_train.count()))
        extra = unlabelled_negatives(mf.df.where(F.col("reference_month") == F.lit(month)), raw_train, split, want,
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
            "n_train_unlabelled": n_unlabelled,
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
        by_time = time_validation(spark, pinned.df, numeric, tc, rc, tc.time_validation_months) \
            if tc.time_validation_months else {}
        mlflow.log_metrics({f"time_{n}": v for n, v in by_time.items() if not math.isnan(v)})
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
              f"on the earlier ones): n={int(by_time['n'])} positives={int(by_time['positives'])}  PR-AUC "
              f"{by_time['pr_auc']:.3f}  precision@{min(tc.campaign_size, int(by_time['n']))} "
              f"{by_time['precision_at_k']:.3f}" + (f"  lift over the rule {by_time['lift_over_rule']:.2f}x"
                                                     if "lift_over_rule" in by_time else ""))
    if vs_rule:
        print(f"train: rule (drop vs a year before, zero runs) on the same rows: precision@{k} "
              f"{vs_rule['rule_precision_at_k']:.3f}  PR-AUC {vs_rule['rule_pr_auc']:.3f}  "
              f"lift over the rule {vs_rule['lift_over_rule']:.2f}x")
    return result
