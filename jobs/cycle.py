"""spark-submit entry point: cycle. See ntl_spark/cycle.py."""

from __future__ import annotations

import sys

from ntl_spark import cycle
from ntl_spark.cli import run_job

DESCRIPTION = ("The monthly cycle for one billing month (cycle.month): ingest -> features -> data gate -> train -> "
               "model gate -> score -> publish (+ DeepDAICE with deep.enabled) -> campaign -> outcomes -> field_report -> "
               "monitor (exit 10 when it advises retraining); stops at the first failing stage "
               "with its exit code, holds a lock, resumes with cycle.from_stage.")


def main(argv: list[str] | None = None) -> int:
    # The cycle takes its lock before it starts Spark (it builds the session itself), and
    # runs under spark-submit like every Spark job, so the session gets the cluster's options.
    session_by_stage = False
    return run_job("cycle", DESCRIPTION, cycle.run, argv, needs_spark=session_by_stage, result_code=cycle.exit_code)


if __name__ == "__main__":
    sys.exit(main())
