"""DeepDAICE: Petastorm feed, training, registry and distributed scoring on tiny windows."""

from __future__ import annotations

import numpy as np
import pytest
from deep_helpers import deep_config, write_windows
from pyspark.sql import functions as F

from ntl_spark import deep, deep_score, schemas, tracking

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


@pytest.mark.parametrize("architecture", ["gru", "conv1d"])
def test_alternative_architectures_build(architecture):
    cfg = deep_config("/tmp", f"deep.architecture={architecture}", "deep.units=4")
    model = deep.build_model(deep.Shape(14, 24, schemas.EVENT_CODES), cfg.deep)
    out = model.predict_on_batch(np.zeros((2, 14, 29), dtype=np.float32))
    assert out.shape == (2, 1)


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

    out = deep_score.run(spark, lake)
    scores = spark.read.format("delta").load(lake.paths.table(schemas.SCORES))
    rows = scores.where(F.col("model_name") == "DeepDAICE").collect()
    assert out["rows"] == 6 and len(rows) == 6
    assert {r.customer_id for r in rows} == {f"C{i}" for i in range(96, 102)}
    assert sorted(r["rank"] for r in rows) == list(range(1, 7))
    assert all(0.0 <= r.score <= 1.0 and r.model_version == result.model_version for r in rows)
    # a rerun on the same day replaces the rows instead of adding to them
    deep_score.run(spark, lake)
    assert spark.read.format("delta").load(lake.paths.table(schemas.SCORES)).count() == 6
