"""Tune: hyperparameter search for DAICE with Optuna (TPE sampler, median pruning), tracked in MLflow.

In: the ``training_set`` Delta table, ``monthly_features`` (when
``train.unlabelled_share`` > 0: the never-inspected negatives) and the ``tune``
section of the configuration. Out: an MLflow parent run
(``<model.name>-tune``) with one child run per trial (its parameters, the
objective and PR-AUC on the validation rows, or the round it was pruned at),
the split that judged the trials and why (``tune.split_used``,
``tune.split_reason``, ``tune.cutoff``, parameters and tags), the rows on each
side (``n_train``, ``n_train_unlabelled``, ``n_validation``, positives), the
search's plots (optimisation history, parameter importances, parallel
coordinates) and ``best_params.json`` as artifacts, ``tune.best.*`` tags on
the parent run; and a YAML configuration layer (``tune.output``, default
``<paths.root>/tuned_params.yaml``) holding ``train.params``, which the train
job reads when ``train.params_from`` names it.

Objective: precision at the campaign size of xgboost trained on one side of a
split and scored on the other. ``tune.split: time`` (the default) is the time
split of the train job and the model gate (``models.TimeSplit``,
``fitting.time_split_of``): the inspections before the last
``train.time_validation_months`` reference months train, the later ones judge,
at ``min(train.campaign_size, validation rows)`` as train's ``time_*`` metrics
and the gate count it: what a model faces in production. When the time split
cannot judge (``train.time_validation_months`` 0, no ``reference_month``
column, one class on a side, fewer late customers than
``validation.blessing.min_held_out_customers``, the gate's floor) the random
split judges instead, with a warning, and the run and the job's last lines
say why. ``tune.split: random`` (or that fallback): a salted hash of
customer_id (``tune.split_salt``, ``tune.validation_fraction``,
``models.CustomerSplit``) so that a customer's inspections sit on one side
only, at the campaign size scaled to the validation rows as a share of all
labelled rows.

The trials train as the train job's recipe does, on either split
(``fitting.training_rows``): labelled rows weighted by ``train.weighting``
and, when ``train.unlabelled_share`` > 0, never-inspected customers of
``monthly_features`` as negatives weighing ``train.unlabelled_weight``, drawn
at the ``train.unlabelled_months`` offsets before the latest month the table
holds (time split: the latest month *before* the cut-off, as the time-based
validation draws; customers inspected on either side are never drawn). Without
``monthly_features``, or without a month before the cut-off, the trials train
on labelled rows only and the run says so (``tune.negatives``). Trials train
native xgboost on the driver with those weights (the labelled set is small:
one row per inspection) in steps of ``tune.step_rounds`` rounds; after each
step the objective is reported and a trial worse than the median of earlier
trials at that step is pruned. Categorical columns are encoded with levels
learned from the training rows only (``ntl_spark.encoding``), as the train
job does.
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
import numpy as np
import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import evaluate, fitting, lakehouse, models, schemas, tracking
from ntl_spark.config import Config, TuneConf, join_path
from ntl_spark.encoding import CategoricalVocabulary
from ntl_spark.errors import DataError

log = logging.getLogger(__name__)


TIME, RANDOM = "time", "random"


def validation_split(df: DataFrame, salt: str, fraction: float) -> tuple[DataFrame, DataFrame]:
    """(train, validation) rows: validation = customers with ``pmod(xxhash64(salt, customer_id), 10000) < fraction * 10000``."""
    return models.CustomerSplit(salt, fraction).split(df)


@dataclass(frozen=True)
class TrialSplit:
    """Which inspections train the trials and which judge them.

    Attributes:
        used: :data:`TIME` or :data:`RANDOM`.
        reason: in words: the time split's cut-off and rows, or why the random split judges.
        time: the time split when ``used`` is :data:`TIME`; None otherwise.
    """

    used: str
    reason: str
    time: models.TimeSplit | None = None

    @property
    def cutoff(self) -> dt.date | None:
        return self.time.cutoff if self.time is not None else None

    def split(self, df: DataFrame, tc: TuneConf) -> tuple[DataFrame, DataFrame]:
        """(train, validation) rows of ``df``: early and late rows, or customers by ``tune.split_salt``."""
        if self.time is not None:
            return self.time.split(df)
        return validation_split(df, tc.split_salt, tc.validation_fraction)


def choose_split(training_set: DataFrame, tc: TuneConf, months: int, min_customers: int) -> TrialSplit:
    """The split that judges the trials: ``tune.split``, or the random one when the time split cannot judge.

    Args:
        training_set: the labelled rows (``reference_month`` for the time split).
        tc: the ``tune`` section (``split``, and the random split's salt and fraction).
        months: ``train.time_validation_months``.
        min_customers: fewest customers the late rows must hold (``validation.blessing.min_held_out_customers``).
    """
    random_split = models.CustomerSplit(tc.split_salt, tc.validation_fraction).describe()
    if tc.split == RANDOM:
        return TrialSplit(RANDOM, f"tune.split is random: customers with {random_split} judge")
    split, counts, problem = fitting.time_split_of(training_set, months, min_customers)
    if split is None or counts is None or problem is not None:
        reason = f"time split unavailable ({problem}): customers with {random_split} judge"
        log.warning("tune: %s", reason)
        return TrialSplit(RANDOM, reason)
    return TrialSplit(TIME, f"cut-off {split.cutoff.isoformat()}: {split.describe()}; {counts.early_rows} "
                            f"inspections train, {counts.late_rows} ({counts.late_customers} customers, "
                            f"{counts.late_positives} irregular) judge", split)


def unlabelled_source(
    spark: SparkSession, cfg: Config, training_set: DataFrame, cutoff: dt.date | None,
) -> tuple[fitting.UnlabelledPool | None, str, int | None]:
    """Where the trials' never-inspected negatives come from.

    Returns:
        the pool (None: labelled rows only), where the negatives come from in
        words, and the ``monthly_features`` version read (None when not read).
    """
    tc = cfg.train
    if tc.unlabelled_share <= 0:
        return None, "labelled inspections only (train.unlabelled_share is 0)", None
    mf = lakehouse.read_optional(spark, cfg.paths.table(schemas.MONTHLY_FEATURES))
    pool = fitting.unlabelled_pool(mf.df, training_set, cutoff) if mf is not None else None
    drawn = pool.drawn_at(tc.unlabelled_months) if pool is not None else []
    if pool is not None and drawn:
        return pool, f"never-inspected negatives from monthly_features {', '.join(m.isoformat() for m in drawn)}", \
            mf.version if mf is not None else None
    if mf is None:
        why = "no monthly_features table to draw unlabelled negatives from"
    elif pool is None:
        why = (f"monthly_features holds no month before the cut-off {cutoff.isoformat()}" if cutoff is not None
               else "monthly_features holds no month")
    else:
        why = f"monthly_features holds none of the train.unlabelled_months {list(tc.unlabelled_months)}"
    log.warning("tune: the trials train on labelled inspections only: %s", why)
    return None, f"labelled inspections only ({why})", mf.version if mf is not None else None


def _in_key_order(df: DataFrame, columns: list[str]) -> Any:
    """``columns`` of ``df`` as pandas, rows in key order (customer, month, inspection; never-inspected rows
    have no inspection): the trials' row subsamples then do not depend on how Spark partitioned the rows."""
    keys = [c for c in ("customer_id", "reference_month", "inspection_id") if c in df.columns]
    pdf: Any = df.select(*dict.fromkeys([*keys, "inspection_id", *columns])).toPandas()
    return pdf.sort_values(keys, kind="stable", na_position="first").reset_index(drop=True)


def suggest(trial: Any, tc: TuneConf) -> dict[str, Any]:
    """XGBoost parameters of one trial (the names ``train.params`` uses)."""
    return {
        "n_estimators": trial.suggest_int("n_estimators", tc.step_rounds, tc.max_rounds, step=tc.step_rounds),
        "max_depth": trial.suggest_int("max_depth", 1, 8),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 20.0, log=True),
    }


