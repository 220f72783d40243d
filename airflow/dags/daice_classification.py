"""DAICE_classification: rank the customers with the champion and publish (score -> publish).

``score`` scores the month's features with the DAICE champion (never a
refused challenger) into the ``scores`` Delta table for ``score.scored_on``
(the first day after the month); ``publish`` writes those rows to the
Parquet table for Hive/Impala. Monthly, on the 4th at 03:00, for the month
before.
"""

from __future__ import annotations

from airflow.sdk import dag
from ntl_airflow import dag_kwargs, month_keys, spark_job


@dag(**dag_kwargs("DAICE_classification", "0 3 4 * *", __doc__, tags=["ntl-spark", "daice"]))
def daice_classification():
    month_keys() >> spark_job("score") >> spark_job("publish")


daice_classification()
