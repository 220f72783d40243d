"""ntl_monthly_cycle: the whole month in one task, the ``cycle`` job.

ingest -> features -> validate_data -> train -> validate_model -> score
[-> windows -> train_deep -> score_deep] -> publish, in one process with its
lock, ``cycle_log`` rows and resume (docs/operations.md). The month's keys are
the same as the stage DAGs' and ``cycle.month`` is the run's month (``cycle.ingest=all``
with param ``ingest_all``). A
failed stage fails the task with that stage's exit code (2 and 3 without
retries); exit 75 (another cycle holds the lock) is retried. To resume after
a fix, trigger with param ``sets`` = ``["cycle.from_stage=<stage>"]``.
Enable either this DAG or the stage DAGs, not both. Monthly, on the 2nd at
03:00, for the month before.
"""

from __future__ import annotations

from airflow.sdk import dag
from ntl_airflow import dag_kwargs, month_keys, spark_job


@dag(**dag_kwargs("ntl_monthly_cycle", "0 3 2 * *", __doc__, tags=["ntl-spark", "cycle"]))
def ntl_monthly_cycle():
    month_keys() >> spark_job("cycle")


ntl_monthly_cycle()
