"""Shared entry-point plumbing for ``jobs/*.py``.

A job parses ``--env`` and ``--set key=value`` (plus ``--help``), loads and
validates the configuration before any Spark start, builds the session when
the stage needs one, calls the stage's ``run`` and returns an exit code:
0 success, 2 bad configuration or arguments, 3 bad input data, 1 anything else;
a stage may map its result to another code (the monitor's 10, retrain advised).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from ntl_spark.config import load_config
from ntl_spark.errors import (
    EXIT_BUSY,
    EXIT_CONFIG,
    EXIT_DATA,
    EXIT_FAILURE,
    BusyError,
    ConfigError,
    DataError,
    MissingInputError,
    StageFailed,
)

log = logging.getLogger("ntl_spark")


def parse_args(job: str, description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"spark-submit.sh {job}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Configuration: conf/base.yaml + conf/<env>.yaml + --set overrides (e.g. --set train.seed=3).",
    )
    parser.add_argument("--env", default=None, help="configuration layer in conf/ (default: $NTL_ENV or local)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one configuration key (repeatable), e.g. --set generate.customers=20000",
    )
    return parser.parse_args(argv)


def failure(e: BaseException) -> tuple[int, str]:
    """The exit code and the message for an exception that ended a stage.

    Only the library's own errors (``ntl_spark.errors``) mean configuration (2),
    busy (75) or bad input (3); anything else is a bug or an outage: exit 1
    with the traceback.
    """
    if isinstance(e, StageFailed):
        return e.code, str(e)
    if isinstance(e, ConfigError):
        return EXIT_CONFIG, f"configuration error: {e}"
    if isinstance(e, MissingInputError):
        return EXIT_CONFIG, f"missing input: {e}"
    if isinstance(e, DataError):
        return EXIT_DATA, f"bad input: {e}"
    if isinstance(e, BusyError):
        return EXIT_BUSY, f"busy: {e}"
    return EXIT_FAILURE, "failed:\n" + "".join(traceback.format_exception(type(e), e, e.__traceback__))


def run_job(
    job: str,
    description: str,
    stage: Callable[..., Any],
    argv: Sequence[str] | None = None,
    needs_spark: bool = True,
    result_code: Callable[[Any], int] | None = None,
) -> int:
    """Run one stage as a job and map failures to exit codes.

    Args:
        job: job name (file name in ``jobs/``).
        description: one paragraph shown by ``--help``.
        stage: ``run(spark, cfg)`` (or ``run(cfg)`` when ``needs_spark`` is false).
        argv: arguments (defaults to ``sys.argv[1:]``).
        needs_spark: whether to build a SparkSession first.
        result_code: the exit code of a stage that ended normally, from its
            result (the monitor's 10 = retrain advised); None = 0.

    Returns:
        Process exit code.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "alembic", "urllib3", "mlflow.store", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = parse_args(job, description, argv)
    try:
        cfg = load_config(args.env, args.overrides)
    except ConfigError as e:
        print(f"[{job}] configuration error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    from ntl_spark.session import apply_driver_env

    # spark.env before any stage loads a native library, for jobs without Spark too
    apply_driver_env(cfg)
    started = time.time()
    spark = None
    result: Any = None
    try:
        if needs_spark:
            from pyspark.sql import SparkSession

            from ntl_spark.session import build_session

            # A session that already runs (a notebook, a test) belongs to its owner: use it, leave it running.
            owned = SparkSession.getActiveSession() is None
            session = build_session(cfg, app_name=f"ntl-{job}")
            spark = session if owned else None
            result = stage(session, cfg)
        else:
            result = stage(cfg)
    except Exception as e:
        code, message = failure(e)
        print(f"[{job}] {message}", file=sys.stderr)
        return code
    finally:
        if spark is not None:
            spark.stop()
    log.info("%s finished in %.1f s", job, time.time() - started)
    return result_code(result) if result_code is not None else 0

