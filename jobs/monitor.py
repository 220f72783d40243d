"""spark-submit entry point: monitor. See ntl_spark/monitor.py.

Exit codes: 0 nothing to do, 10 retraining advised (rows in the monitoring
table say why), 2 configuration or missing input, 3 bad data, 1 failure.
"""

from __future__ import annotations

import sys

from ntl_spark import monitor
from ntl_spark.cli import run_job

DESCRIPTION = (
    "Check the champion: feature drift on the scored month, score drift, field hit rate and lift over the control "
    "arm, new labels since its training; append the checks to the monitoring table. Exit 10 when retraining is "
    "advised, 0 when there is nothing to do."
)


def main(argv: list[str] | None = None) -> int:
    return run_job("monitor", DESCRIPTION, monitor.run, argv, result_code=monitor.verdict_code)


if __name__ == "__main__":
    sys.exit(main())
