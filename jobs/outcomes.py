"""spark-submit entry point: outcomes. See ntl_spark/outcomes.py."""

from __future__ import annotations

import sys

from ntl_spark import outcomes
from ntl_spark.cli import run_job

DESCRIPTION = (
    "Join ingested inspections to the campaign requests that asked for them (campaign id, else customer and a date window) and rebuild the outcomes Delta table; inspections outside any campaign are kept as unsolicited."
)


def main(argv: list[str] | None = None) -> int:
    return run_job("outcomes", DESCRIPTION, outcomes.run, argv)


if __name__ == "__main__":
    sys.exit(main())
