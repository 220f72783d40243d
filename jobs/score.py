"""spark-submit entry point: score. See ntl_spark/score.py."""

from __future__ import annotations

import sys

from ntl_spark import score
from ntl_spark.cli import run_job

DESCRIPTION = "Score every active customer with the champion (alias model.champion; score.model_ref names another version or alias for a manual run), rank them and write the scores Delta table."


def main(argv: list[str] | None = None) -> int:
    return run_job("score", DESCRIPTION, score.run, argv)


if __name__ == "__main__":
    sys.exit(main())