def objective_factory(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, k: int, tc: TuneConf,
    seed: int, threads: int, w_train: np.ndarray | None = None,
) -> Any:
    """The Optuna objective: precision at ``k`` on the validation rows, reported every ``step_rounds`` rounds.

    ``w_train``: the training rows' weights (None: each counts once).
    """
    import optuna
    import xgboost as xgb

    dtrain = xgb.DMatrix(x_train, label=y_train, weight=w_train, missing=np.nan)
    dval = xgb.DMatrix(x_val, missing=np.nan)

    def objective(trial: Any) -> float:
        params = suggest(trial, tc)
        rounds = params.pop("n_estimators")
        booster_params = {"objective": "binary:logistic", "eta": params["learning_rate"],
                          "max_depth": params["max_depth"], "subsample": params["subsample"],
                          "colsample_bytree": params["colsample_bytree"],
                          "min_child_weight": params["min_child_weight"], "seed": seed, "nthread": threads,
                          "verbosity": 0}
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params({**params, "n_estimators": rounds, "trial": trial.number})
            booster = None
            value = float("nan")
            scores = np.zeros(len(y_val))
            for done in range(tc.step_rounds, rounds + 1, tc.step_rounds):
                booster = xgb.train(booster_params, dtrain, num_boost_round=tc.step_rounds, xgb_model=booster)
                scores = booster.predict(dval)
                value = evaluate.precision_at_k(y_val, scores, k)
                mlflow.log_metric("precision_at_k", value, step=done)
                trial.report(value, done)
                if trial.should_prune():
                    mlflow.set_tag("tune.state", "pruned")
                    mlflow.log_metric("pruned_at_round", done)
                    raise optuna.TrialPruned()
            pr_auc = float(evaluate.binary_metrics(y_val, scores, 0.5, k)["pr_auc"])
            mlflow.log_metrics({"objective": value, "pr_auc": pr_auc})
            mlflow.set_tag("tune.state", "complete")
            trial.set_user_attr("pr_auc", pr_auc)
        return value

    return objective


