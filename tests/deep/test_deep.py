"""DeepDAICE: Petastorm feed, training, registry and distributed scoring on tiny windows."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from deep_helpers import deep_config, write_windows
from pyspark.sql import functions as F

from ntl_spark import deep, deep_score, lakehouse, models, schemas, tracking, tune_deep
from ntl_spark.errors import ConfigError, DataError

TINY = ("deep.epochs=3", "deep.units=8", "deep.batch_size=16", "deep.learning_rate=0.01", "deep.patience=5",
        "deep.row_group_mb=1", "score.scored_on=2026-10-01")


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    cfg = deep_config(tmp_path_factory.mktemp("deep"), *TINY)
    write_windows(spark, cfg)
    return cfg


def test_petastorm_converter_feeds_tensorflow(spark, lake):
    """Smoke test of the pinned petastorm + pyarrow + tensorflow set: an upgrade that breaks it fails here."""
    windows = spark.read.format("delta").load(lake.paths.table(schemas.WINDOWS)).where("purpose = 'train'")
    shape = deep.window_shape(windows)
    deep.set_cache_dir(spark, lake)
    converter = deep.make_converter(windows.limit(20), 1)
    try:
        with converter.make_tf_dataset(batch_size=8, num_epochs=1, workers_count=1) as ds:
            batch = next(iter(ds))
            assert tuple(batch.kwh.shape) == (8, 14 * 24)
            assert tuple(deep.to_model_input(batch.kwh, batch.alarms, shape).shape) == (8, 14, 24 + 5)
        with deep.petastorm_dataset(converter, shape, 8, epochs=1, workers=1, shuffle=False) as ds:
            xs = [x.shape[0] for x, _ in ds]
            assert sum(xs) == 20 and max(xs) == 8
    finally:
        converter.delete()


@pytest.mark.parametrize("architecture", ["lstm", "gru", "conv1d", "cnn"])
@pytest.mark.parametrize("summaries", [False, True])
def test_architectures_build(architecture, summaries):
    cfg = deep_config("/tmp", f"deep.architecture={architecture}", "deep.units=4")
    shape = deep.Shape(14, 24, schemas.EVENT_CODES, summaries)
    model = deep.build_model(shape, cfg.deep)
    out = model.predict_on_batch(np.zeros((2, 14, 29 + 5 * summaries), dtype=np.float32))
    assert shape.features == 29 + 5 * summaries and out.shape == (2, 1)


def test_day_summaries_same_in_tensorflow_and_numpy():
    rng = np.random.default_rng(3)
    kwh = rng.gamma(2.0, 0.5, (2, 3 * 96)).astype(np.float32)
    kwh[0, :96] = 0.0  # day 0 of window 0: a stopped meter
    kwh[1, 96:192] = 1.0  # day 1 of window 1: flat
    kwh[1, 192:192 + 24] = 0.0  # day 2 of window 1: nothing recorded 00:00-06:00
    alarms = np.zeros((2, 3 * len(schemas.EVENT_CODES)), dtype=np.float32)
    shape = deep.Shape(3, 96, schemas.EVENT_CODES, True)
    x_np = deep.to_model_input_np(kwh, alarms, shape)
    x_tf = np.asarray(deep.to_model_input(kwh, alarms, shape))
    assert x_np.shape == (2, 3, 96 + len(schemas.EVENT_CODES) + 5)
    np.testing.assert_allclose(x_np, x_tf, rtol=1e-5, atol=1e-6)
    summary = dict(zip(deep.DAY_SUMMARIES, np.moveaxis(x_np[..., -5:], -1, 0), strict=True))
    assert summary["zero_share"][0, 0] == 1.0 and summary["day_mean"][0, 0] == 0.0
    assert summary["day_cv"][1, 1] == pytest.approx(0.0, abs=1e-6)
    assert summary["peak_ratio"][1, 1] == pytest.approx(np.log1p(1.0), abs=1e-5)
    assert summary["zero_share"][1, 2] == pytest.approx(0.25) and summary["night_share"][1, 2] < summary["night_share"][1, 0]


def test_monthly_inputs_same_in_tensorflow_and_numpy_missing_to_zero_and_clipped():
    shape = deep.Shape(3, 96, (), False, ("a", "b", "c"), (0.0, 1.0, 0.0), (1.0, 0.5, 1.0))
    raw = np.array([[0.0, math.e - 1, np.nan], [-(math.e - 1), 1e30, 2.0]], dtype=np.float32)
    z_np = deep.monthly_input_np(raw.ravel(), shape)
    z_tf = np.asarray(deep.monthly_input(raw.ravel(), shape))
    np.testing.assert_allclose(z_np, z_tf, rtol=1e-5, atol=1e-6)
    assert z_np[0].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)  # log1p(e - 1) = 1 = the centre; NaN -> 0
    assert z_np[1, 0] == pytest.approx(-1.0) and z_np[1, 1] == deep.MONTHLY_CLIP
    assert z_np[1, 2] == pytest.approx(math.log1p(2.0))
    # with the missing flags: the values as above, then 1 per missing input
    flagged = dataclasses.replace(shape, monthly_missing=True)
    f_np = deep.monthly_input_np(raw.ravel(), flagged)
    np.testing.assert_allclose(f_np, np.asarray(deep.monthly_input(raw.ravel(), flagged)), rtol=1e-5, atol=1e-6)
    assert f_np.shape == (2, flagged.monthly_width) == (2, 6)
    np.testing.assert_array_equal(f_np[:, :3], z_np)
    assert f_np[:, 3:].tolist() == [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]


def test_monthly_inputs_are_point_in_time(spark, tmp_path):
    """An inspected window takes its inspection's training_set row; any other the latest row at or before the
    month before its end + 1 day; a customer without a row gets NaN; a table without a column is named."""
    import datetime as dt

    from pyspark.sql.types import DateType, DoubleType, StringType, StructField, StructType

    keys = StructType([StructField("inspection_id", StringType()), StructField("customer_id", StringType()),
                       StructField("end_date", DateType())])
    windows = spark.createDataFrame([
        ("I1", "A", dt.date(2026, 9, 30)),    # inspected on 2026-10-01
        (None, "A", dt.date(2026, 9, 29)),    # same customer, not inspected: monthly_features, month 2026-08
        (None, "B", dt.date(2026, 9, 30)),    # end + 1 day = 2026-10-01 -> month 2026-09
        (None, "C", dt.date(2026, 9, 30)),    # no row at all
    ], keys)
    row = StructType([StructField("customer_id", StringType()), StructField("reference_month", DateType()),
                      StructField("x", DoubleType()), StructField("y", DoubleType())])
    mf = spark.createDataFrame([
        ("A", dt.date(2026, 7, 1), 7.0, 1.0), ("A", dt.date(2026, 8, 1), 8.0, None), ("A", dt.date(2026, 9, 1), 9.0, 1.0),
        ("B", dt.date(2026, 9, 1), 19.0, 2.0), ("B", dt.date(2026, 10, 1), 20.0, 2.0),  # October: after the window
        ("C", dt.date(2026, 10, 1), 30.0, 3.0),
    ], row)
    ts = spark.createDataFrame([("I1", "A", dt.date(2026, 9, 1), 99.0, 5.0)],
                               "inspection_id string, customer_id string, reference_month date, x double, y double")
    out = {(r.inspection_id, r.customer_id, r.end_date.day): r.monthly
           for r in deep.with_monthly(windows, mf, ts, ["x", "y"]).collect()}
    assert out[("I1", "A", 30)] == [99.0, 5.0]
    assert out[(None, "A", 29)][0] == 8.0 and math.isnan(out[(None, "A", 29)][1])
    assert out[(None, "B", 30)] == [19.0, 2.0]
    assert all(math.isnan(v) for v in out[(None, "C", 30)])
    with pytest.raises(DataError, match=r"monthly_features lacks column\(s\) \['z'\].*features job"):
        deep.with_monthly(windows, mf, ts, ["x", "z"])


def test_inspections_without_a_window_get_an_empty_curve_and_the_flag_off(spark, lake):
    windows = spark.read.format("delta").load(lake.paths.table(schemas.WINDOWS)).where("purpose = 'train'")
    ts = spark.read.format("delta").load(lake.paths.table(schemas.TRAINING_SET))
    shape = deep.window_shape(windows)
    columns = deep.monthly_columns(lake)
    rows = deep.windowless_rows(ts, windows, shape, columns).collect()
    assert sorted(r.inspection_id for r in rows) == sorted(f"IW{i}" for i in range(12))
    r = rows[0]
    assert r.kwh == [0.0] * (14 * 24) and r.alarms == [0.0] * (14 * 5) and r.coverage == 0.0
    assert r.monthly[-1] == 0.0 and len(r.monthly) == len(columns)
    # a real window carries the flag on
    real = deep.with_monthly(windows.limit(3), spark.read.format("delta").load(lake.paths.table(schemas.MONTHLY_FEATURES)),
                             ts, columns).collect()
    assert [w.monthly[-1] for w in real] == [1.0, 1.0, 1.0]


def test_model_without_monthly_inputs_trains_and_scores_from_the_windows_alone(spark, tmp_path):
    """deep.monthly_features=false: the model takes the window only and scoring never reads monthly_features."""
    import shutil

    with pytest.raises(ConfigError, match="deep.windowless_labels.*needs deep.monthly_features"):
        deep_config(tmp_path, "deep.monthly_features=false", "deep.windowless_labels=true")
    cfg = deep_config(tmp_path, *TINY, "deep.monthly_features=false", "deep.windowless_labels=false", "deep.epochs=1")
    write_windows(spark, cfg)
    shutil.rmtree(cfg.paths.table(schemas.MONTHLY_FEATURES))
    result = deep.run(spark, cfg)
    meta = mlflow.models.get_model_info(f"models:/DeepDAICE/{result.model_version}").metadata
    assert meta["monthly_features"] == [] and meta["monthly_rule"] == ""
    assert deep_score.run(spark, cfg)["rows"] == 6


def test_early_stopping_ignores_the_epochs_before_min_epochs(tmp_path):
    """A validation PR-AUC that peaks in the first epoch (by chance) neither stops training nor becomes the model."""
    import dataclasses

    import keras

    with pytest.raises(ConfigError, match="deep.min_epochs"):
        deep_config(tmp_path, "deep.min_epochs=-1")
    dc = deep_config(tmp_path, "deep.patience=2").deep
    curve = [0.9, 0.1, 0.1, 0.2, 0.3, 0.25, 0.2, 0.1]

    def run(min_epochs: int) -> tuple[int, float]:
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        stop = deep.early_stopping(dataclasses.replace(dc, min_epochs=min_epochs))
        stop.set_model(model)
        model.stop_training = False  # as Model.fit sets it
        stop.on_train_begin()
        for epoch, value in enumerate(curve):
            model.layers[0].set_weights([np.full((1, 1), float(epoch)), np.zeros(1)])
            stop.on_epoch_end(epoch, {"val_pr_auc": value})
            if model.stop_training:
                break
        stop.on_train_end()
        return epoch, float(model.layers[0].get_weights()[0][0, 0])

    assert run(0) == (2, 0.0)  # stopped two epochs after the chance peak, the first epoch's weights kept
    assert run(3) == (6, 4.0)  # judged from epoch 3 on: the best of those (epoch 4, 0.3) kept


def test_best_epoch_is_the_one_early_stopping_keeps(tmp_path):
    """deep.best_epoch names the epoch whose weights fit kept (the curve of the test above), which the refit
    trains up to."""
    import dataclasses

    dc = deep_config(tmp_path).deep
    curve = {"val_pr_auc": [0.9, 0.1, 0.1, 0.2, 0.3, 0.25, 0.2, 0.1]}
    assert deep.best_epoch(curve, dataclasses.replace(dc, min_epochs=0)) == 0
    assert deep.best_epoch(curve, dataclasses.replace(dc, min_epochs=3)) == 4
    # training ended before min_epochs: the last epoch's weights stay
    assert deep.best_epoch({"val_pr_auc": [0.9, 0.1]}, dataclasses.replace(dc, min_epochs=5)) == 1
    with pytest.raises(ValueError, match="val_pr_auc"):
        deep.best_epoch({"loss": [1.0]}, dc)


def test_average_epochs_takes_the_mean_weights_of_the_best_window(tmp_path):
    """deep.average_epochs=k: the model ends with the mean of the weights of the k consecutive epochs whose mean
    validation PR-AUC is highest (from min_epochs on), not those of one lucky epoch; best_epoch names the
    window's last epoch for a refit, which averages its own last k epochs."""
    import dataclasses

    import keras

    with pytest.raises(ConfigError, match="deep.average_epochs"):
        deep_config(tmp_path, "deep.average_epochs=0")
    dc = dataclasses.replace(deep_config(tmp_path).deep, average_epochs=3, min_epochs=1)
    # epoch 1 peaks alone (0.9); epochs 4-6 are the best stretch (mean 0.6 against 0.9, 0.2, 0.2 -> 0.433)
    curve = [0.1, 0.9, 0.2, 0.2, 0.6, 0.6, 0.6, 0.3]
    assert deep.best_window(curve, 3, 1) == (4, 6)
    assert deep.best_window(curve, 1, 0) == (1, 1)  # k = 1: the single best epoch
    assert deep.best_window(curve, 3, 7) == (5, 7)  # no whole window after start: the last k epochs
    assert deep.best_window([0.5, 0.4], 3, 0) == (0, 1)
    assert deep.best_epoch({"val_pr_auc": curve}, dc) == 6
    with pytest.raises(ValueError):
        deep.best_window([], 3, 0)

    def run(values: list[float] | None) -> tuple[float, object]:
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        avg = deep.epoch_average(dc)
        avg.set_model(model)
        avg.on_train_begin()
        for epoch in range(len(curve)):
            model.layers[0].set_weights([np.full((1, 1), float(epoch)), np.full(1, 2.0 * epoch)])
            avg.on_epoch_end(epoch, {"loss": 1.0} if values is None else {"val_pr_auc": values[epoch]})
        avg.on_train_end()
        kernel, bias = model.layers[0].get_weights()
        assert bias[0] == pytest.approx(2 * kernel[0, 0])
        return float(kernel[0, 0]), avg.chosen

    assert run(curve) == (pytest.approx(5.0), (4, 6))  # mean of epochs 4, 5, 6
    assert run(None) == (pytest.approx(6.0), (5, 7))  # a refit (nothing to judge): its last three epochs
    # with averaging, early stopping only stops: it does not restore its own best epoch over the average
    assert deep.early_stopping(dc).restore_best_weights is False
    assert deep.early_stopping(dataclasses.replace(dc, average_epochs=1)).restore_best_weights is True


