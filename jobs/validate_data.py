"""spark-submit entry point: validate_data. See ntl_spark/validate/data.py."""

from __future__ import annotations

import sys

from ntl_spark.cli import run_job
from ntl_spark.validate import data

DESCRIPTION = "Data gate: statistics of every table (kept per run in data_stats; readings only for the days changed since the previous run), consistency rules with warn/block levels, PSI drift of the model inputs (training vs validation vs scoring month); writes an HTML report, logs it to MLflow, stops on a blocking finding."


def main(argv: list[str] | None = None) -> int:
    return run_job("validate_data", DESCRIPTION, data.run, argv)


if __name__ == "__main__":
    sys.exit(main())
