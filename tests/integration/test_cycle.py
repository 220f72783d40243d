"""The monthly cycle: stages in order, the month's keys, first failure stops it, lock, resume."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from ntl_spark import cycle, generate, lakehouse
from ntl_spark.errors import BusyError, ConfigError, StageFailed
from tests.conftest import make_config

pytestmark = pytest.mark.integration


def test_month_keys_and_plan(tmp_path):
    cfg = make_config(tmp_path, "cycle.month=2026-09-01")
    month = cycle.month_of(cfg)
    assert month == dt.date(2026, 9, 1)
    assert cycle.month_overrides(cfg, month) == [
        "ingest.period_start=2026-09-01", "ingest.period_end=2026-09-30", "features.reference_month=2026-09-01",
        "windows.scoring_end=2026-09-30", "score.scored_on=2026-10-01"]
    assert cycle.month_of(make_config(tmp_path), dt.date(2026, 1, 15)) == dt.date(2025, 12, 1)
    assert cycle.plan(cfg) == ["ingest", "features", "validate_data", "train", "validate_model", "score", "publish",
                              "campaign", "outcomes", "field_report", "monitor"]
    deep = make_config(tmp_path, "deep.enabled=true", "cycle.from_stage=train_deep")
    assert cycle.plan(deep) == ["train_deep", "score_deep", "publish", "campaign", "outcomes", "field_report", "monitor"]
    with pytest.raises(ConfigError, match="cycle.from_stage"):
        cycle.plan(make_config(tmp_path, "cycle.from_stage=windows"))


def test_lock_refuses_a_second_cycle(tmp_path):
    path = tmp_path / "cycle.lock"
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with cycle.cycle_lock(path):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert inside.wait(10)
        with pytest.raises(BusyError, match="another cycle holds the lock"), cycle.cycle_lock(path):
            pass
    finally:
        release.set()
        t.join()
    with cycle.cycle_lock(path):  # free again
        pass


def test_cycle_runs_stops_at_the_failing_stage_and_resumes(spark, tmp_path):
    root = tmp_path / "lake"
    # its own Hive database: the test session's metastore also holds the pipeline test's ntl.scores
    base = ("cycle.month=2026-09-01", "cycle.ingest=all", "score.model_ref=candidate", "publish.database=ntl_cycle",
            # without the gates and the field loop (they have tests of their own)
            "cycle.stages=[ingest,features,train,score,publish]")
    generate.run(make_config(root, *base))
    # a first load of the whole source
    first = make_config(root, *base)
    out = cycle.run(first)
    assert out["stages"] == ["ingest", "features", "train", "score", "publish"]
    assert out["score"]["rows"] > 0 and out["score"]["scored_on"] == dt.date(2026, 10, 1)
    log = lakehouse.read_pinned(spark, first.paths.table(cycle.CYCLE_LOG), cycle.CYCLE_LOG, "cycle").df.toPandas()
    assert list(log.sort_values("finished_at").stage) == out["stages"] and set(log.status) == {"done"}

    # a failing stage stops the cycle with its exit code and name; later stages do not run
    broken = make_config(root, *base, "cycle.from_stage=score", "score.model_ref=99")
    with pytest.raises(StageFailed) as failed:
        cycle.run(broken)
    assert failed.value.stage == "score" and failed.value.code == 2
    assert "cycle.from_stage=score" in str(failed.value)
    log = lakehouse.read_pinned(spark, first.paths.table(cycle.CYCLE_LOG), cycle.CYCLE_LOG, "cycle").df.toPandas()
    assert list(log[log.status == "failed"].stage) == ["score"]
    assert "publish" not in set(log[log.cycle_id == log[log.status == "failed"].cycle_id.iloc[0]].stage)

    # resume from the failed stage once fixed
    resumed = cycle.run(make_config(root, *base, "cycle.from_stage=score"))
    assert resumed["stages"] == ["score", "publish"]

    # publishing the same Hive table from another location is refused before anything is written
    from ntl_spark import publish

    with pytest.raises(ConfigError, match="ntl_cycle.scores is registered at"):
        publish.run(spark, make_config(tmp_path / "elsewhere", "publish.database=ntl_cycle"))