def test_average_epochs_trains_registers_and_scores(spark, tmp_path):
    """deep.average_epochs=2 through train_deep: the averaged network is the one registered and scored."""
    cfg = deep_config(tmp_path, *TINY, "deep.epochs=3", "deep.min_epochs=0", "deep.average_epochs=2")
    write_windows(spark, cfg)
    result = deep.run(spark, cfg)
    run = mlflow.get_run(result.run_id).data
    assert run.params["deep.average_epochs"] == "2"
    assert int(result.metrics["n"]) > 0
    assert deep_score.run(spark, cfg)["rows"] == 6


def test_refit_trains_a_fresh_network_on_train_and_validation_for_the_best_epochs(spark, tmp_path):
    """deep.refit: after early stopping, the registered network is trained on training + validation customers
    for the chosen number of epochs; the test customers stay out and scoring is unchanged."""
    cfg = deep_config(tmp_path, *TINY, "deep.refit=true")
    write_windows(spark, cfg)
    result = deep.run(spark, cfg)
    run = mlflow.get_run(result.run_id).data
    n_train, n_refit = int(run.params["n_train"]), int(run.params["n_refit"])
    assert n_refit == n_train + int(run.params["n_validation"]) and n_refit > n_train
    epochs = deep.best_epoch(result.history, cfg.deep) + 1
    assert run.metrics["refit_epochs"] == epochs
    client = tracking.setup(cfg)
    assert len(client.get_metric_history(result.run_id, "refit_loss")) == epochs
    meta = mlflow.models.get_model_info(f"models:/DeepDAICE/{result.model_version}").metadata
    assert meta["refit"] is True
    assert int(result.metrics["n"]) > 0  # the test split is still judged
    assert deep_score.run(spark, cfg)["rows"] == 6