def save_plots(study: Any, folder: Path) -> list[Path]:
    """Optimisation history, parameter importances and parallel coordinates as PNG files (those that apply)."""
    from optuna.visualization import matplotlib as ovm

    out = []
    for name, plot in (("optimization_history", ovm.plot_optimization_history),
                       ("param_importances", ovm.plot_param_importances),
                       ("parallel_coordinate", ovm.plot_parallel_coordinate)):
        try:
            ax = plot(study)
        except (ValueError, RuntimeError) as e:  # e.g. importances need two completed trials
            log.warning("tune: no %s plot: %s", name, e)
            continue
        first: Any = np.ravel(ax)[0] if isinstance(ax, np.ndarray) else ax
        fig = first.figure
        out.append(evaluate.save_figure(fig, folder / f"{name}.png", 100))
    return out


def new_study(name: str, seed: int, trials: int, startup_trials: int, warmup_steps: int) -> Any:
    """A maximising Optuna study: TPE after ``startup_trials`` random trials, median pruning after as many
    trials and ``warmup_steps`` reported steps of a trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(startup_trials, trials))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_steps)
    return optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner, study_name=name)


@dataclass(frozen=True)
class SearchOutcome:
    """The best trial of a finished search and how many trials completed or were pruned."""

    trial: int
    value: float
    params: dict[str, Any]
    complete: int
    pruned: int


def record_search(study: Any, job: str, metric: str, out: Path, layer: tuple[str, ...], run_id: str,
                  label: str, judged: str, consumer: str, key: str) -> SearchOutcome:
    """Log a finished search to the active (parent) run and write its best values as a YAML layer.

    Logs ``best.<metric>``, ``trials.complete`` and ``trials.pruned``, ``tune.best.*`` tags, the
    search's plots, ``best_params.json`` and ``trials.json`` (artifacts under ``tune/``); writes the
    best values at ``layer`` (the keys ``config.read_tuned`` reads them back from) in ``out``, under a
    comment naming the run, the trial and its ``label`` value ``judged`` on what, and the ``consumer``
    job that reads the file when config key ``key`` names it.

    Raises:
        DataError: no trial completed.
    """
    import optuna

    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    if not complete:
        raise DataError(f"{job}: none of {len(study.trials)} trials completed")
    best = study.best_trial
    value = float(best.value if best.value is not None else float("nan"))
    params = suggest_names(best.params)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    mlflow.log_metrics({f"best.{metric}": value, "trials.complete": complete, "trials.pruned": pruned})
    mlflow.set_tags({"tune.best.trial": str(best.number), "tune.best.value": f"{value:.6f}",
                     **{f"tune.best.{n}": str(v) for n, v in params.items()}})
    document: dict[str, Any] = params
    for part in reversed(layer):
        document = {part: document}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# Written by the {job} job (MLflow run {run_id}, trial {best.number}, {label} {value:.4f} "
                   f"{judged}). Used by {consumer} when {key} names this file.\n"
                   + yaml.safe_dump(document, sort_keys=True))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        save_plots(study, folder)
        (folder / "best_params.json").write_text(json.dumps(
            {"trial": best.number, metric: value, "params": params}, indent=1))
        (folder / "trials.json").write_text(json.dumps(
            [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params}
             for t in study.trials], indent=1, default=float))
        mlflow.log_artifacts(tmp, artifact_path="tune")
    return SearchOutcome(best.number, value, params, complete, pruned)


def output_path(cfg: Config, configured: str | None = None, default: str = "tuned_params.yaml",
                key: str = "tune.output") -> Path:
    """Where a search writes its best parameters: ``configured`` (``tune.output`` when None), else ``<paths.root>/<default>``.

    Raises:
        ValueError: the location is a URI (a configuration layer is a local file).
    """
    where = (cfg.tune.output if configured is None else configured) or join_path(cfg.paths.root_uri, default)
    if "://" in where and not where.startswith("file://"):
        raise ValueError(f"{key}: the tuned parameters are a local YAML file, got URI {where!r}")
    return Path(where.removeprefix("file://"))


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Search XGBoost parameters, log every trial, write the best where train picks them up.

    Returns:
        best value, best parameters, trials (complete and pruned), the output file, the MLflow run id, the
        split used and why, its cut-off (None: random split) and the rows on each side.

    Raises:
        DataError: the training or validation rows lack one of the classes; ``train.weighting: ipw``
            without ``selection_probability`` in the training set.
    """
    import optuna

    tc, train_conf = cfg.tune, cfg.train
    tracking.setup(cfg)
    pinned = lakehouse.read_pinned(spark, cfg.paths.table(schemas.TRAINING_SET), schemas.TRAINING_SET, "features")
    numeric = schemas.numeric_feature_columns(cfg.features.months, train_conf.raw_consumption)
    categorical = list(train_conf.categorical.columns)
    missing = [c for c in ["customer_id", "inspection_id", "label", *numeric, *categorical]
               if c not in pinned.df.columns]
    if missing:
        raise DataError(f"training_set v{pinned.version} lacks {missing}: rerun the features job")
    chosen = choose_split(pinned.df, tc, train_conf.time_validation_months,
                          cfg.validation.blessing.min_held_out_customers)
    field_cols = [c for c in ("reference_month", "selection_probability") if c in pinned.df.columns]
    data = pinned.df.select("customer_id", "inspection_id", "label", *field_cols, *categorical,
                            *[F.col(c).cast("double") for c in numeric])
    labelled_train, raw_val = chosen.split(data, tc)
    pool, negatives, mf_version = unlabelled_source(spark, cfg, pinned.df, chosen.cutoff)
    # the train job's recipe: label weights, never-inspected negatives (computed once: fit and collect read it)
    raw_train = fitting.training_rows(labelled_train, train_conf, pool).cache()
    try:
        cc = train_conf.categorical
        vocabulary = CategoricalVocabulary.fit(raw_train, categorical, cc.max_levels, cc.min_count)
        cols = numeric + vocabulary.feature_columns
        weighted = "weight" in raw_train.columns
        train_pdf: Any = _in_key_order(vocabulary.transform(raw_train), [
            "label", *(["weight"] if weighted else []), *cols])
    finally:
        raw_train.unpersist()
    val_pdf: Any = _in_key_order(vocabulary.transform(raw_val), ["label", *cols])
    y_train, y_val = train_pdf["label"].to_numpy(dtype=int), val_pdf["label"].to_numpy(dtype=int)
    w_train = train_pdf["weight"].to_numpy(dtype=float) if weighted else None
    for side, y in (("training", y_train), ("validation", y_val)):
        if len(y) == 0 or y.min() == y.max():
            raise DataError(f"tune: the {side} rows of the {chosen.used} split have {len(y)} rows and "
                            f"{int(y.sum())} irregular: need both classes ({chosen.reason})")
    n_unlabelled = int(train_pdf["inspection_id"].isna().sum())
    n_labelled = len(y_train) - n_unlabelled
    if chosen.time is not None:  # as train's time_* metrics and the gate's time split count it
        k = max(1, min(train_conf.campaign_size, len(y_val)))
    else:
        k = max(1, min(len(y_val), round(train_conf.campaign_size * len(y_val) / (n_labelled + len(y_val)))))
    threads = max(1, spark.sparkContext.defaultParallelism)
    objective = objective_factory(train_pdf[cols].to_numpy(dtype=float), y_train, val_pdf[cols].to_numpy(dtype=float),
                                  y_val, k, tc, tc.seed, threads, w_train)
    cutoff = chosen.cutoff.isoformat() if chosen.cutoff is not None else "-"

    out = output_path(cfg)
    study = new_study(f"{cfg.model.name}-tune", tc.seed, tc.trials, tc.startup_trials, tc.step_rounds)
    with mlflow.start_run(run_name=f"{cfg.model.name}-tune") as parent:
        mlflow.log_params({"tune.trials": tc.trials, "tune.timeout_s": tc.timeout_s, "tune.seed": tc.seed,
                           "tune.validation_fraction": tc.validation_fraction, "tune.split_salt": tc.split_salt,
                           "tune.step_rounds": tc.step_rounds, "tune.max_rounds": tc.max_rounds,
                           "tune.split": tc.split, "tune.split_used": chosen.used, "tune.split_reason": chosen.reason,
                           "tune.cutoff": cutoff, "tune.negatives": negatives,
                           "time_validation_months": train_conf.time_validation_months,
                           "weighting": train_conf.weighting, "unlabelled_share": train_conf.unlabelled_share,
                           "unlabelled_weight": train_conf.unlabelled_weight,
                           "unlabelled_months": list(train_conf.unlabelled_months),
                           "campaign_size_validation": k, "n_train": len(y_train),
                           "n_train_unlabelled": n_unlabelled, "n_train_positive": int(y_train.sum()),
                           "n_validation": len(y_val), "n_validation_positive": int(y_val.sum()),
                           "data.training_set.version": pinned.version,
                           **({"data.monthly_features.version": mf_version} if mf_version is not None else {}),
                           "optuna.version": optuna.__version__})
        mlflow.set_tags({"tune.split_used": chosen.used, "tune.split_reason": chosen.reason})
        study.optimize(objective, n_trials=tc.trials, timeout=tc.timeout_s or None, gc_after_trial=False)
        best = record_search(study, "tune", "precision_at_k", out, ("train", "params"),
                             parent.info.run_id, f"precision@{k}",
                             f"on the {chosen.used} split's validation rows, cut-off {cutoff}", "train",
                             "train.params_from")
        run_id = parent.info.run_id
    print(f"tune: {len(study.trials)} trials ({best.complete} complete, {best.pruned} pruned), best trial "
          f"{best.trial} precision@{k} {best.value:.3f} on {len(y_val)} validation rows: {best.params}")
    print(f"tune: judged on the {chosen.used} split: {chosen.reason}")
    print(f"tune: trials trained on {n_labelled} inspections and {n_unlabelled} unlabelled negatives: {negatives}")
    print(f"tune: best parameters written to {out} (train reads them with --set train.params_from={out})")
    return {"best_value": best.value, "best_params": best.params, "trials": len(study.trials),
            "complete": best.complete, "pruned": best.pruned, "output": str(out), "run_id": run_id,
            "split_used": chosen.used, "split_reason": chosen.reason, "cutoff": chosen.cutoff,
            "n_train": len(y_train), "n_train_unlabelled": n_unlabelled, "n_validation": len(y_val)}


def suggest_names(params: dict[str, Any]) -> dict[str, Any]:
    """Trial parameters as ``train.params`` (plain ints and floats, rounded for a readable file)."""
    return {n: (int(v) if isinstance(v, (int, np.integer)) else float(round(v, 6)) if isinstance(v, float)
                and not math.isnan(v) else v) for n, v in sorted(params.items())}
