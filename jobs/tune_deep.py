"""spark-submit entry point: tune_deep. See ntl_spark/tune_deep.py."""

from __future__ import annotations

import sys

from ntl_spark import tune_deep
from ntl_spark.cli import run_job

DESCRIPTION = ("Search DeepDAICE's architecture, units and learning rate with Optuna (TPE, pruning), each trial an "
               "MLflow child run; write the best to a YAML file that train_deep reads with deep.params_from.")


def main(argv: list[str] | None = None) -> int:
    return run_job("tune_deep", DESCRIPTION, tune_deep.run, argv)


if __name__ == "__main__":
    sys.exit(main())
