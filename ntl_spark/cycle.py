"""The monthly cycle: one billing month through every stage, in order, as a scheduler runs it.

ingest (the month's period) -> features -> data gate -> train -> model gate ->
score -> [windows -> train_deep -> score_deep] -> publish, the bracketed
stages with ``deep.enabled`` (the order of ``oozie/workflow.xml``), then the
field loop: campaign -> outcomes -> field_report -> monitor
(docs/field-loop.md). When the monitor advises retraining, the cycle records
it (status ``retrain_advised``) and ends with exit code 10
(:data:`ntl_spark.errors.EXIT_RETRAIN`); otherwise 0.

Each stage runs exactly as its job does alone: the cycle only derives the
month's keys (below) and prints, for every stage, the ``./spark-submit.sh``
command that does the same. It stops at the first failing stage with that
stage's exit code and name, refuses to start while another cycle holds its
lock (exit 75), resumes from a named stage (``cycle.from_stage``), and appends
one row per stage to the ``cycle_log`` Delta table.

For month M (``cycle.month``, default the month before today):

==========================  ==========================================
``ingest.period_start/end``  first and last day of M (``cycle.ingest: all`` = the whole source)
``features.reference_month``  M
``windows.scoring_end``       last day of M
``score.scored_on``           first day of M + 1
==========================  ==========================================
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from ntl_spark import lakehouse
from ntl_spark.config import Config, apply_overrides
from ntl_spark.errors import EXIT_OK, EXIT_RETRAIN, BusyError, ConfigError, StageFailed

log = logging.getLogger(__name__)

CYCLE_LOG = "cycle_log"
CYCLE_LOG_SCHEMA = T.StructType([
    T.StructField("cycle_id", T.StringType(), False),
    T.StructField("month", T.DateType(), False),
    T.StructField("stage", T.StringType(), False),
    T.StructField("status", T.StringType(), False),  # done, failed, skipped, retrain_advised (monitor)
    T.StructField("exit_code", T.IntegerType(), False),
    T.StructField("seconds", T.DoubleType(), False),
    T.StructField("message", T.StringType(), True),
    T.StructField("finished_at", T.TimestampType(), False),
])

STAGES = ("ingest", "features", "validate_data", "train", "validate_model", "score", "windows", "train_deep",
          "score_deep", "publish", "campaign", "outcomes", "field_report", "monitor")
DEEP_STAGES = ("windows", "train_deep", "score_deep")


def exit_code(result: dict[str, Any]) -> int:
    """The cycle job's exit code when every stage ran: 10 when its monitor advised retraining, else 0."""
    return int(result.get("exit_code", EXIT_OK))


def month_of(cfg: Config, today: dt.date | None = None) -> dt.date:
    """The billing month the cycle runs (``cycle.month``, else the month before ``today``)."""
    if cfg.cycle.month:
        return dt.date.fromisoformat(cfg.cycle.month)
    first = (today or dt.date.today()).replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)


def _next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_overrides(cfg: Config, month: dt.date) -> list[str]:
    """The ``--set`` overrides that make every stage work on ``month`` (see the module docstring)."""
    last = _next_month(month) - dt.timedelta(days=1)
    out = []
    if cfg.cycle.ingest == "period":
        out += [f"ingest.period_start={month.isoformat()}", f"ingest.period_end={last.isoformat()}"]
    out += [
        f"features.reference_month={month.isoformat()}",
        f"windows.scoring_end={last.isoformat()}",
        f"score.scored_on={_next_month(month).isoformat()}",
    ]
    return out


def plan(cfg: Config) -> list[str]:
    """The stages this cycle runs, in order (deep stages only with ``deep.enabled``; from ``cycle.from_stage``)."""
    stages = [s for s in STAGES if s in cfg.cycle.stages and (cfg.deep.enabled or s not in DEEP_STAGES)]
    if cfg.cycle.from_stage:
        if cfg.cycle.from_stage not in stages:
            raise ConfigError(f"config key 'cycle.from_stage': {cfg.cycle.from_stage!r} is not a stage of this "
                              f"cycle ({stages})")
        stages = stages[stages.index(cfg.cycle.from_stage):]
    return stages


