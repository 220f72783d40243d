"""data_management: the month's data, ingest -> features -> validate_data [-> windows].

Ingests the billing month's period (param ``ingest_all`` for a first load of
the whole source), builds the month's features, then runs the data gate on
them (it checks ``monthly_features`` and ``training_set`` too, so it follows
``features``, as in the cycle and the Oozie workflow). With param ``deep``
the DeepDAICE windows ending on the month's last day are built as well.
Monthly, on the 2nd at 03:00 (America/Montevideo), for the month before.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from ntl_airflow import dag_kwargs, month_keys, params, spark_job


@dag(**dag_kwargs("data_management", "0 3 2 * *", __doc__, tags=["ntl-spark", "data"],
                  params=params(deep=Param(False, type="boolean", description="also build the DeepDAICE windows"))))
def data_management():
    @task.short_circuit(retries=0)
    def deep_enabled(params=None) -> bool:
        """Skip the windows unless the run asks for them (param deep)."""
        return bool((params or {}).get("deep"))

    validated = month_keys() >> spark_job("ingest") >> spark_job("features") >> spark_job("validate_data")
    validated >> deep_enabled() >> spark_job("windows")


data_management()
