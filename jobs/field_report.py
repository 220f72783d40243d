"""spark-submit entry point: field_report. See ntl_spark/field_report.py."""

from __future__ import annotations

import sys

from ntl_spark import field_report
from ntl_spark.cli import run_job

DESCRIPTION = (
    "Hit rates per month, model version, arm and region with Wilson 95% intervals, the model arm lift over the control arm, recovered kWh per inspection and no-access share: field_stats Delta table, HTML report with plots, figures logged to MLflow per model version."
)


def main(argv: list[str] | None = None) -> int:
    return run_job("field_report", DESCRIPTION, field_report.run, argv)


if __name__ == "__main__":
    sys.exit(main())
