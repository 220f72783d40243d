"""Tune DeepDAICE: a small Optuna search (TPE, median pruning) over architecture, units and learning rate.

In: the ``train`` rows of the ``windows`` Delta table, split as the
train_deep job splits them (``deep.prepare_feed``: the held-out test
customers are never read by a trial), and the ``tune_deep`` section. Out: an
MLflow parent run (``<deep.model_name>-tune``) with one child run per trial
(its parameters, validation PR-AUC per epoch, the final validation metrics,
or the epoch it was pruned at), the search's plots and ``best_params.json``
as artifacts, ``tune.best.*`` tags on the parent run; and a YAML
configuration layer (``tune_deep.output``, default
``<paths.root>/tuned_deep.yaml``) holding ``deep.architecture``,
``deep.units`` and ``deep.learning_rate``, which train_deep reads when
``deep.params_from`` names it.

Each trial trains as train_deep does (``deep.fit``: class weights, early
stopping on validation PR-AUC with ``deep.patience``, best weights restored,
``deep.deterministic``) for at most ``tune_deep.epochs`` epochs on the
training customers; the validation customers' windows (held in memory, the
same rows for every trial) judge it. Objective: PR-AUC of the restored model
on those windows (``evaluate.binary_metrics``), the measure early stopping
uses; precision at ``deep.campaign_size`` is logged beside it. After each
epoch the trial reports its validation PR-AUC and a trial below the median of
earlier trials at that epoch is pruned.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import mlflow
import numpy as np
from pyspark.sql import SparkSession

from ntl_spark import deep, evaluate, tracking, tune
from ntl_spark.config import Config, DeepConf, TuneDeepConf
from ntl_spark.errors import DataError

log = logging.getLogger(__name__)


def suggest(trial: Any, tc: TuneDeepConf) -> dict[str, Any]:
    """The ``deep.*`` values of one trial (``deep.TUNED_KEYS``)."""
    return {
        "architecture": trial.suggest_categorical("architecture", list(tc.architectures)),
        "units": int(trial.suggest_categorical("units", list(tc.units))),
        "learning_rate": trial.suggest_float("learning_rate", tc.learning_rate_min, tc.learning_rate_max, log=True),
    }


def pruning_callback(trial: Any) -> Any:
    """A Keras callback reporting validation PR-AUC after each epoch; raises ``optuna.TrialPruned`` to stop."""
    import keras
    import optuna

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            value = float((logs or {}).get("val_pr_auc", float("nan")))
            mlflow.log_metric("val_pr_auc", value, step=epoch)
            trial.report(value, epoch)
            if trial.should_prune():
                mlflow.set_tag("tune.state", "pruned")
                mlflow.log_metric("pruned_at_epoch", epoch)
                raise optuna.TrialPruned()

    return Report()


def objective_factory(feed: deep.Feed, dc: DeepConf, tc: TuneDeepConf) -> Any:
    """The Optuna objective: validation PR-AUC of a DeepDAICE model trained with the trial's values."""
    k = min(dc.campaign_size, len(feed.y_val))
    y_val = feed.y_val.reshape(-1).astype(int)

    def objective(trial: Any) -> float:
        values = suggest(trial, tc)
        tdc = dataclasses.replace(dc, **values)
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params({**values, "trial": trial.number, "epochs": tdc.epochs})
            model = deep.build_model(feed.shape, tdc)
            history = deep.fit(model, feed, tdc, [pruning_callback(trial)])
            scores = np.asarray(model.predict(feed.x_val, batch_size=tdc.batch_size, verbose=0)).reshape(-1)
            m = evaluate.binary_metrics(y_val, scores, tdc.threshold, k)
            mlflow.log_metrics({"objective": m["pr_auc"], "pr_auc": m["pr_auc"], "roc_auc": m["roc_auc"],
                                "precision_at_k": m["precision_at_k"], "epochs_run": len(history.get("loss", []))})
            mlflow.set_tag("tune.state", "complete")
            trial.set_user_attr("precision_at_k", float(m["precision_at_k"]))
        return float(m["pr_auc"])

    return objective


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Search DeepDAICE's architecture, units and learning rate; write the best where train_deep picks them up.

    Returns:
        best value, best parameters, trials (complete and pruned), the output file and the MLflow run id.

    Raises:
        DataError: the windows lack a class or a split (``deep.prepare_feed``), or no trial completed.
    """
    import optuna

    tc = cfg.tune_deep
    dc = dataclasses.replace(cfg.deep, epochs=tc.epochs)
    tracking.setup(cfg)
    out = tune.output_path(cfg, tc.output, "tuned_deep.yaml", "tune_deep.output")
    feed = deep.prepare_feed(spark, cfg)
    try:
        val_positive = int(feed.y_val.sum())
        if val_positive == 0 or val_positive == len(feed.y_val):
            raise DataError(f"tune_deep: the validation customers have {len(feed.y_val)} windows and "
                            f"{val_positive} irregular: need both classes (deep.validation_fraction="
                            f"{dc.validation_fraction})")
        study = tune.new_study(f"{dc.model_name}-tune", tc.seed, tc.trials, tc.startup_trials, 1)
        with mlflow.start_run(run_name=f"{dc.model_name}-tune") as parent:
            mlflow.log_params({**{f"tune_deep.{k}": (",".join(map(str, v)) if isinstance(v, list) else v)
                                  for k, v in dataclasses.asdict(tc).items() if k != "output"},
                               "n_train": feed.n_train, "n_train_positive": feed.counts["train"].get(1, 0),
                               "n_validation": len(feed.y_val), "n_validation_positive": val_positive,
                               "deep.patience": dc.patience, "deep.min_epochs": dc.min_epochs, "deep.batch_size": dc.batch_size,
                               "deep.day_summaries": dc.day_summaries, "deep.seed": dc.seed,
                               "split.validation": feed.val_split.describe(), "optuna.version": optuna.__version__})
            tracking.log_data_versions(feed.versions)
            study.optimize(objective_factory(feed, dc, tc), n_trials=tc.trials, timeout=tc.timeout_s or None,
                           gc_after_trial=True)
            best = tune.record_search(study, "tune_deep", "pr_auc", out, ("deep",), parent.info.run_id,
                                      "validation PR-AUC", f"on {len(feed.y_val)} windows", "train_deep",
                                      "deep.params_from")
            run_id = parent.info.run_id
    finally:
        feed.delete()
    print(f"tune_deep: {len(study.trials)} trials ({best.complete} complete, {best.pruned} pruned), best trial "
          f"{best.trial} validation PR-AUC {best.value:.3f} on {len(feed.y_val)} windows: {best.params}")
    print(f"tune_deep: best values written to {out} (train_deep reads them with --set deep.params_from={out})")
    return {"best_value": best.value, "best_params": best.params, "trials": len(study.trials),
            "complete": best.complete, "pruned": best.pruned, "output": str(out), "run_id": run_id}
