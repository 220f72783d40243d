"""Exit codes: only the library's own errors mean "configuration" (2) or "bad input" (3)."""

from __future__ import annotations

import pytest

from ntl_spark.cli import run_job
from ntl_spark.config import Config
from ntl_spark.errors import BusyError, ConfigError, DataError, MissingInputError, StageFailed


def _stage(exc: BaseException | None):
    def stage(cfg: Config) -> None:
        assert isinstance(cfg, Config)
        if exc is not None:
            raise exc

    return stage


@pytest.mark.parametrize(
    ("exc", "code", "label"),
    [
        (None, 0, None),
        (ConfigError("config key 'x.y': bad"), 2, "configuration error"),
        (MissingInputError("no bills Delta table: run the ingest job first"), 2, "missing input"),
        (DataError("bills: column 'kwh' ..."), 3, "bad input"),
        (BusyError("another cycle holds the lock"), 75, "busy"),
        (StageFailed("score", 3, "bad input: scores"), 3, "stage score failed"),
        # a bug is not bad data: exit 1 with the traceback
        (TypeError("unsupported operand"), 1, "Traceback"),
        (ValueError("could not convert"), 1, "Traceback"),
        (FileNotFoundError("/tmp/x"), 1, "Traceback"),
        (KeyError("region"), 1, "Traceback"),
    ],
)
def test_exit_codes(exc, code, label, capsys):
    assert run_job("t", "test", _stage(exc), ["--env", "test"], needs_spark=False) == code
    err = capsys.readouterr().err
    if label is None:
        assert err == ""
    else:
        assert label in err
        assert str(exc.args[0]).split(" (")[0] in err


def test_bad_override_is_a_configuration_error_before_any_work(capsys):
    called = []
    code = run_job("t", "test", lambda cfg: called.append(cfg), ["--env", "test", "--set", "train.seed=x"],
                   needs_spark=False)
    assert code == 2 and not called
    assert "train.seed" in capsys.readouterr().err


def _threads(spark) -> list:
    return [t for t in spark.sparkContext._jvm.java.lang.Thread.getAllStackTraces().keySet().toArray() if t.isAlive()]


def test_barrier_timer_is_a_daemon_so_the_driver_jvm_can_exit(spark):
    from pyspark import BarrierTaskContext

    from ntl_spark.session import daemon_barrier_timer

    def sync(rows):
        BarrierTaskContext.get().barrier()
        return rows

    def barrier_stage() -> int:
        return spark.sparkContext.parallelize(range(4), 2).barrier().mapPartitions(sync).count()

    # a barrier stage, as xgboost.spark runs; the session (build_session) made its timer a daemon
    assert barrier_stage() == 4
    timers = [t for t in _threads(spark) if t.getName().startswith("Barrier task timer")]
    assert timers and all(t.isDaemon() for t in timers)
    # replacing it again is harmless and barrier stages keep working
    assert daemon_barrier_timer(spark)
    assert barrier_stage() == 4
    assert all(t.isDaemon() for t in _threads(spark) if t.getName().startswith("Barrier task timer"))