def test_members_average_into_one_model_that_registers_and_scores(spark, tmp_path):
    """deep.members=2: two networks (seeds seed and seed + 1), one registered model scoring their mean."""
    import dataclasses

    with pytest.raises(ConfigError, match="deep.members"):
        deep_config(tmp_path, "deep.members=0")
    cfg = deep_config(tmp_path, *TINY, "deep.epochs=1", "deep.members=2")
    shape = deep.Shape(14, 24, schemas.EVENT_CODES, False, ("a", "b"), (0.0, 0.0), (1.0, 1.0))
    members = [deep.build_model(shape, dataclasses.replace(cfg.deep, seed=s)) for s in (1, 2)]
    x = {"window": np.random.default_rng(0).random((3, 14, 29), dtype=np.float32),
         deep.MONTHLY: np.ones((3, 2), dtype=np.float32)}
    each = [m.predict_on_batch(x) for m in members]
    assert not np.allclose(each[0], each[1])  # the seeds give different networks
    assert np.allclose(deep.average_members(members, shape).predict_on_batch(x), (each[0] + each[1]) / 2, atol=1e-6)
    assert deep.average_members(members[:1], shape) is members[0]
    write_windows(spark, cfg)
    result = deep.run(spark, cfg)
    params = mlflow.get_run(result.run_id).data
    assert params.params["deep.members"] == "2" and "member1_epoch_loss" in params.metrics
    assert deep_score.run(spark, cfg)["rows"] == 6


