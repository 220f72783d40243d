"""spark-submit entry point: simulate. See ntl_spark/simulate.py."""

from __future__ import annotations

import sys

from ntl_spark import simulate
from ntl_spark.cli import run_job

DESCRIPTION = (
    "Closed-loop simulation on the synthetic utility: for the last simulate.months months, score -> campaign -> the "
    "generator's field teams answer each request from the truth -> outcomes -> monitor -> retrain when advised; "
    "writes months.json and hit-rate / recovered-kWh plots per arm under <paths.reports>/<simulate.report_dir>."
)


def main(argv: list[str] | None = None) -> int:
    return run_job("simulate", DESCRIPTION, simulate.run, argv, needs_spark=False)


if __name__ == "__main__":
    sys.exit(main())
