"""Evaluate sets: a registered model's metrics on segments of the labelled data.

In: a registered model (``model.name`` at ``validation.segments.model_ref``,
an alias or a version; empty = the challenger ``model.challenger``), the ``training_set`` Delta table (the customers
that model held out, rebuilt from the split its training recorded,
or every labelled row with ``validation.segments.data=all``), optionally
narrowed by ``validation.segments.where``.
Out: one row per segment (column, value: every region, tariff, meter type ...)
with n, positives, PR-AUC, ROC-AUC, precision and recall at the campaign size
scaled to the segment, logged to MLflow as a table (``segments.json``), CSV and
HTML in the validation experiment, and printed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import mlflow
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ntl_spark import evaluate, lakehouse, models, schemas, tracking
from ntl_spark.config import Config
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.validate.data import experiment_name, report_dir
from ntl_spark.validate.model import held_out_by_all, model_split, scores_for
from ntl_spark.validate.report import Report

log = logging.getLogger(__name__)

COLUMNS = ("segment", "value", "n", "positives", "k", "pr_auc", "roc_auc", "precision_at_k", "recall_at_k", "f1")


def segment_metrics(pdf: pd.DataFrame, columns: Sequence[str], threshold: float, k: int) -> pd.DataFrame:
    """Metrics of every value of every segment column, plus an ``all`` row.

    Args:
        pdf: label, score and the segment columns.
        columns: segment columns.
        threshold: decision threshold for precision/recall/f1.
        k: campaign size for the whole set (scaled to each segment's share).

    Returns:
        One row per (segment, value) with ``COLUMNS``.

    Raises:
        ValueError: a segment column is missing.
    """
    missing = [c for c in columns if c not in pdf.columns]
    if missing:
        raise ValueError(f"segment column(s) {missing} not in the data (has {sorted(pdf.columns)})")
    whole = evaluate.binary_metrics(pdf["label"].to_numpy(dtype=int), pdf["score"].to_numpy(), threshold,
                                    min(k, len(pdf)))
    rows: list[dict[str, Any]] = [{"segment": "all", "value": "all", "k": min(k, len(pdf)), **whole}]
    for c in columns:
        for r in evaluate.metrics_by_group(pdf.astype({c: str}), c, threshold, k):
            rows.append({"segment": c, "value": r.pop(c), **r})
    out = pd.DataFrame(rows)
    out["n"] = out["n"].astype(int)
    out["positives"] = out["positives"].astype(int)
    return out[list(COLUMNS)]


def run(spark: SparkSession, cfg: Config) -> pd.DataFrame:
    """Score the labelled rows with the chosen model and log metrics per segment."""
    sg = cfg.validation.segments
    client = tracking.setup(cfg, experiment=experiment_name(cfg))
    model_ref = sg.model_ref or cfg.model.challenger
    ref = tracking.resolve(client, cfg.model.name, model_ref)
    path = cfg.paths.table(schemas.TRAINING_SET)
    pinned = lakehouse.read_pinned(spark, path, schemas.TRAINING_SET, "features")
    version = pinned.version
    data = pinned.df
    held_out = ""
    if sg.data == "test":
        split = model_split(client, ref, models.load_daice(ref))
        data = held_out_by_all(data, {f"v{ref.version}": split})
        held_out = split.describe()
    if sg.where:
        data = data.where(F.expr(sg.where))
    missing = [c for c in sg.columns if c not in data.columns]
    if missing:
        raise ConfigError(f"config key 'validation.segments.columns': {missing} not in training_set")
    pdf = scores_for(spark, data, ref, ["inspection_id", "label", *dict.fromkeys(sg.columns)], schemas.TRAINING_SET)
    if pdf.empty:
        raise DataError(f"no labelled rows to evaluate (validation.segments.data={sg.data}, where={sg.where!r})")
    table = segment_metrics(pdf, sg.columns, cfg.train.threshold, cfg.train.campaign_size)

    folder = report_dir(cfg, f"segments-{ref.name}-v{ref.version}")
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "segments.csv", index=False)
    page = Report(f"{ref.name} v{ref.version} by segment ({sg.data} rows{', ' + sg.where if sg.where else ''})")
    page.table(table.to_dict("records"))
    report = page.write(folder / "segments.html")
    with mlflow.start_run(run_name=f"segments-{ref.name}-v{ref.version}") as run_:
        mlflow.set_tags({"validation.kind": "segments", "model_name": ref.name, "model_version": ref.version})
        mlflow.log_params({"data": sg.data, "where": sg.where, "segments": ",".join(sg.columns),
                           "data.training_set.version": version, "model_ref": model_ref,
                           **({"held_out": held_out} if held_out else {})})
        mlflow.log_table(table, artifact_file="segments.json")
        mlflow.log_artifacts(str(folder), artifact_path="segments")
        for r in table.itertuples():
            if r.pr_auc == r.pr_auc:  # NaN for a one-class segment
                mlflow.log_metric(f"pr_auc.{r.segment}.{r.value}".replace(" ", "_"), float(r.pr_auc))
    print(f"evaluate sets: {ref.name} v{ref.version} (@{model_ref}) on {len(pdf):,} {sg.data} rows "
          f"(MLflow run {run_.info.run_id})")
    with pd.option_context("display.width", 160, "display.max_rows", 200, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
    print(f"  report: {report}")
    return table