def test_class_weights_balance_the_classes():
    w = deep.class_weights(100, 10)
    assert w[1] * 10 == pytest.approx(w[0] * 90)


def test_training_reduces_loss_registers_and_scores_every_smart_meter(spark, lake):
    result = deep.run(spark, lake)
    loss = result.history["loss"]
    assert len(loss) == 3 and loss[-1] < loss[0]
    assert result.model_version is not None
    client = tracking.setup(lake)
    ref = tracking.resolve(client, "DeepDAICE", "candidate")
    assert ref.version == result.model_version
    params = client.get_run(result.run_id).data.params
    assert params["data.windows.version"] == "0" and params["days"] == "14"
    # the customer's monthly inputs beside the curve (deep.monthly_features, on by default), their scaling and
    # the versions of the tables they came from
    columns = deep.monthly_columns(lake)
    assert params["monthly_inputs"] == str(len(columns)) and columns[-1] == deep.WINDOW_FLAG
    # the training_set's inspections without a window train and validate with an empty curve; never the test split
    assert 0 < int(params["n_windowless"]) <= 12
    assert params["data.training_set.version"] == "0" and params["data.monthly_features.version"] == "0"
    meta = mlflow.models.get_model_info(f"models:/DeepDAICE/{result.model_version}").metadata
    assert meta["monthly_features"] == columns and len(meta["monthly_scale"]) == len(columns)
    assert all(v > 0 for v in meta["monthly_scale"]) and meta["monthly_rule"] == deep.MONTHLY_RULE
    assert meta["monthly_missing"] == deep.MONTHLY_MISSING  # deep.monthly_missing, on by default

    out = deep_score.run(spark, lake)
    scores = spark.read.format("delta").load(lake.paths.table(schemas.SCORES))
    rows = scores.where(F.col("model_name") == "DeepDAICE").collect()
    assert out["rows"] == 6 and len(rows) == 6
    assert {r.customer_id for r in rows} == {f"C{i}" for i in range(96, 102)}
    assert sorted(r["rank"] for r in rows) == list(range(1, 7))
    assert all(0.0 <= r.score <= 1.0 and r.model_version == result.model_version for r in rows)
    assert all(r.data_versions["monthly_features"] == 0 for r in rows)
    # a rerun on the same day replaces the rows instead of adding to them
    assert deep_score.run(spark, lake)["combined"] is None  # no DAICE rows that day: nothing to combine
    assert spark.read.format("delta").load(lake.paths.table(schemas.SCORES)).count() == 6

    # with DAICE rows of the same day (customers C92..C101, C101 first) the combined ranking follows
    day = out["scored_on"]
    daice = models.rank_scores(spark.createDataFrame(
        [(f"C{i}", "NORTE", (i - 90) / 12.0) for i in range(92, 102)], "customer_id string, region string, score double"))
    models.write_scores(daice.select(
        "*", F.lit("DAICE").alias("model_name"), F.lit("7").alias("model_version"), F.lit("r").alias("run_id"),
        F.lit(day).alias("scored_on"), F.lit(day.replace(day=1)).alias("reference_month"),
        lakehouse.lineage_column({"monthly_features": 0}).alias(schemas.LINEAGE_COLUMN),
        F.when(F.col("customer_id") == "C101", F.array(F.struct(
            F.lit("peer_ratio_12").alias("feature"), F.lit(0.5).cast("float").alias("contribution"))))
        .otherwise(F.array()).cast(schemas.SCORES_SCHEMA["top_features"].dataType).alias("top_features"),
    ), lake.paths.table(schemas.SCORES), day, "DAICE")
    again = deep_score.run(spark, lake)
    assert again["combined"]["model_version"] == f"7+{result.model_version}"
    combined = (spark.read.format("delta").load(lake.paths.table(schemas.SCORES))
                .where(F.col("model_name") == lake.combine.name).toPandas().sort_values("rank"))
    assert len(combined) == 10 and combined["rank"].tolist() == list(range(1, 11))
    assert set(combined.customer_id) == {f"C{i}" for i in range(92, 102)}
    # places: DAICE's first (C101) 1/10, DeepDAICE's first 1/6, DAICE's second 2/10: each family's head in turn
    deep_top = min(rows, key=lambda r: r["rank"]).customer_id
    assert combined.customer_id.tolist()[:2] == (["C101", deep_top] if deep_top != "C101" else ["C101", "C100"])
    assert combined.score.iloc[0] == pytest.approx(11 / 12)  # DAICE's probability: DAICE placed it best
    assert [(f["feature"], f["contribution"]) for f in combined.top_features.iloc[0]] == [("peer_ratio_12", 0.5)]  # DAICE's explanation


