"""DeepDAICE: 15-minute windows -> train the LSTM -> score with it (windows -> train_deep -> score_deep).

Builds the windows ending on the month's last day, trains a DeepDAICE
challenger and scores with the DeepDAICE model into the same ``scores`` table
(docs/deepdaice.md). The network also reads the month's ``monthly_features``
and ``training_set`` (``deep.monthly_features``), which ``data_management``
builds on the 2nd. Monthly, on the 3rd at 03:00, for the month before.
"""

from __future__ import annotations

from airflow.sdk import dag
from ntl_airflow import dag_kwargs, month_keys, spark_job


@dag(**dag_kwargs("DeepDAICE", "0 3 3 * *", __doc__, tags=["ntl-spark", "deepdaice"]))
def deep_daice():
    month_keys() >> spark_job("windows") >> spark_job("train_deep") >> spark_job("score_deep")


deep_daice()