def stage_module(name: str) -> Any:
    """The module whose ``run(spark, cfg)`` is the stage (the same one ``jobs/<name>.py`` runs)."""
    import importlib

    modules = {"train_deep": "ntl_spark.deep", "score_deep": "ntl_spark.deep_score",
               "validate_data": "ntl_spark.validate.data", "validate_model": "ntl_spark.validate.model"}
    return importlib.import_module(modules.get(name, f"ntl_spark.{name}"))


@contextmanager
def cycle_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block.

    Raises:
        BusyError: another process holds it (names the holder's pid when it wrote one).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise BusyError(f"another cycle holds the lock {path} (pid {holder}); "
                            f"it runs until its last stage or exits") from e
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def lock_path(cfg: Config) -> Path:
    """Where the cycle's lock lives (``cycle.lock``; default under a local ``paths.root``)."""
    if cfg.cycle.lock:
        return Path(cfg.cycle.lock)
    if "://" in cfg.paths.root_uri and not cfg.paths.root_uri.startswith("file://"):
        raise ConfigError("config key 'cycle.lock': set a local lock file when paths.root is not local")
    return Path(cfg.paths.root_uri.removeprefix("file://")) / "cycle.lock"


def _record(spark: SparkSession, cfg: Config, cycle_id: str, month: dt.date, stage: str, status: str,
            code: int, seconds: float, message: str | None) -> None:
    row = (cycle_id, month, stage, status, code, round(seconds, 3), message, dt.datetime.now().replace(microsecond=0))
    lakehouse.write(spark.createDataFrame([row], CYCLE_LOG_SCHEMA), cfg.paths.table(CYCLE_LOG), CYCLE_LOG,
                    mode="append", schema=CYCLE_LOG_SCHEMA)


def run(cfg: Config) -> dict[str, Any]:
    """Run the monthly cycle (the ``cycle`` job).

    Returns:
        The month, the stages run and each stage's result.

    Raises:
        BusyError: another cycle holds the lock.
        StageFailed: a stage failed; carries its exit code.
    """
    from ntl_spark.cli import failure
    from ntl_spark.session import build_session

    month = month_of(cfg)
    overrides = month_overrides(cfg, month)
    stage_cfg = apply_overrides(cfg, overrides)
    stages = plan(cfg)
    cycle_id = uuid.uuid4().hex[:12]
    sets = " ".join(f"--set {o}" for o in overrides)
    print(f"cycle {cycle_id}: month {month:%Y-%m}, stages {' -> '.join(stages)}")
    print(f"  each stage is the same as: ./spark-submit.sh <stage> --env {cfg.env} {sets}")
    out: dict[str, Any] = {"month": month, "cycle_id": cycle_id, "stages": stages}
    with cycle_lock(lock_path(cfg)):
        owned = SparkSession.getActiveSession() is None
        spark = build_session(stage_cfg, app_name="ntl-cycle")
        try:
            for name in stages:
                started = time.time()
                try:
                    out[name] = stage_module(name).run(spark, stage_cfg)
                except Exception as e:
                    code, message = failure(e)
                    print(f"[cycle] stage {name} failed (exit {code}): {message}")
                    _record(spark, stage_cfg, cycle_id, month, name, "failed", code, time.time() - started,
                            message[:4000])
                    resume = f"--set cycle.from_stage={name}"
                    raise StageFailed(name, code, f"{message}\n(fix it, then resume with: ./spark-submit.sh "
                                      f"cycle --env {cfg.env} --set cycle.month={month.isoformat()} {resume})") from e
                took = time.time() - started
                if name == "monitor" and out[name].get("retrain"):
                    out["exit_code"] = EXIT_RETRAIN
                    _record(spark, stage_cfg, cycle_id, month, name, "retrain_advised", EXIT_RETRAIN, took,
                            "; ".join(out[name]["reasons"])[:4000])
                    print(f"[cycle] {name} done in {took:.0f} s: retraining advised (exit {EXIT_RETRAIN})")
                    continue
                _record(spark, stage_cfg, cycle_id, month, name, "done", 0, took, None)
                print(f"[cycle] {name} done in {took:.0f} s")
        finally:
            if owned:
                spark.stop()
    return out
