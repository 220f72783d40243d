"""DAICE_train_eval: train the DAICE challenger, then the model gate (train -> validate_model).

``train`` registers a new version under the challenger alias; ``validate_model``
compares it with the champion on the held-out customers and moves the
champion alias only when the blessing policy accepts it (a refusal is not a
failure: the champion stays). Monthly, on the 3rd at 03:00, for the month
before.
"""

from __future__ import annotations

from airflow.sdk import dag
from ntl_airflow import dag_kwargs, month_keys, spark_job


@dag(**dag_kwargs("DAICE_train_eval", "0 3 3 * *", __doc__, tags=["ntl-spark", "daice"]))
def daice_train_eval():
    month_keys() >> spark_job("train") >> spark_job("validate_model")


daice_train_eval()
