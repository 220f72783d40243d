"""Score with DeepDAICE: scoring windows (Delta) + a registered model -> ``scores`` (Delta).

In: the ``score`` rows of the ``windows`` table for one end date (the latest
unless ``windows.scoring_end`` names it) with coverage of at least
``windows.min_coverage``, and a DeepDAICE version resolved by alias or
version (``deep.model_ref``).
Out: one row per smart-meter customer in the same ``scores`` Delta table as
DAICE (``score.write_scores``): score, rank overall and within region
(``score.rank_scores``), model name and version, run id, the data versions
used; ``top_features`` is empty (no per-feature attribution for a sequence
model). ``reference_month`` is the month of the windows' last day. A model
that takes monthly inputs (``deep.monthly_features`` when it was trained; its
metadata names the columns) gets them from ``monthly_features`` as training
did (``deep.with_monthly``).

The Keras model is broadcast once as bytes and loaded once per Python worker
process; inference runs in ``mapInArrow`` on ``deep.score_batch`` windows at a
time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ntl_spark import combine, deep, lakehouse, models, schemas, tracking
from ntl_spark.config import Config
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.sparkutil import arrow_batch_rows, scalar

log = logging.getLogger(__name__)

PREDICTION_SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.StringType(), False),
        T.StructField("region", T.StringType(), False),
        T.StructField("score", T.DoubleType(), False),
    ]
)

_MODELS: dict[str, Any] = {}


def _keras_model(raw: bytes) -> Any:
    """One Keras model per Python worker process, keyed by a digest of the model file."""
    key = hashlib.sha1(raw).hexdigest()
    if key not in _MODELS:
        import tensorflow as tf

        try:  # one thread per task: Spark already runs one task per core
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # TensorFlow was already initialised in this process
        import keras

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.keras"
            path.write_bytes(raw)
            model = keras.saving.load_model(path, compile=False)
        _MODELS.clear()
        _MODELS[key] = model
    return _MODELS[key]


def keras_file(local_dir: str | Path) -> Path:
    """The ``.keras`` file inside a downloaded MLflow TensorFlow model.

    Raises:
        ValueError: the folder holds no (or several) ``.keras`` files.
    """
    found = sorted(Path(local_dir).rglob("*.keras"))
    if len(found) != 1:
        raise DataError(f"expected one .keras file in the model at {local_dir}, found {[str(f) for f in found]}")
    return found[0]


def load_model_bytes(ref: tracking.ModelRef) -> tuple[bytes, deep.Shape]:
    """The Keras file of a registered DeepDAICE version and its input geometry."""
    info = mlflow.models.get_model_info(ref.uri)
    meta = info.metadata or {}
    if meta.get("family") != deep.FAMILY:
        raise ConfigError(f"model {ref.name} v{ref.version} metadata 'family' is {meta.get('family')!r}, "
                         f"not {deep.FAMILY}")
    shape = deep.Shape(int(meta["days"]), int(meta["intervals"]), tuple(meta.get("alarm_codes") or ()),
                       bool(meta.get("day_summaries")), tuple(meta.get("monthly_features") or ()),
                       tuple(float(v) for v in meta.get("monthly_center") or ()),
                       tuple(float(v) for v in meta.get("monthly_scale") or ()),
                       bool(meta.get("monthly_missing")),  # absent in models trained before the flags
                       json.dumps(meta["monthly_vocabulary"], sort_keys=True) if meta.get("monthly_vocabulary") else "")
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=tmp)
        return keras_file(local).read_bytes(), shape


def predict_windows(windows: DataFrame, model_bytes: Any, shape: deep.Shape, batch: int) -> DataFrame:
    """customer_id, region, score for every row of ``windows``.

    Args:
        windows: rows with customer_id, region, kwh and alarms of ``shape`` (and ``monthly`` when the
            model takes monthly inputs, ``deep.with_monthly``).
        model_bytes: broadcast variable holding the ``.keras`` file.
        shape: model input geometry (from the model's metadata).
        batch: windows per inference call.

    Raises:
        ValueError: a column is missing.
    """
    columns = ["customer_id", "region", "kwh", "alarms"] + ([deep.MONTHLY] if shape.monthly else [])
    missing = [c for c in columns if c not in windows.columns]
    if missing:
        raise DataError(f"windows lacks column(s) {missing}")
    n_values, n_alarms = shape.days * shape.intervals, shape.days * len(shape.codes)
    n_monthly = len(shape.monthly)

    def infer(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        model = _keras_model(model_bytes.value)
        for rb in batches:
            n = rb.num_rows
            kwh = rb.column(2).flatten().to_numpy(zero_copy_only=False)
            alarms = rb.column(3).flatten().to_numpy(zero_copy_only=False)
            if kwh.size != n * n_values or alarms.size != n * n_alarms:
                raise DataError(f"windows columns 'kwh'/'alarms' do not match the model's "
                                 f"{shape.days}x{shape.intervals} + {len(shape.codes)} codes")
            x = deep.to_model_input_np(kwh, alarms, shape)
            m = None
            if n_monthly:
                flat = rb.column(4).flatten().to_numpy(zero_copy_only=False)
                if flat.size != n * n_monthly:
                    raise DataError(f"windows column {deep.MONTHLY!r} does not match the model's {n_monthly} monthly inputs")
                m = deep.monthly_input_np(flat, shape)
            out = np.concatenate([
                np.asarray(model(deep.model_inputs(x[i:i + batch], None if m is None else m[i:i + batch]),
                                 training=False)).reshape(-1)
                for i in range(0, n, batch)]) if n else np.zeros(0)
            yield pa.RecordBatch.from_arrays(
                [rb.column(0), rb.column(1), pa.array(out.astype(np.float64))],
                names=["customer_id", "region", "score"],
            )

    return windows.select(*columns).mapInArrow(infer, PREDICTION_SCHEMA)


def run(spark: SparkSession, cfg: Config) -> dict[str, Any]:
    """Score every smart-meter customer's latest window and write the ranking to ``scores``."""
    dc = cfg.deep
    client = tracking.setup(cfg, experiment=f"{cfg.mlflow.experiment}-scoring")
    ref = tracking.resolve(client, dc.model_name, dc.model_ref)
    raw, shape = load_model_bytes(ref)

    wpath = cfg.paths.table(schemas.WINDOWS)
    pinned = lakehouse.read_pinned(spark, wpath, schemas.WINDOWS, "windows")
    table, wversion = pinned.df, pinned.version
    table = table.where(F.col("purpose") == "score")
    if cfg.windows.scoring_end:
        end = dt.date.fromisoformat(cfg.windows.scoring_end)
    else:
        end = scalar(table.agg(F.max("end_date")), "windows")
        if end is None:
            raise DataError(f"windows table at {wpath} has no scoring windows: run the windows job")
    rows = table.where(F.col("end_date") == F.lit(end))
    geometry = rows.select("days", "intervals").distinct().collect()
    if [(g[0], g[1]) for g in geometry] not in ([(shape.days, shape.intervals)], []):
        raise DataError(f"windows ending {end} are {[tuple(g) for g in geometry]} (days, intervals); "
                        f"model {ref.name} v{ref.version} expects ({shape.days}, {shape.intervals})")
    usable = rows.where(F.col("coverage") >= cfg.windows.min_coverage)
    skipped = rows.where(F.col("coverage") < cfg.windows.min_coverage).count()
    data_versions = lakehouse.merge_lineage(lakehouse.lineage_of(rows), {schemas.WINDOWS: wversion})
    if shape.monthly:  # the model's monthly inputs, as the model's metadata names them
        mf, _, mversions = deep.read_monthly_tables(spark, cfg, training=False)
        usable = deep.with_monthly(usable, deep.encode_monthly(mf, shape), None, list(shape.monthly))
        data_versions = lakehouse.merge_lineage(data_versions, mversions)
    scored_on = dt.date.fromisoformat(cfg.score.scored_on) if cfg.score.scored_on else dt.date.today()
    path = cfg.paths.table(schemas.SCORES)

    with mlflow.start_run(run_name=f"score-{ref.name}-v{ref.version}") as run_:
        model_bytes = spark.sparkContext.broadcast(raw)
        with arrow_batch_rows(spark, cfg.windows.batch_rows):
            predicted = predict_windows(usable, model_bytes, shape, dc.score_batch)
            ranked = models.rank_scores(predicted).select(
                "*",
                F.lit(ref.name).alias("model_name"),
                F.lit(ref.version).alias("model_version"),
                F.lit(run_.info.run_id).alias("run_id"),
                F.lit(scored_on).alias("scored_on"),
                F.trunc(F.lit(end), "month").alias("reference_month"),
                lakehouse.lineage_column(data_versions).alias(schemas.LINEAGE_COLUMN),
                F.array().cast(schemas.SCORES_SCHEMA["top_features"].dataType).alias("top_features"),
            )
            version = models.write_scores(ranked, path, scored_on, ref.name)
        model_bytes.unpersist()
        written = lakehouse.read_pinned(spark, path, schemas.SCORES, "score_deep", version).df.where(
            (F.col("scored_on") == F.lit(scored_on)) & (F.col("model_name") == ref.name))
        n = written.count()
        mlflow.log_params({"model_name": ref.name, "model_version": ref.version, "model_ref": dc.model_ref,
                           "windows_end": str(end), "scored_on": str(scored_on)})
        tracking.log_data_versions(data_versions)
        mlflow.log_param("data.scores.version", version)
        mlflow.log_metrics({"customers_scored": n, "windows_below_coverage": skipped})
        top = written.orderBy("rank").limit(10).select("rank", "customer_id", "region", "score").collect()
        combined = combine.refresh(spark, cfg, scored_on, run_.info.run_id)
        if combined:
            mlflow.log_param("combined_model_version", combined["model_version"])
    print(f"score_deep: {n:,} smart-meter customers scored with {ref.name} v{ref.version} (@{dc.model_ref}), "
          f"windows ending {end} ({skipped:,} below coverage {cfg.windows.min_coverage} not scored), "
          f"scores Delta v{version} at {path}")
    for r in top:
        print(f"  #{r['rank']:<3} {r['customer_id']}  {r['region']:<11} {r['score']:.3f}")
    return {"rows": n, "skipped": skipped, "version": version, "model_version": ref.version,
            "run_id": run_.info.run_id, "scored_on": scored_on, "path": path, "combined": combined}
