"""Train DeepDAICE: windows (Delta) -> Keras recurrent model in the MLflow registry.

In: the ``train`` rows of the ``windows`` Delta table (see ``ntl_spark.windows``)
with coverage of at least ``windows.min_coverage``.
Out: an MLflow run with parameters, the per-epoch history, the same metrics
and curves as DAICE (``evaluate.binary_metrics`` / ``plot_curves``) on held
out customers, the Delta version of the windows table and of its sources; the
Keras model registered under ``deep.model_name`` with alias ``deep.alias`` and
metadata that scoring needs (days, intervals, channels, alarm codes,
normalisation).

Data reach TensorFlow through Petastorm: ``make_spark_converter`` materialises
each split once as Parquet under ``<paths.root>/petastorm_cache`` and a batch
reader streams whole row groups into ``tf.data``; batches are reshaped to
(days, intervals + alarm codes) per window. The cache is deleted at the end.

Customers are split three ways by a salted hash of customer_id
(``models.CustomerSplit``, as DAICE: test = ``deep.test_fraction`` of the
customers under ``deep.split_salt``, then validation = ``deep.validation_fraction``
of the rest under ``<split_salt>:validation``): validation drives early stopping on
PR-AUC, test gives the reported metrics, and a customer never sits on two
sides. The split does not depend on ``deep.seed`` or on partitioning; both
splits are kept in the model's metadata and the run's ``split.*`` parameters.
With ``deep.refit`` the registered network is a fresh one (same seed) trained
on the training and validation customers together for the epochs early stopping
chose; the test customers stay out either way.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow
import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ntl_spark import evaluate, lakehouse, schemas, tracking
from ntl_spark.config import Config, DeepConf, as_dict, read_tuned
from ntl_spark.encoding import CategoricalVocabulary
from ntl_spark.errors import ConfigError, DataError
from ntl_spark.models import CustomerSplit

log = logging.getLogger(__name__)

FAMILY = "DeepDAICE"
NORMALISATION = "kwh divided by the window mean of observed values (windows.scale); alarms log1p(count per day)"
FEED_COLUMNS = ("kwh", "alarms", "label")
# the customer's DAICE inputs beside the curve (deep.monthly_features): array<float>, NaN = missing
MONTHLY = "monthly"
MONTHLY_RULE = ("a labelled window: its inspection's training_set row; any other window: the customer's latest "
                "monthly_features row at or before the month before the one holding end_date + 1")
MONTHLY_TRANSFORM = "sign(v) * log1p(|v|), minus the training mean, over the training std, clipped to +-5; missing -> 0"
# with monthly_missing: the flags follow the values, one per input in the same order
MONTHLY_MISSING = "then, per input in the same order, 1 where the value is missing, else 0"
MONTHLY_CLIP = 5.0
# last monthly input with deep.windowless_labels: 1 for a real window, 0 for an inspection trained without one
WINDOW_FLAG = "window_observed"


DAY_SUMMARIES = ("day_mean", "zero_share", "day_cv", "night_share", "peak_ratio")


@dataclass(frozen=True)
class Shape:
    """Geometry of the model input: (days, intervals + codes [+ day summaries]) per window."""

    days: int
    intervals: int
    codes: tuple[str, ...]
    summaries: bool = False  # add the DAY_SUMMARIES channels (day_summaries)
    # the customer's monthly inputs beside the curve (deep.monthly_features): column names and, per column,
    # the training windows' mean and std of sign(v) * log1p(|v|) (monthly_input)
    monthly: tuple[str, ...] = ()
    monthly_center: tuple[float, ...] = ()
    monthly_scale: tuple[float, ...] = ()
    monthly_missing: bool = False  # a 0/1 missing flag per monthly input after the values (deep.monthly_missing)
    # deep.monthly_categorical: the categorical vocabulary (CategoricalVocabulary.to_dict as JSON) whose 0/1
    # columns are among ``monthly``; "" = none
    monthly_vocabulary: str = ""

    @property
    def features(self) -> int:
        return self.intervals + len(self.codes) + (len(DAY_SUMMARIES) if self.summaries else 0)

    @property
    def monthly_width(self) -> int:
        """Width of the model's monthly input: the scaled values, and their missing flags when kept."""
        return len(self.monthly) * (2 if self.monthly_missing else 1)


@dataclass(frozen=True)
class DeepResult:
    run_id: str
    model_name: str
    model_version: str | None
    metrics: dict[str, float]
    history: dict[str, list[float]]


# ------------------------------------------------------------------ inputs
def window_shape(windows: DataFrame, summaries: bool = False) -> Shape:
    """Read days, intervals and alarm codes from the table and check they are uniform.

    ``summaries``: the model input adds the day summary channels (``deep.day_summaries``).

    Raises:
        ValueError: a column is missing or windows of different shapes are mixed.
    """
    missing = [c for c in ("days", "intervals", "alarm_codes", *FEED_COLUMNS) if c not in windows.columns]
    if missing:
        raise DataError(f"windows lacks column(s) {missing}")
    shapes = windows.select("days", "intervals", "alarm_codes").distinct().limit(2).collect()
    if not shapes:
        raise DataError("windows: no rows to learn from")
    if len(shapes) > 1:
        raise DataError(f"windows: columns 'days'/'intervals'/'alarm_codes' differ between rows: {shapes}")
    d, i, codes = shapes[0]
    return Shape(int(d), int(i), tuple(c for c in codes.split(",") if c), summaries)


def night_slots(intervals: int) -> np.ndarray:
    """Interval positions from 22:00 to 06:00 in a day of ``intervals`` slots."""
    hour = (np.arange(intervals) + 0.5) * 24.0 / intervals
    return np.flatnonzero((hour < 6.0) | (hour >= 22.0))