def test_monthly_categorical_inputs_train_register_and_score(spark, tmp_path):
    """deep.monthly_categorical: region, tariff, meter type and activity as 0/1 monthly inputs, levels learned from
    the non-test inspections and kept in the model's metadata; scoring encodes monthly_features with them."""
    cfg = deep_config(tmp_path, *TINY, "deep.monthly_categorical=true", "train.categorical.min_count=1")
    write_windows(spark, cfg)
    result = deep.run(spark, cfg)
    meta = mlflow.models.get_model_info(f"models:/DeepDAICE/{result.model_version}").metadata
    vocab = meta["monthly_vocabulary"]
    assert [c["column"] for c in vocab["columns"]] == ["region", "tariff", "meter_type", "activity"]
    activity = next(c for c in vocab["columns"] if c["column"] == "activity")
    assert set(activity["levels"]) == {"household", "cold_storage"}
    encoded = [f for c in vocab["columns"] for f in [*c["features"], c["other"]]]
    numeric = deep.monthly_columns(cfg)[:-1]
    # the numeric inputs, the encoded columns, then the window flag, as the metadata names them
    assert meta["monthly_features"] == [*numeric, *encoded, deep.WINDOW_FLAG]
    assert len(meta["monthly_center"]) == len(meta["monthly_features"])
    out = deep_score.run(spark, cfg)
    assert out["rows"] == 6
    # a monthly_features table without the attributes the model learnt from: a clear error, not a wrong score
    mf_path = cfg.paths.table(schemas.MONTHLY_FEATURES)
    spark.read.format("delta").load(mf_path).drop("activity").write.format("delta").mode("overwrite") \
        .option("overwriteSchema", "true").save(mf_path)
    with pytest.raises(DataError, match="activity"):
        deep_score.run(spark, cfg)


