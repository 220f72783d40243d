"""spark-submit entry point: compare_runs. See ntl_spark/validate/runs.py."""

from __future__ import annotations

import sys

from ntl_spark.cli import run_job
from ntl_spark.validate import runs

DESCRIPTION = (
    "Plot the PR and ROC curves of several training runs on one figure from their MLflow records "
    "(validation.compare_runs run ids, or the last validation.compare_last runs) with a table of their metrics."
)


def main(argv: list[str] | None = None) -> int:
    return run_job("compare_runs", DESCRIPTION, runs.run, argv, needs_spark=False)


if __name__ == "__main__":
    sys.exit(main())