def day_summaries(x: Any, xp: Any) -> Any:
    """Per-day summaries of normalised curves ``x`` (batch, days, intervals) -> (batch, days, 5).

    In ``DAY_SUMMARIES`` order, each bounded with ``log1p`` or a share: the
    day's mean (the curve is divided by the window mean, so a drop inside the
    window shows), the share of intervals at zero, the spread within the day
    (std / mean: a flattened curve), the night (22:00-06:00) share of the
    day's energy, and peak over mean (a capped curve). Generic meter-data
    checks, not tied to one kind of theft; the network still sees the curve.

    Args:
        x: normalised kWh, TensorFlow tensor or numpy array.
        xp: ``tf`` or ``np`` namespace helpers (see the two callers).
    """
    mean = xp.mean(x, axis=-1)
    eps = 1e-6
    night = xp.gather(x, night_slots(int(x.shape[-1])), axis=-1)
    parts = [
        xp.log1p(mean),
        xp.mean(xp.cast(x <= eps), axis=-1),
        xp.log1p(xp.std(x, axis=-1) / (mean + eps)),
        xp.sum(night, axis=-1) / (xp.sum(x, axis=-1) + eps),
        xp.log1p(xp.max(x, axis=-1) / (mean + eps)),
    ]
    return xp.stack(parts, axis=-1)


class _TF:
    """The few array operations of :func:`day_summaries` in TensorFlow."""

    def __getattr__(self, name: str) -> Any:
        import tensorflow as tf

        ops = {"mean": tf.reduce_mean, "sum": tf.reduce_sum, "max": tf.reduce_max, "std": tf.math.reduce_std,
               "log1p": tf.math.log1p, "stack": tf.stack, "gather": tf.gather,
               "cast": lambda v: tf.cast(v, tf.float32)}
        return ops[name]


# The same operations in numpy.
_NP = SimpleNamespace(mean=np.mean, sum=np.sum, max=np.max, std=np.std, log1p=np.log1p, stack=np.stack,
                      gather=lambda x, idx, axis: np.take(x, idx, axis=axis),
                      cast=lambda v: v.astype(np.float32))


def to_model_input(kwh: Any, alarms: Any, shape: Shape) -> Any:
    """Flat ``kwh`` / ``alarms`` batches (TF tensors or numpy) -> (batch, days, shape.features) float32."""
    import tensorflow as tf

    x = tf.reshape(tf.cast(kwh, tf.float32), (-1, shape.days, shape.intervals))
    parts = [x]
    if shape.codes:
        a = tf.reshape(tf.cast(alarms, tf.float32), (-1, shape.days, len(shape.codes)))
        parts.append(tf.math.log1p(a))
    if shape.summaries:
        parts.append(day_summaries(x, _TF()))
    return parts[0] if len(parts) == 1 else tf.concat(parts, axis=-1)


def to_model_input_np(kwh: np.ndarray, alarms: np.ndarray, shape: Shape) -> np.ndarray:
    """numpy version of :func:`to_model_input` (scoring workers)."""
    x = kwh.reshape(-1, shape.days, shape.intervals).astype(np.float32, copy=False)
    parts = [x]
    if shape.codes:
        parts.append(np.log1p(alarms.reshape(-1, shape.days, len(shape.codes)).astype(np.float32, copy=False)))
    if shape.summaries:
        parts.append(day_summaries(x, _NP).astype(np.float32))
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)


def monthly_input(monthly: Any, shape: Shape) -> Any:
    """Flat ``monthly`` batch (TF tensor) -> (batch, shape.monthly_width) float32, as :data:`MONTHLY_TRANSFORM`
    (and :data:`MONTHLY_MISSING` with ``shape.monthly_missing``)."""
    import tensorflow as tf

    m = tf.reshape(tf.cast(monthly, tf.float32), (-1, len(shape.monthly)))
    z = (tf.math.sign(m) * tf.math.log1p(tf.abs(m)) - tf.constant(shape.monthly_center, tf.float32)) \
        / tf.constant(shape.monthly_scale, tf.float32)
    z = tf.clip_by_value(tf.where(tf.math.is_nan(z), tf.zeros_like(z), z), -MONTHLY_CLIP, MONTHLY_CLIP)
    return tf.concat([z, tf.cast(tf.math.is_nan(m), tf.float32)], axis=1) if shape.monthly_missing else z


def monthly_input_np(monthly: np.ndarray, shape: Shape) -> np.ndarray:
    """numpy version of :func:`monthly_input` (scoring workers)."""
    m = monthly.reshape(-1, len(shape.monthly)).astype(np.float32, copy=False)
    with np.errstate(invalid="ignore"):
        z = (np.sign(m) * np.log1p(np.abs(m)) - np.asarray(shape.monthly_center, np.float32)) \
            / np.asarray(shape.monthly_scale, np.float32)
    z = np.clip(np.nan_to_num(z, nan=0.0), -MONTHLY_CLIP, MONTHLY_CLIP).astype(np.float32)
    return np.concatenate([z, np.isnan(m).astype(np.float32)], axis=1) if shape.monthly_missing else z


def model_inputs(window: Any, monthly: Any) -> Any:
    """What the Keras model takes: the window tensor, or with monthly inputs a dict of both."""
    return window if monthly is None else {"window": window, MONTHLY: monthly}


def class_weights(n: float, positives: int) -> dict[int, float]:
    """Balanced weights: each class contributes half of the loss."""
    if positives <= 0 or positives >= n:
        raise DataError(f"need both classes to train: {positives} irregular of {n} windows")
    return {0: n / (2.0 * (n - positives)), 1: n / (2.0 * positives)}