def test_same_data_config_and_seed_give_the_same_model(spark, lake, tmp_path):
    """deep.deterministic: two trainings of the same windows agree on every epoch and every held-out score."""
    cfg = deep_config(lake.paths.root, *TINY, "deep.register=false")
    first, second = deep.run(spark, cfg), deep.run(spark, cfg)
    assert first.history == second.history and len(first.history["val_pr_auc"]) == 3
    client = tracking.setup(cfg)
    scores = [json.loads(Path(client.download_artifacts(r.run_id, "evaluation/test_scores.json", str(tmp_path / r.run_id)))
                         .read_text()) for r in (first, second)]
    assert scores[0] == scores[1] and len(scores[0]["score"]) > 0


def test_same_windows_in_another_file_layout_give_the_same_model(spark, tmp_path):
    """The training rows reach Petastorm in an order of their own (not the table's files): a windows table
    rewritten with the same rows in other files (an ingest in another order, an OPTIMIZE) trains the same model."""
    cfg = deep_config(tmp_path, *TINY, "deep.register=false", "deep.epochs=2")
    write_windows(spark, cfg, unlabelled=10)
    first = deep.run(spark, cfg)
    path = cfg.paths.table(schemas.WINDOWS)
    same = spark.read.format("delta").load(path).orderBy(F.col("customer_id").desc()).repartition(3).localCheckpoint()
    same.write.format("delta").mode("overwrite").partitionBy("purpose").save(path)
    second = deep.run(spark, cfg)
    assert first.history == second.history


