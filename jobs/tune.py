"""spark-submit entry point: tune. See ntl_spark/tune.py."""

from __future__ import annotations

import sys

from ntl_spark import tune
from ntl_spark.cli import run_job

DESCRIPTION = ("Search XGBoost parameters for DAICE with Optuna (TPE, pruning), each trial an MLflow child run; "
               "write the best to a YAML file that train reads with train.params_from.")


def main(argv: list[str] | None = None) -> int:
    return run_job("tune", DESCRIPTION, tune.run, argv)


if __name__ == "__main__":
    sys.exit(main())
