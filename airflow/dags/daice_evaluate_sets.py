"""DAICE_evaluate_sets: metrics of the DAICE challenger per region, tariff and meter type.

Runs the ``evaluate_sets`` job (``validation.segments``; param ``sets`` can
point it at another model, e.g. ``validation.segments.model_ref=champion``).
Monthly, on the 3rd at 09:00, after DAICE_train_eval.
"""

from __future__ import annotations

from airflow.sdk import dag
from ntl_airflow import dag_kwargs, month_keys, spark_job


@dag(**dag_kwargs("DAICE_evaluate_sets", "0 9 3 * *", __doc__, tags=["ntl-spark", "daice"]))
def daice_evaluate_sets():
    month_keys() >> spark_job("evaluate_sets")


daice_evaluate_sets()
