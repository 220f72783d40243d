"""spark-submit entry point: windows. See ntl_spark/windows.py."""

from __future__ import annotations

import sys

from ntl_spark import windows
from ntl_spark.cli import run_job

DESCRIPTION = "Build DeepDAICE input windows (days x intervals kWh + alarm channels, imputed, normalised) for training (one per inspection, point-in-time) and scoring, into the windows Delta table."


def main(argv: list[str] | None = None) -> int:
    return run_job("windows", DESCRIPTION, windows.run, argv)


if __name__ == "__main__":
    sys.exit(main())
