"""spark-submit entry point: demo. See ntl_spark/demo.py."""

from __future__ import annotations

import sys

from ntl_spark import demo
from ntl_spark.cli import run_job

DESCRIPTION = "Generate a small synthetic utility and run generate -> ingest -> features -> train -> score -> publish end to end."


def main(argv: list[str] | None = None) -> int:
    # The demo starts its own session after generating the files.
    return run_job("demo", DESCRIPTION, demo.run, argv, needs_spark=False)


if __name__ == "__main__":
    sys.exit(main())
