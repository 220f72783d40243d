"""Shared tail of the benchmark scripts: print a results section and append it to RESULTS.md."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def publish(text: str, dry: bool) -> None:
    """Print ``text`` (a Markdown section) and, unless ``dry``, append it to ``benchmarks/RESULTS.md``."""
    text = text.rstrip("\n") + "\n"
    print(text)
    if not dry:
        with open(RESULTS, "a") as fh:
            fh.write(text)


def job_env(argv: Sequence[str] | None = None) -> None:
    """Give this process the jobs' environment (``spark.env``, e.g. ``OMP_WAIT_POLICY``) the way a job gets it.

    Call before numpy/xgboost load OpenMP: the native baselines then run under
    the same settings as the Spark side, whose session sets them again
    (``ntl_spark.session.build_session``). ``--set spark.env.NAME=value`` in
    ``argv`` (default ``sys.argv``) is taken into account.
    """
    from ntl_spark.config import load_config
    from ntl_spark.session import apply_driver_env

    args = list(sys.argv[1:] if argv is None else argv)
    overrides = [v for flag, v in zip(args, args[1:], strict=False) if flag == "--set"]
    overrides += [a.split("=", 1)[1] for a in args if a.startswith("--set=")]
    apply_driver_env(load_config("local", [o for o in overrides if o.startswith("spark.env.")]))
