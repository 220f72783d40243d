"""spark-submit entry point: evaluate_sets. See ntl_spark/validate/segments.py."""

from __future__ import annotations

import sys

from ntl_spark.cli import run_job
from ntl_spark.validate import segments

DESCRIPTION = "Evaluate a registered model (validation.segments.model_ref; empty = the challenger) per segment (regions, tariffs, meter types) of the labelled data and log a table of metrics."


def main(argv: list[str] | None = None) -> int:
    return run_job("evaluate_sets", DESCRIPTION, segments.run, argv)


if __name__ == "__main__":
    sys.exit(main())
