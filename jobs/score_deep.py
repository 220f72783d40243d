"""spark-submit entry point: score_deep. See ntl_spark/deep_score.py."""

from __future__ import annotations

import sys

from ntl_spark import deep_score
from ntl_spark.cli import run_job

DESCRIPTION = "Score every smart-meter customer with a registered DeepDAICE model (mapInArrow, model loaded once per worker) into the scores Delta table."


def main(argv: list[str] | None = None) -> int:
    return run_job("score_deep", DESCRIPTION, deep_score.run, argv)


if __name__ == "__main__":
    sys.exit(main())