# ------------------------------------------------------------------- model
def build_model(shape: Shape, dc: DeepConf) -> Any:
    """The Keras model: LSTM, GRU, a 1-D convolution front before an LSTM, or convolutions only (cnn).

    Args:
        shape: input geometry.
        dc: the ``deep`` configuration (architecture, units, learning rate, seed).

    Returns:
        A compiled model with ``pr_auc`` and ``roc_auc`` metrics.
    """
    import keras

    keras.utils.set_random_seed(dc.seed)
    inputs, model_in = model_input_layers(shape)
    h = inputs
    if dc.architecture == "cnn":
        # each day's curve and alarms -> units features, two convolutions over the days (about two weeks
        # of context), then the strongest and the mean response over the window: a tampered stretch
        # anywhere in the window counts, and no 90-step recurrence (cheap on CPU)
        h = keras.layers.Dense(dc.units, activation="relu", name="day")(h)
        h = keras.layers.Conv1D(dc.units, 7, padding="same", activation="relu")(h)
        h = keras.layers.Conv1D(dc.units, 7, padding="same", activation="relu")(h)
        h = keras.layers.Concatenate()([keras.layers.GlobalMaxPooling1D()(h),
                                        keras.layers.GlobalAveragePooling1D()(h)])
    elif dc.architecture == "conv1d":
        # a day's curve is mixed with its neighbours before the recurrence; pooling halves the sequence
        h = keras.layers.Conv1D(dc.units, 5, padding="same", activation="relu")(h)
        h = keras.layers.MaxPooling1D(2)(h)
        h = keras.layers.LSTM(dc.units)(h)
    elif dc.architecture == "gru":
        h = keras.layers.GRU(dc.units)(h)
    else:
        h = keras.layers.LSTM(dc.units)(h)
    if shape.monthly:
        # the customer's monthly inputs (already scaled, monthly_input) through their own dense layer,
        # joined to the curve's features before the score
        g = keras.layers.Dense(dc.units, activation="relu", name="monthly_dense")(model_in[MONTHLY])
        h = keras.layers.Concatenate(name="curve_and_monthly")([h, g])
    h = keras.layers.Dropout(0.2)(h)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="score")(h)
    model = keras.Model(model_in, outputs, name=f"deepdaice_{dc.architecture}")
    model.compile(optimizer=keras.optimizers.Adam(dc.learning_rate), loss="binary_crossentropy",
                  metrics=[keras.metrics.AUC(curve="PR", name="pr_auc"), keras.metrics.AUC(name="roc_auc")])
    return model


def model_input_layers(shape: Shape) -> tuple[Any, Any]:
    """The model's inputs: the window tensor, and what the model takes (the window, or with monthly inputs a
    dict of both, keyed as ``model_inputs`` feeds them)."""
    import keras

    window = keras.Input((shape.days, shape.features), name="window")
    if not shape.monthly:
        return window, window
    return window, {"window": window, MONTHLY: keras.Input((shape.monthly_width,), name=MONTHLY)}


# -------------------------------------------------------------------- feed
def set_cache_dir(spark: SparkSession, cfg: Config) -> str:
    """Point Petastorm's converter cache at ``<paths.root>/petastorm_cache``."""
    from petastorm.spark import SparkDatasetConverter

    root = cfg.paths.root_uri
    url = root if "://" in root else f"file://{root}"
    url = f"{url.rstrip('/')}/petastorm_cache"
    spark.conf.set(SparkDatasetConverter.PARENT_CACHE_DIR_URL_CONF, url)
    return url


# the order of the rows handed to Petastorm: the window's keys, not the table's files
CANONICAL_ORDER = ("customer_id", "meter_id", "end_date", "inspection_id")


def feed_files(rows: int, shape: Shape, row_group_mb: int) -> int:
    """Parquet files of a converter of ``rows`` rows: about four row groups each, at least one."""
    row_bytes = 4 * (shape.days * (shape.intervals + len(shape.codes)) + len(shape.monthly) + 2)
    return max(1, math.ceil(rows * row_bytes / (4 * row_group_mb * 1024 * 1024)))


def make_converter(df: DataFrame, row_group_mb: int, unlabelled_weight: float = 1.0,
                   files: int | None = None) -> Any:
    """Materialise the feed columns of ``df`` for Petastorm (label as float32; weight: 1, or
    ``unlabelled_weight`` for a window without an inspection, see ``windows.unlabelled_keys``).

    With ``files`` the rows are laid out canonically first: hashed by customer into that many files,
    sorted by :data:`CANONICAL_ORDER` within each. The same rows then give the same files and row groups
    whatever the windows table's own files (an ingest in another order, an ``OPTIMIZE``), so a seeded
    training sees the same batches (``deep.deterministic``).
    """
    from petastorm.spark import make_spark_converter

    if files is not None:
        keys = [c for c in CANONICAL_ORDER if c in df.columns]
        df = df.repartition(files, "customer_id").sortWithinPartitions(*keys)
    weight = F.when(F.col("inspection_id").isNull(), F.lit(unlabelled_weight)).otherwise(F.lit(1.0))
    extra = [MONTHLY] if MONTHLY in df.columns else []
    feed = df.select("kwh", "alarms", *extra, F.col("label").cast("float").alias("label"),
                     weight.cast("float").alias("weight"))
    return make_spark_converter(feed, parquet_row_group_size_bytes=row_group_mb * 1024 * 1024)


@contextmanager
def petastorm_dataset(
    converter: Any,
    shape: Shape,
    batch_size: int,
    epochs: int | None = None,
    workers: int = 2,
    prefetch: int = 0,
    shuffle: bool = True,
    seed: int = 0,
    class_weight: dict[int, float] | None = None,
) -> Iterator[Any]:
    """A ``tf.data`` dataset of (window tensor, label) batches read through Petastorm.

    With ``class_weight`` the batches are (window tensor, label, weight):
    each row's ``weight`` column times its class's weight.

    Whole row groups go through ``tf.data`` as one element each (reshaped and,
    when ``shuffle``, permuted in one op) and are then re-cut to
    ``batch_size`` rows: no per-row Python or tf.data work, which is what
    makes ``converter.make_tf_dataset`` (flat_map + batch) slower.

    Args:
        converter: a ``make_spark_converter`` result.
        shape: window geometry.
        batch_size: rows per training batch.
        epochs: passes over the data (None = endless; use steps per epoch).
        workers: Petastorm reader threads.
        prefetch: tf.data prefetch depth (0 = autotune).
        shuffle: shuffle row groups and the rows within each.
        seed: shuffling seed.
        class_weight: label -> weight; None = no weights in the batches.
    """
    import tensorflow as tf
    from petastorm import make_batch_reader
    from petastorm.tf_utils import make_petastorm_dataset

    # the converter lists its files in the order the file system returns them: sorted, the same rows in
    # the same order every time (seeded shuffling then gives the same batches)
    reader = make_batch_reader(
        sorted(converter.file_urls), num_epochs=epochs, workers_count=workers, reader_pool_type="thread",
        shuffle_row_groups=shuffle, seed=seed if shuffle else None,
    )
    try:
        def prepare(batch: Any) -> tuple[Any, ...]:
            x = to_model_input(batch.kwh, batch.alarms, shape)
            m = monthly_input(batch.monthly, shape) if shape.monthly else None
            y = tf.reshape(batch.label, (-1, 1))
            w = None
            if class_weight is not None:
                w = tf.reshape(tf.where(batch.label > 0.5, class_weight[1], class_weight[0]) * batch.weight, (-1,))
            if shuffle:
                order = tf.random.shuffle(tf.range(tf.shape(x)[0]))
                x, y = tf.gather(x, order), tf.gather(y, order)
                m = None if m is None else tf.gather(m, order)
                w = None if w is None else tf.gather(w, order)
            inputs = model_inputs(x, m)
            return (inputs, y) if w is None else (inputs, y, w)

        ds = make_petastorm_dataset(reader).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.rebatch(batch_size).prefetch(prefetch or tf.data.AUTOTUNE)
        yield ds
    finally:
        reader.stop()
        reader.join()


