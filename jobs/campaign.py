"""spark-submit entry point: campaign. See ntl_spark/campaign.py."""

from __future__ import annotations

import sys

from ntl_spark import campaign
from ntl_spark.cli import run_job

DESCRIPTION = (
    "Build a campaign of inspection requests from the champion's scores of a day (campaign.model_ref names another "
    "version): region budgets, exclusions, a random control arm; write the campaigns Delta and Hive tables, an Excel "
    "workbook and, with campaign.jdbc_table, the requests in the relational database."
)


def main(argv: list[str] | None = None) -> int:
    return run_job("campaign", DESCRIPTION, campaign.run, argv)


if __name__ == "__main__":
    sys.exit(main())