def test_tuned_layer_replaces_architecture_units_and_learning_rate(lake, tmp_path):
    layer = tmp_path / "tuned_deep.yaml"
    layer.write_text(yaml.safe_dump({"deep": {"architecture": "gru", "units": 12, "learning_rate": 0.002}}))
    dc = deep.with_tuned_params(deep_config(tmp_path, f"deep.params_from={layer}").deep)
    assert (dc.architecture, dc.units, dc.learning_rate) == ("gru", 12, 0.002)
    layer.write_text(yaml.safe_dump({"deep": {"architecture": "transformer"}}))
    with pytest.raises(ConfigError, match="deep.architecture"):
        deep.with_tuned_params(deep_config(tmp_path, f"deep.params_from={layer}").deep)
    layer.write_text(yaml.safe_dump({"deep": {"epochs": 99}}))
    with pytest.raises(ConfigError, match="may set only"):
        deep.with_tuned_params(deep_config(tmp_path, f"deep.params_from={layer}").deep)
    with pytest.raises(ConfigError, match="deep.params_from.*does not exist.*tune_deep"):
        deep.with_tuned_params(deep_config(tmp_path, f"deep.params_from={tmp_path}/nope.yaml").deep)


def test_tune_deep_logs_trials_and_train_deep_picks_up_the_best(spark, lake, tmp_path):
    cfg = deep_config(lake.paths.root, *TINY, "deep.register=false", "tune_deep.trials=3", "tune_deep.epochs=2",
                      "tune_deep.startup_trials=1", "tune_deep.architectures=[cnn,gru]", "tune_deep.units=[4,8]",
                      f"tune_deep.output={tmp_path}/tuned_deep.yaml")
    out = tune_deep.run(spark, cfg)
    assert out["trials"] == 3 and out["complete"] + out["pruned"] == 3 and out["complete"] >= 1
    written = yaml.safe_load(Path(out["output"]).read_text())["deep"]
    assert written == out["best_params"] and set(written) == set(deep.TUNED_KEYS)
    assert written["architecture"] in ("cnn", "gru") and written["units"] in (4, 8)
    assert 0.0 < out["best_value"] <= 1.0

    client = tracking.setup(cfg)
    parent = client.get_run(out["run_id"])
    assert parent.data.params["data.windows.version"] == "0" and parent.data.tags["tune.best.units"] == str(written["units"])
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{out['run_id']}'")
    assert len(children) == 3 and {c.data.tags.get("tune.state") for c in children} <= {"complete", "pruned"}
    best = next(c for c in children if c.data.params["trial"] == str(parent.data.tags["tune.best.trial"]))
    assert best.data.metrics["pr_auc"] == pytest.approx(out["best_value"])
    assert {"tune/best_params.json", "tune/trials.json"} <= {a.path for a in client.list_artifacts(out["run_id"], "tune")}

    # train_deep trains with the tuned values and records them
    trained = deep.run(spark, deep_config(lake.paths.root, *TINY, "deep.register=false",
                                          f"deep.params_from={out['output']}"))
    params = client.get_run(trained.run_id).data.params
    assert (params["deep.architecture"], params["deep.units"]) == (written["architecture"], str(written["units"]))