def predict_converter(model: Any, converter: Any, shape: Shape, batch_size: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) for every row of a converter, one pass, no shuffling."""
    ys, ss = [], []
    with petastorm_dataset(converter, shape, batch_size, epochs=1, workers=workers, shuffle=False) as ds:
        for x, y in ds:
            ss.append(np.asarray(model.predict_on_batch(x)).reshape(-1))
            ys.append(y.numpy().reshape(-1))
    if not ys:
        return np.zeros(0, dtype=int), np.zeros(0)
    return np.concatenate(ys).astype(int), np.concatenate(ss).astype(float)


# ---------------------------------------------------------- monthly inputs
def monthly_reference_month(end_date: Any) -> Any:
    """The last whole month at a window's end: the month before the one holding ``end_date`` + 1 day.

    A window ending the day before an inspection gets the inspection's reference month (``features``:
    the month before the inspection's), so no bill after the window's end month reaches it.
    """
    return F.add_months(F.trunc(F.date_add(end_date, 1), "month"), -1)


def with_monthly(windows: DataFrame, monthly_features: DataFrame, training_set: DataFrame | None,
                 columns: list[str]) -> DataFrame:
    """``windows`` plus :data:`MONTHLY`: ``columns`` of the customer's feature row as array<float>, point-in-time.

    A window with an inspection takes that inspection's ``training_set`` row (the row DAICE learns the
    same label from); any other window (never-inspected negatives, scoring) takes the customer's latest
    ``monthly_features`` row whose reference month is at or before :func:`monthly_reference_month` of its
    end date. Missing values, and windows without a feature row, are NaN (``monthly_input`` makes them 0).

    Raises:
        DataError: a table lacks one of ``columns``.
    """
    for name, table in (("monthly_features", monthly_features), ("training_set", training_set)):
        lacking = [c for c in columns if table is not None and c not in table.columns and c != WINDOW_FLAG]
        if lacking:
            raise DataError(f"{name} lacks column(s) {lacking} (deep.monthly_features): rebuild it with the features job")
    nan = F.lit(float("nan")).cast("float")
    vector = monthly_vector(columns, observed=True)
    inspected = windows.where(F.col("inspection_id").isNotNull())
    others = windows.where(F.col("inspection_id").isNull())
    if training_set is not None:
        inspected = inspected.join(training_set.select("inspection_id", vector.alias(MONTHLY)), "inspection_id", "left")
    else:
        inspected = inspected.withColumn(MONTHLY, F.lit(None).cast("array<float>"))
    keys = others.select("customer_id", "end_date").distinct()
    candidates = keys.join(
        monthly_features.select("customer_id", F.col("reference_month").alias("_ref"), vector.alias(MONTHLY)),
        "customer_id").where(F.col("_ref") <= monthly_reference_month(F.col("end_date")))
    latest = candidates.groupBy("customer_id", "end_date").agg(F.max_by(MONTHLY, "_ref").alias(MONTHLY))
    out = inspected.unionByName(others.join(latest, ["customer_id", "end_date"], "left"))
    empty = F.array(*[F.lit(1.0).cast("float") if c == WINDOW_FLAG else nan for c in columns])
    return out.withColumn(MONTHLY, F.coalesce(F.col(MONTHLY), empty))


def encode_monthly(monthly_features: DataFrame, shape: Shape) -> DataFrame:
    """``monthly_features`` with the 0/1 columns of the model's categorical vocabulary
    (``deep.monthly_categorical``; unchanged for a model without one), encoded as in training."""
    if not shape.monthly_vocabulary:
        return monthly_features
    return CategoricalVocabulary.from_dict(json.loads(shape.monthly_vocabulary)).transform(monthly_features)


def monthly_vector(columns: list[str], observed: bool) -> Any:
    """``columns`` of a feature row as array<float> (null -> NaN); :data:`WINDOW_FLAG` is 1 when ``observed``."""
    nan = F.lit(float("nan")).cast("float")
    return F.array(*[F.lit(1.0 if observed else 0.0).cast("float") if c == WINDOW_FLAG
                     else F.coalesce(F.col(c).cast("float"), nan) for c in columns])


def windowless_rows(training_set: DataFrame, windows: DataFrame, shape: Shape, columns: list[str]) -> DataFrame:
    """The ``training_set`` inspections without a training window, as training rows with an empty curve.

    Conventional meters, and smart meters whose readings do not reach the inspection, still carry a
    label and the monthly inputs DAICE learns from (``deep.windowless_labels``): their curve and alarms
    are zeros, their coverage 0 and :data:`WINDOW_FLAG` 0, so the network tells them from a real window
    (a stopped meter's is zeros too) and its monthly branch learns from every inspection, its curve
    branch from the windows.
    """
    have = windows.where(F.col("inspection_id").isNotNull()).select("inspection_id").distinct()
    zero = F.lit(0.0).cast("float")
    return training_set.join(have, "inspection_id", "left_anti").select(
        "inspection_id", "customer_id", F.col("label").cast(windows.schema["label"].dataType).alias("label"),
        F.array_repeat(zero, shape.days * shape.intervals).alias("kwh"),
        F.array_repeat(zero, shape.days * len(shape.codes)).alias("alarms"),
        F.lit(0.0).cast(windows.schema["coverage"].dataType).alias("coverage"),
        monthly_vector(columns, observed=False).alias(MONTHLY))


def monthly_stats(df: DataFrame, n: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per position of :data:`MONTHLY`: mean and std of sign(v) * log1p(|v|) over the non-missing values of ``df``.

    A column with no value or no spread gets (0, 1).
    """
    v = F.col("v")
    t = F.signum(v) * F.log1p(F.abs(v))
    rows = (df.select(F.posexplode(MONTHLY).alias("pos", "v")).where(~F.isnan("v"))
            .groupBy("pos").agg(F.mean(t).alias("mu"), F.stddev_pop(t).alias("sd")).collect())
    center, scale = [0.0] * n, [1.0] * n
    for r in rows:
        center[r["pos"]] = float(r["mu"])
        scale[r["pos"]] = float(r["sd"]) if r["sd"] is not None and r["sd"] > 1e-6 else 1.0
    return tuple(center), tuple(scale)


def monthly_columns(cfg: Config) -> list[str]:
    """The monthly inputs a DeepDAICE model takes: DAICE's numeric inputs (``schemas.numeric_feature_columns``),
    then :data:`WINDOW_FLAG` with ``deep.windowless_labels``."""
    flag = [WINDOW_FLAG] if cfg.deep.windowless_labels else []
    return schemas.numeric_feature_columns(cfg.features.months, cfg.train.raw_consumption) + flag


def read_monthly_tables(spark: SparkSession, cfg: Config, training: bool) -> tuple[DataFrame, DataFrame | None, dict[str, int]]:
    """monthly_features (and, for training, training_set) at their latest versions, and those versions."""
    mf = lakehouse.read_pinned(spark, cfg.paths.table(schemas.MONTHLY_FEATURES), schemas.MONTHLY_FEATURES, "features")
    versions = {schemas.MONTHLY_FEATURES: mf.version}
    ts = None
    if training:
        pinned = lakehouse.read_pinned(spark, cfg.paths.table(schemas.TRAINING_SET), schemas.TRAINING_SET, "features")
        ts, versions[schemas.TRAINING_SET] = pinned.df, pinned.version
    return mf.df, ts, versions


# --------------------------------------------------------------------- run
def training_windows(spark: SparkSession, cfg: Config) -> tuple[DataFrame, int, dict[str, int]]:
    """Usable training windows at the table's latest version, that version and the lineage of the rows."""
    path = cfg.paths.table(schemas.WINDOWS)
    pinned = lakehouse.read_pinned(spark, path, schemas.WINDOWS, "windows")
    df = pinned.df.where((F.col("purpose") == "train") & (F.col("coverage") >= cfg.windows.min_coverage))
    return df, pinned.version, lakehouse.merge_lineage(lakehouse.lineage_of(df), {schemas.WINDOWS: pinned.version})


@dataclass
class Feed:
    """The three customer splits of the training windows, ready for Keras.

    ``train`` and ``test`` are Petastorm converters (Parquet under the
    converter cache), and ``refit`` (the training and validation rows
    together) when the feed was prepared for ``deep.refit``; the validation
    windows are read once into memory
    (``x_val``, ``y_val``, in the converter's file order) so that every epoch,
    and every trial of a search, is judged on exactly the same rows.
    """

    shape: Shape
    windows_version: int
    versions: dict[str, int]
    counts: dict[str, dict[int, int]]
    test_split: CustomerSplit
    val_split: CustomerSplit
    converters: dict[str, Any]
    x_val: np.ndarray
    y_val: np.ndarray

    unlabelled_weight: float = 1.0
    n_windowless: int = 0  # labelled inspections in train + validation without a window (deep.windowless_labels)

    @property
    def n_train(self) -> int:
        """Training windows, labelled and unlabelled."""
        return sum(self.counts["train"].values()) + self.n_unlabelled

    @property
    def n_unlabelled(self) -> int:
        return sum(self.counts.get("unlabelled", {}).values())

    @property
    def n_refit(self) -> int:
        """Rows of the refit: training and validation, labelled and unlabelled."""
        return self.n_train + sum(self.counts["validation"].values())

    @property
    def weights(self) -> dict[int, float]:
        """Balanced class weights over the weighted training windows (an unlabelled one counts its weight)."""
        return self._weights(("train",))

    @property
    def refit_weights(self) -> dict[int, float]:
        """As :attr:`weights`, over the training and validation rows (the refit's)."""
        return self._weights(("train", "validation"))

    def _weights(self, parts: tuple[str, ...]) -> dict[int, float]:
        positives = sum(self.counts[p].get(1, 0) for p in parts)
        negatives = sum(self.counts[p].get(0, 0) for p in parts) + self.unlabelled_weight * self.n_unlabelled
        return class_weights(positives + negatives, positives)

    def delete(self) -> None:
        """Remove the converters' cached Parquet."""
        for c in self.converters.values():
            c.delete()


def prepare_feed(spark: SparkSession, cfg: Config, refit: bool = False) -> Feed:
    """Split the usable training windows three ways and materialise them for Petastorm; with ``refit``
    also the training and validation rows together (converter ``refit``, for ``deep.refit``).

    Raises:
        DataError: a split is empty or the training windows lack a class.
    """
    dc = cfg.deep
    windows, wversion, versions = training_windows(spark, cfg)
    shape = window_shape(windows, dc.day_summaries)
    columns = monthly_columns(cfg) if dc.monthly_features else []
    windowless = None
    test_split, val_split = deep_splits(dc)
    vocabulary = ""
    if columns:
        mf, ts, mversions = read_monthly_tables(spark, cfg, training=True)
        if dc.monthly_categorical and ts is not None:
            # levels learned from the inspections outside the test split, as DAICE learns them from its own
            cc = cfg.train.categorical
            vocab = CategoricalVocabulary.fit(test_split.split(ts)[0], list(cc.columns), cc.max_levels, cc.min_count)
            ts, mf = vocab.transform(ts), vocab.transform(mf)
            columns = [c for c in columns if c != WINDOW_FLAG] + vocab.feature_columns + (
                [WINDOW_FLAG] if WINDOW_FLAG in columns else [])
            vocabulary = json.dumps(vocab.to_dict(), sort_keys=True)
        if dc.windowless_labels and ts is not None:
            windowless = windowless_rows(ts, windows, shape, columns)
        windows = with_monthly(windows, mf, ts, columns)
        versions = lakehouse.merge_lineage(versions, mversions)
    # never-inspected customers' windows (windows.unlabelled_share) only train; the labelled ones split three ways
    unlabelled = windows.where(F.col("inspection_id").isNull())
    rest, test_df = test_split.split(windows.where(F.col("inspection_id").isNotNull()))
    labelled_train, val_df = val_split.split(rest)
    n_windowless = 0
    if windowless is not None:
        # inspections without a window train and validate (customer split as the windows); the test split
        # keeps real windows only, so the held-out figures stay DeepDAICE's on curves
        wl_rest, _ = test_split.split(windowless)
        wl_train, wl_val = val_split.split(wl_rest)
        n_windowless = wl_rest.count()
        labelled_train = labelled_train.unionByName(wl_train, allowMissingColumns=True)
        val_df = val_df.unionByName(wl_val, allowMissingColumns=True)
    parts = (("train", labelled_train), ("validation", val_df), ("test", test_df), ("unlabelled", unlabelled))
    counts = {
        name: {int(r["label"]): int(r["n"]) for r in part.groupBy("label").agg(F.count("*").alias("n")).collect()}
        for name, part in parts
    }
    if not counts["validation"] or not counts["test"]:
        raise DataError(f"windows: too few customers for train/validation/test splits: {counts}")
    n_train = sum(counts["train"].values())
    class_weights(n_train, counts["train"].get(1, 0))  # both classes, or a clear error before any work
    set_cache_dir(spark, cfg)
    train_df = labelled_train.unionByName(unlabelled) if counts["unlabelled"] else labelled_train
    if columns:  # scaled with the training windows' statistics only
        center, scale = monthly_stats(train_df, len(columns))
        shape = dataclasses.replace(shape, monthly=tuple(columns), monthly_center=center, monthly_scale=scale,
                                    monthly_missing=cfg.deep.monthly_missing, monthly_vocabulary=vocabulary)
    rows = {"train": n_train + sum(counts["unlabelled"].values()), "validation": sum(counts["validation"].values()),
            "test": sum(counts["test"].values())}
    feeds = {"train": train_df, "validation": val_df, "test": test_df}
    if refit:
        rows["refit"] = rows["train"] + rows["validation"]
        feeds["refit"] = train_df.unionByName(val_df)
    converters = {name: make_converter(part, dc.row_group_mb, dc.unlabelled_weight,
                                       feed_files(rows[name], shape, dc.row_group_mb))
                  for name, part in feeds.items()}
    try:
        x_val, y_val = read_arrays(converters.pop("validation"), shape, dc.batch_size)
    except BaseException:
        for c in converters.values():
            c.delete()
        raise
    return Feed(shape, wversion, versions, counts, test_split, val_split, converters, x_val, y_val,
                dc.unlabelled_weight, n_windowless)


def read_arrays(converter: Any, shape: Shape, batch_size: int) -> tuple[Any, np.ndarray]:
    """Every row of ``converter`` as (model input, label) arrays, in file order; the converter is deleted.

    The model input is one array, or with monthly inputs a dict of arrays (:func:`model_inputs`).
    """
    xs: list[Any] = []
    ys = []
    try:
        with petastorm_dataset(converter, shape, batch_size, epochs=1, workers=1, shuffle=False) as ds:
            for x, y in ds:
                xs.append({k: v.numpy() for k, v in x.items()} if isinstance(x, dict) else x.numpy())
                ys.append(y.numpy())
    finally:
        converter.delete()
    if not xs:
        window = np.zeros((0, shape.days, shape.features), np.float32)
        monthly = np.zeros((0, shape.monthly_width), np.float32) if shape.monthly else None
        return model_inputs(window, monthly), np.zeros((0, 1), np.float32)
    if isinstance(xs[0], dict):
        return {k: np.concatenate([x[k] for x in xs]) for k in xs[0]}, np.concatenate(ys)
    return np.concatenate(xs), np.concatenate(ys)


def early_stopping(dc: DeepConf) -> Any:
    """Stop when validation PR-AUC has not improved for ``deep.patience`` epochs and keep the best epoch's weights,
    looking only from epoch ``deep.min_epochs`` on (a first epoch that peaks by chance neither ends training nor
    becomes the model). With ``deep.average_epochs`` > 1 it only stops: :class:`EpochAverage` sets the weights."""
    import keras

    return keras.callbacks.EarlyStopping(monitor="val_pr_auc", mode="max", patience=dc.patience,
                                         restore_best_weights=dc.average_epochs == 1,
                                         start_from_epoch=dc.min_epochs)


def best_window(values: list[float], k: int, start: int) -> tuple[int, int]:
    """The ``k`` consecutive epochs (first, last; 0-based) with the highest mean validation PR-AUC, the
    window's first epoch at or after ``start`` (the first such window on ties). Training that ended before
    ``start + k`` epochs: its last ``k`` epochs (all of them when fewer)."""
    if not values:
        raise ValueError("best_window: no validation values")
    n = len(values)
    if n < start + k:
        return max(0, n - k), n - 1
    means = np.convolve(np.asarray(values, dtype=float), np.ones(k) / k, mode="valid")  # means[i]: epochs i..i+k-1
    first = start + int(np.argmax(means[start:]))
    return first, first + k - 1


def _epoch_average_class() -> Any:
    import keras

    class EpochAverage(keras.callbacks.Callback):
        """Keeps each epoch's weights; at the end of training the model takes the mean of the weights of
        ``k`` consecutive epochs: the best window of validation PR-AUC (:func:`best_window`) when there is
        one to judge, else (a refit) the last ``k`` epochs. On a few dozen irregular validation rows the
        PR-AUC of one epoch is noisy: a window's mean is a steadier judge, and averaging the weights of
        neighbouring epochs (one basin, a small learning rate) smooths the network's training path."""

        def __init__(self, k: int, start: int) -> None:
            super().__init__()
            self.k, self.start = k, start
            self.weights: list[list[np.ndarray]] = []
            self.values: list[float] = []
            self.chosen: tuple[int, int] | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.weights.append([w.copy() for w in self.model.get_weights()])
            if logs and "val_pr_auc" in logs:
                self.values.append(float(logs["val_pr_auc"]))

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            if not self.weights:
                return
            n = len(self.weights)
            if len(self.values) == n:
                first, last = best_window(self.values, self.k, self.start)
            else:
                first, last = max(0, n - self.k), n - 1
            chosen = self.weights[first:last + 1]
            self.model.set_weights([np.mean(ws, axis=0).astype(ws[0].dtype) for ws in zip(*chosen, strict=True)])
            self.chosen = (first, last)
            self.weights = []

    return EpochAverage


def epoch_average(dc: DeepConf) -> Any:
    """The callback that averages the weights of ``deep.average_epochs`` epochs (``EpochAverage``)."""
    return _epoch_average_class()(dc.average_epochs, dc.min_epochs)


def average_members(members: list[Any], shape: Shape) -> Any:
    """One Keras model whose score is the mean of the ``members``' scores (same inputs); a single member as it is.

    Networks that differ only in their seed disagree most on the customers the curve says little about; the
    mean keeps what they agree on. Scoring and the registry see one model. It is only predicted with and saved
    (scoring loads it with ``compile=False``), never trained: it is not compiled.
    """
    if len(members) == 1:
        return members[0]
    import keras

    _, inputs = model_input_layers(shape)
    # each member re-wrapped under its own name (same layers and weights): names are unique in the model
    named = [keras.Model(m.input, m.output, name=f"member{i}") for i, m in enumerate(members)]
    outputs = keras.layers.Average(name="score")([m(inputs) for m in named])
    return keras.Model(inputs, outputs, name=f"{members[0].name}_x{len(members)}")


def best_epoch(history: dict[str, list[float]], dc: DeepConf) -> int:
    """The last epoch (0-based) whose weights :func:`fit` kept: the first best validation PR-AUC from
    ``deep.min_epochs`` on (keras ``EarlyStopping`` with ``start_from_epoch``), the last one when training
    ended before that epoch; with ``deep.average_epochs`` > 1 the last epoch of the averaged window
    (:func:`best_window`), so a refit trained that long averages the same number of last epochs."""
    values = history.get("val_pr_auc", [])
    if not values:
        raise ValueError("best_epoch: the history has no val_pr_auc")
    if dc.average_epochs > 1:
        return best_window(values, dc.average_epochs, dc.min_epochs)[1]
    if len(values) <= dc.min_epochs:
        return len(values) - 1
    return dc.min_epochs + int(np.argmax(values[dc.min_epochs:]))


def fit(model: Any, feed: Feed, dc: DeepConf, callbacks: list[Any] | None = None,
        refit_epochs: int = 0) -> dict[str, list[float]]:
    """Train ``model`` on the feed's training windows, early stopping on validation PR-AUC; the history.

    With ``refit_epochs`` > 0 it trains instead on the feed's ``refit`` rows (training and validation
    customers, their class weights) for exactly that many epochs: no validation, no early stopping.

    With ``deep.deterministic`` the training rows are read by one Petastorm
    thread (row groups in the seeded shuffle order) and TensorFlow's ops run
    deterministically, so the same data, configuration and seed give the same
    weights, epochs and scores on the same machine.
    """
    import keras
    import tensorflow as tf

    if dc.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(dc.seed)
    workers = 1 if dc.deterministic else dc.reader_workers
    if refit_epochs:
        part, rows, weights, epochs = "refit", feed.n_refit, feed.refit_weights, refit_epochs
        judged: dict[str, Any] = {}
        stops = list(callbacks or [])
    else:
        part, rows, weights, epochs = "train", feed.n_train, feed.weights, dc.epochs
        judged = {"validation_data": (feed.x_val, feed.y_val), "validation_batch_size": dc.batch_size}
        stops = [early_stopping(dc), *(callbacks or [])]
    if dc.average_epochs > 1:  # last: it sets the weights after early stopping has ended training
        stops.append(epoch_average(dc))
    steps = max(1, math.ceil(rows / dc.batch_size))
    with petastorm_dataset(feed.converters[part], feed.shape, dc.batch_size, None, workers, dc.prefetch, True,
                           dc.seed, weights) as ds:
        out = model.fit(ds, epochs=epochs, steps_per_epoch=steps, callbacks=stops, verbose=2, **judged)
    return {k: [float(v) for v in vals] for k, vals in out.history.items()}


def run(spark: SparkSession, cfg: Config) -> DeepResult:
    """Train, evaluate, log and register one DeepDAICE model."""
    dc = with_tuned_params(cfg.deep)
    client = tracking.setup(cfg)
    feed = prepare_feed(spark, cfg, refit=dc.refit)
    shape, counts, n_train = feed.shape, feed.counts, feed.n_train
    try:
        with mlflow.start_run(run_name=f"{dc.model_name}-train") as run_:
            mlflow.log_params(tracking.run_params("deep", {
                k: v for k, v in as_dict(dc).items() if k not in ("enabled",)}))
            mlflow.log_params({"days": shape.days, "intervals": shape.intervals, "channels": 1 + len(shape.codes),
                               "input_features": shape.features, "monthly_inputs": len(shape.monthly),
                               "alarm_codes": ",".join(shape.codes), "n_train": n_train,
                               "n_train_positive": counts["train"].get(1, 0),
                               "n_train_unlabelled": feed.n_unlabelled, "n_validation": len(feed.y_val),
                               "n_windowless": feed.n_windowless, "n_refit": feed.n_refit if dc.refit else 0,
                               "class_weight_1": round(feed.weights[1], 4),
                               "split.test": feed.test_split.describe(), "split.validation": feed.val_split.describe()})
            tracking.log_data_versions(feed.versions)

            members, histories, refit_epochs = [], [], []
            for i in range(dc.members):  # member i: seed + i, trained on the same feed
                member_dc = dataclasses.replace(dc, seed=dc.seed + i)
                members.append(build_model(shape, member_dc))
                histories.append(fit(members[-1], feed, member_dc))
                prefix = "epoch_" if dc.members == 1 else f"member{i}_epoch_"
                for epoch in range(len(histories[-1].get("loss", []))):
                    mlflow.log_metrics({f"{prefix}{k}": v[epoch] for k, v in histories[-1].items()}, step=epoch)
                if dc.refit:  # a fresh network, same seed, on train + validation for the chosen epochs
                    refit_epochs.append(best_epoch(histories[-1], dc) + 1)
                    members[-1] = build_model(shape, member_dc)
                    refit_history = fit(members[-1], feed, member_dc, refit_epochs=refit_epochs[-1])
                    refit_prefix = "refit_" if dc.members == 1 else f"member{i}_refit_"
                    for epoch, loss in enumerate(refit_history.get("loss", [])):
                        mlflow.log_metric(f"{refit_prefix}loss", loss, step=epoch)
            model = average_members(members, shape)
            history = histories[0]

            y, s = predict_converter(model, feed.converters["test"], shape, dc.batch_size, dc.reader_workers)
            k = min(dc.campaign_size, len(y))
            m = evaluate.binary_metrics(y, s, dc.threshold, k)
            mlflow.log_metrics({f"test_{n}": v for n, v in m.items() if not math.isnan(v)})
            mlflow.log_metric("epochs_run", sum(len(h.get("loss", [])) for h in histories))
            if refit_epochs:
                mlflow.log_metric("refit_epochs", sum(refit_epochs))
            with tempfile.TemporaryDirectory() as tmp:
                d = Path(tmp)
                evaluate.plot_curves({"test": (y, s)}, d / "curves.png", f"{dc.model_name} (test, n={len(y)})")
                if len(np.unique(y)) == 2:
                    np.savez(d / "curves.npz", **evaluate.curves(y, s))
                (d / "history.json").write_text(json.dumps(history if dc.members == 1 else histories, indent=1))
                (d / "config.json").write_text(json.dumps(as_dict(cfg), indent=1, default=str))
                (d / "test_scores.json").write_text(json.dumps({"label": y.tolist(), "score": s.tolist()}))
                mlflow.log_artifacts(tmp, artifact_path="evaluation")

            mv = log_and_register(client, model, shape, dc, feed.windows_version)
            result = DeepResult(run_.info.run_id, dc.model_name, mv, m, history)
    finally:
        feed.delete()

    refit_text = (f", refit on train + validation ({feed.n_refit} rows) for {'+'.join(map(str, refit_epochs))} epochs"
                  if refit_epochs else "")
    print(f"train_deep: {dc.model_name} v{result.model_version} ({dc.architecture}) run {result.run_id}  "
          f"{'+'.join(str(len(h.get('loss', []))) for h in histories)} epochs"
          f"{'' if dc.members == 1 else f' ({dc.members} members)'}"
          f"{refit_text}, train n={n_train}  test n={int(m['n'])} "
          f"positives={int(m['positives'])}  PR-AUC {m['pr_auc']:.3f}  ROC-AUC {m['roc_auc']:.3f}  "
          f"precision@{k} {m['precision_at_k']:.3f}")
    return result


# the deep.* keys a tune_deep search chooses (and deep.params_from may replace)
TUNED_KEYS = ("architecture", "units", "learning_rate")


def with_tuned_params(dc: DeepConf) -> DeepConf:
    """``dc`` with the keys the tune_deep job wrote (``deep.params_from``) in place of the configured ones.

    Raises:
        ConfigError: the file is missing, holds no ``deep`` mapping, a key other than ``TUNED_KEYS``, or a
            value the ``deep`` section refuses (each names the file or key).
    """
    if not dc.params_from:
        return dc
    tuned = read_tuned(dc.params_from, "deep.params_from", ("deep",), "tune_deep")
    unknown = sorted(set(tuned) - set(TUNED_KEYS))
    if unknown:
        raise ConfigError(f"config key 'deep.params_from': {dc.params_from!r} sets {unknown}; "
                          f"a tuned layer may set only {list(TUNED_KEYS)}")
    out = dataclasses.replace(dc, **tuned)
    out.validate()
    log.info("train_deep: %s from %s", tuned, dc.params_from)
    return out


def deep_splits(dc: DeepConf) -> tuple[CustomerSplit, CustomerSplit]:
    """The test split (of all customers) and the validation split (of the rest) for DeepDAICE."""
    return (CustomerSplit(dc.split_salt, dc.test_fraction),
            CustomerSplit(f"{dc.split_salt}:validation", dc.validation_fraction))


def model_metadata(shape: Shape, dc: DeepConf, windows_version: int | None) -> dict[str, Any]:
    """What scoring needs to rebuild the model input from a windows row, and the customers held out."""
    test_split, val_split = deep_splits(dc)
    return {
        "family": FAMILY, "days": shape.days, "intervals": shape.intervals, "channels": 1 + len(shape.codes),
        "alarm_codes": list(shape.codes), "normalisation": NORMALISATION, "architecture": dc.architecture,
        "day_summaries": list(DAY_SUMMARIES) if shape.summaries else [],
        "monthly_features": list(shape.monthly), "monthly_center": list(shape.monthly_center),
        "monthly_scale": list(shape.monthly_scale),
        "monthly_rule": MONTHLY_RULE if shape.monthly else "", "monthly_transform": MONTHLY_TRANSFORM if shape.monthly else "",
        "monthly_missing": MONTHLY_MISSING if shape.monthly_missing else "",
        "monthly_vocabulary": json.loads(shape.monthly_vocabulary) if shape.monthly_vocabulary else {},
        "windows_version": windows_version, "split": test_split.to_dict(), "validation_split": val_split.to_dict(),
        "refit": dc.refit,  # true: the validation customers trained too (only the test split is held out)
    }


def log_and_register(client: Any, model: Any, shape: Shape, dc: DeepConf, windows_version: int | None) -> str | None:
    """Log the Keras model (TensorFlow flavour) and register it with its alias; return the version."""
    import mlflow.tensorflow

    info = mlflow.tensorflow.log_model(
        model,
        name="model",
        registered_model_name=dc.model_name if dc.register else None,
        metadata=model_metadata(shape, dc, windows_version),
    )
    mv = info.registered_model_version if dc.register else None
    if mv is not None:
        tracking.set_alias(client, dc.model_name, dc.alias, str(mv))
    return str(mv) if mv is not None else None
