"""Experiment analysis: PR and ROC curves of several training runs on one plot, from MLflow records.

In: training runs of the ``mlflow.experiment`` experiment (``validation.compare_runs``
run ids, or the last ``validation.compare_last`` runs), each with the
``evaluation/test_scores.json`` artifact (labels and scores of its test split)
that the train job logs.
Out: one PNG with the PR and ROC curves of every run, a table of their
headline metrics (CSV), both under ``<paths.reports>/<validation.report_dir>/compare-runs-<time>/``
and logged to a run of the validation experiment. The same functions serve
``notebooks/compare_runs.ipynb``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Run

from ntl_spark import evaluate, tracking
from ntl_spark.config import Config, load_config
from ntl_spark.errors import MissingInputError
from ntl_spark.validate.data import experiment_name, report_dir

SCORES_ARTIFACT = "evaluation/test_scores.json"


def config_from_env() -> Config:
    """Configuration from ``$NTL_ENV`` and ``$NTL_SET`` (``key=value`` pairs separated by spaces), for notebooks."""
    return load_config(os.environ.get("NTL_ENV") or None, os.environ.get("NTL_SET", "").split())


def training_runs(cfg: Config, run_ids: Sequence[str] = (), last: int = 5) -> list[Run]:
    """The named runs, or the ``last`` finished runs of the training experiment (newest first)."""
    client = tracking.setup(cfg)
    if run_ids:
        return [client.get_run(r) for r in run_ids]
    exp = client.get_experiment_by_name(cfg.mlflow.experiment)
    if exp is None:
        return []
    runs = client.search_runs([exp.experiment_id], filter_string="attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=max(last * 4, 20))
    found = [r for r in runs if "test_pr_auc" in r.data.metrics]
    return found[:last]


def run_label(run: Run) -> str:
    """A short name for a run in legends: run name, start time and short id."""
    started = dt.datetime.fromtimestamp(run.info.start_time / 1000).strftime("%m-%d %H:%M")
    return f"{run.info.run_name or 'run'} {started} {run.info.run_id[:6]}"


def load_scores(cfg: Config, runs: Sequence[Run]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Labels and scores of each run's test split (runs without the artifact are left out)."""
    client = tracking.setup(cfg)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in runs:
            try:
                path = client.download_artifacts(r.info.run_id, SCORES_ARTIFACT, tmp)
            except Exception:  # noqa: BLE001 - an older run without the artifact is skipped
                continue
            data = json.loads(Path(path).read_text())
            out[run_label(r)] = (np.asarray(data["label"], dtype=int), np.asarray(data["score"], dtype=float))
    return out


def metrics_table(series: dict[str, tuple[np.ndarray, np.ndarray]], threshold: float, k: int) -> pd.DataFrame:
    """Headline metrics of every run's test split, one row per run."""
    rows = []
    for name, (y, s) in series.items():
        m = evaluate.binary_metrics(y, s, threshold, min(k, len(y)))
        rows.append({"run": name, "n": int(m["n"]), "positives": int(m["positives"]), "pr_auc": m["pr_auc"],
                     "roc_auc": m["roc_auc"], "precision_at_k": m["precision_at_k"], "f1": m["f1"]})
    return pd.DataFrame(rows, columns=["run", "n", "positives", "pr_auc", "roc_auc", "precision_at_k", "f1"])


def run(cfg: Config) -> dict[str, Any]:
    """Plot the curves of the chosen runs on one figure, write and log it with the metrics table."""
    vc = cfg.validation
    runs = training_runs(cfg, vc.compare_runs, vc.compare_last)
    series = load_scores(cfg, runs)
    if not series:
        raise MissingInputError(f"no training run with {SCORES_ARTIFACT} in experiment '{cfg.mlflow.experiment}' "
                         f"(validation.compare_runs={vc.compare_runs})")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = report_dir(cfg, f"compare-runs-{stamp}")
    png = evaluate.plot_curves(series, folder / "compare_runs.png", f"{len(series)} training runs (test splits)")
    table = metrics_table(series, cfg.train.threshold, cfg.train.campaign_size)
    table.to_csv(folder / "compare_runs.csv", index=False)
    tracking.setup(cfg, experiment=experiment_name(cfg))
    with mlflow.start_run(run_name=f"compare-runs-{stamp}") as run_:
        mlflow.set_tags({"validation.kind": "compare_runs",
                         "compared_runs": ",".join(r.info.run_id for r in runs)})
        mlflow.log_artifacts(str(folder), artifact_path="compare_runs")
    print(f"compare runs: {len(series)} runs -> {png} (MLflow run {run_.info.run_id})")
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
    return {"png": str(png), "table": table, "run_id": run_.info.run_id}