def test_unlabelled_windows_only_train_and_weigh_less(spark, tmp_path):
    cfg = deep_config(tmp_path, *TINY, "deep.register=false", "deep.unlabelled_weight=0.25")
    write_windows(spark, cfg, unlabelled=40)
    feed = deep.prepare_feed(spark, cfg)
    try:
        assert feed.n_unlabelled == 40 and feed.n_train == sum(feed.counts["train"].values()) + 40
        labelled = spark.read.format("delta").load(cfg.paths.table(schemas.WINDOWS)).where(
            "purpose = 'train' AND inspection_id IS NOT NULL")
        # validation and test hold labelled rows only: windows, and in train and validation the inspections
        # without a window (deep.windowless_labels)
        assert len(feed.y_val) == sum(feed.counts["validation"].values())
        assert len(feed.y_val) + sum(feed.counts["test"].values()) + sum(feed.counts["train"].values()) \
            == labelled.count() + feed.n_windowless
        # balanced over weighted windows: an unlabelled window counts a quarter of a negative
        pos, neg = feed.counts["train"][1], feed.counts["train"][0] + 0.25 * 40
        assert feed.weights[1] == pytest.approx((pos + neg) / (2 * pos))
        assert feed.weights[0] == pytest.approx((pos + neg) / (2 * neg))
        seen = {}
        with deep.petastorm_dataset(feed.converters["train"], feed.shape, 256, epochs=1, workers=1, shuffle=False,
                                    class_weight=feed.weights) as ds:
            for _, y, w in ds:
                for label, weight in zip(y.numpy().ravel(), w.numpy(), strict=True):
                    seen.setdefault(round(float(weight), 5), set()).add(int(label))
        assert set(seen) == {round(feed.weights[1], 5), round(feed.weights[0], 5), round(0.25 * feed.weights[0], 5)}
        model = deep.build_model(feed.shape, cfg.deep)
        history = deep.fit(model, feed, cfg.deep)
        assert len(history["loss"]) == 3 and all(math.isfinite(v) for v in history["loss"])
    finally:
        feed.delete()
