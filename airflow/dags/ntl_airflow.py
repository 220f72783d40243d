"""What the ntl-spark DAGs share: the month's keys, the job task, retries, the failure callback.

Every task runs one job of the repository the way cron or an operator does,
``./spark-submit.sh <job> --env <env> --set key=value ...`` from the
repository's root, so the DAGs need no ntl_spark package in Airflow's own
environment. Which repository, environment and extra keys:

- the repository: Airflow Variable ``ntl_spark_repo``, else the environment
  variable ``NTL_SPARK_REPO`` of the worker, else the checkout this file is in
  (``airflow/dags/..``);
- the configuration layer: param ``env`` (default ``local``; ``prod`` on the
  cluster), else Variable ``ntl_spark_env``;
- extra ``--set`` keys for every job of the site (e.g. ``paths.root``):
  Variable ``ntl_spark_sets``, whitespace-separated ``key=value`` items; and
  per run: param ``sets``, a list of ``key=value`` items;
- the billing month: param ``month`` (``YYYY-MM-01``), empty = the month
  before the run's logical date (a run on 2026-10-02 works on 2026-09).

The month gives the same keys as ``ntl_spark.cycle.month_overrides`` (and the
Oozie coordinator): ``ingest.period_start/end`` (unless param ``ingest_all``),
``features.reference_month``, ``windows.scoring_end``, ``score.scored_on``.

Exit codes of the jobs: 0 done; 2 (configuration or a missing input) and 3
(bad input data) fail the task at once, since a retry would meet the same
config and the same data; 75 (another cycle holds the lock) and anything else
are retried after ``retry_delay``. A failed task calls :func:`on_failure`,
which logs the failure and appends a line to the failure log.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shlex
from pathlib import Path
from typing import Any

import pendulum
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import Param, task

log = logging.getLogger("ntl_spark.airflow")

REPO = Path(__file__).resolve().parents[2]
TZ = "America/Montevideo"  # the utility's time zone; the Oozie coordinator's too
START = pendulum.datetime(2026, 1, 1, tz=TZ)
EXIT_CONFIG, EXIT_DATA, EXIT_BUSY = 2, 3, 75
NO_RETRY = (EXIT_CONFIG, EXIT_DATA)
PLAN_TASK = "month_keys"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "ntl",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=15),
    "execution_timeout": dt.timedelta(hours=6),
}


def params(**extra: Param) -> dict[str, Param]:
    """The params every DAG takes (see the module docstring), plus ``extra``."""
    return {
        "month": Param("", type="string", pattern=r"^(\d{4}-\d{2}-01)?$",
                       description="billing month YYYY-MM-01; empty = the month before the logical date"),
        "env": Param("", type="string", description="conf/<env>.yaml layer; empty = Variable ntl_spark_env or local"),
        "sets": Param([], type="array", items={"type": "string", "pattern": r"^[A-Za-z0-9_.]+=.*$"},
                      description="extra key=value overrides for every job of this run"),
        "ingest_all": Param(False, type="boolean",
                            description="ingest the whole source instead of the month's period (first load)"),
        **extra,
    }


def month_of(month: str, logical_date: dt.datetime | None) -> dt.date:
    """The billing month: ``month`` when given, else the month before ``logical_date`` (in the DAG's zone)."""
    if month:
        return dt.date.fromisoformat(month)
    when = pendulum.instance(logical_date or pendulum.now(TZ)).in_timezone(TZ).date()
    return (when.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def month_overrides(month: dt.date, ingest_all: bool = False) -> list[str]:
    """The ``key=value`` overrides that make every job work on ``month`` (as the cycle job derives them)."""
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    last = following - dt.timedelta(days=1)
    out = [] if ingest_all else [f"ingest.period_start={month}", f"ingest.period_end={last}"]
    return out + [f"features.reference_month={month}", f"windows.scoring_end={last}", f"score.scored_on={following}"]


def month_keys() -> Any:
    """The first task of every DAG: the run's repository, environment and ``--set`` arguments.

    The Variables reach it as templated arguments, rendered when the task runs.
    """
    return _month_keys(site_repo="{{ var.value.get('ntl_spark_repo', '') }}",
                       site_env="{{ var.value.get('ntl_spark_env', '') }}",
                       site_sets="{{ var.value.get('ntl_spark_sets', '') }}")


@task(task_id=PLAN_TASK, retries=0)
def _month_keys(site_repo: str, site_env: str, site_sets: str, params: dict[str, Any] | None = None,
                logical_date: dt.datetime | None = None) -> dict[str, Any]:
    """Resolve the repository, the environment and the month's ``--set`` arguments once per run.

    Returns ``{"repo", "month", "args"}``; ``args`` is the shell-quoted
    ``--env ... --set ...`` string every job task appends.

    Raises:
        AirflowFailException: no ``spark-submit.sh`` in the repository, or a bad month (no retry helps).
    """
    p = params or {}
    repo = Path(site_repo or os.environ.get("NTL_SPARK_REPO") or REPO)
    if not (repo / "spark-submit.sh").is_file():
        raise AirflowFailException(f"no spark-submit.sh in {repo}: set the Airflow Variable ntl_spark_repo "
                                   "(or NTL_SPARK_REPO on the workers) to the ntl-spark checkout")
    try:
        month = month_of(str(p.get("month") or ""), logical_date)
    except ValueError as e:
        raise AirflowFailException(f"param month {p.get('month')!r} is not a date YYYY-MM-01") from e
    ingest_all = bool(p.get("ingest_all"))
    # cycle.* keys for the cycle job; the other jobs load them and ignore them
    cycle = [f"cycle.month={month}"] + (["cycle.ingest=all"] if ingest_all else [])
    sets = month_overrides(month, ingest_all) + cycle + shlex.split(site_sets) + list(p.get("sets") or [])
    env = str(p.get("env") or site_env or "local")
    args = ["--env", env] + [a for kv in sets for a in ("--set", kv)]
    log.info("ntl-spark %s, month %s: %s", repo, month, shlex.join(args))
    return {"repo": str(repo), "month": month.isoformat(), "args": shlex.join(args)}


class SparkJobOperator(BashOperator):
    """``./spark-submit.sh <job>`` with the run's arguments, as a BashOperator that knows the jobs' exit codes.

    The command and the working directory are templates filled from the
    :func:`month_keys` task's result. Output goes to the task log line by line
    (BashOperator's subprocess hook). Exit 2 and 3 raise
    :class:`AirflowFailException` (no retries); 75 and other codes raise
    :class:`AirflowException`, which Airflow retries.
    """

    def __init__(self, *, job: str, **kwargs: Any) -> None:
        keys = f"ti.xcom_pull(task_ids='{PLAN_TASK}')"
        kwargs.setdefault("task_id", job)
        super().__init__(bash_command=f"exec ./spark-submit.sh {job} {{{{ {keys}['args'] }}}}",
                         cwd=f"{{{{ {keys}['repo'] }}}}", skip_on_exit_code=None, **kwargs)
        self.job = job

    def execute(self, context: Any) -> str:
        result = self.subprocess_hook.run_command(
            command=["bash", "-c", self.bash_command], env=self.get_env(context),
            output_encoding=self.output_encoding, cwd=self.cwd)
        code = result.exit_code
        if code == 0:
            return result.output  # the job's last line: its summary
        what = f"{self.job} exited {code}: {result.output}"
        if code == EXIT_CONFIG:
            raise AirflowFailException(f"{what} (configuration or a missing input: fix it, then clear the task)")
        if code == EXIT_DATA:
            raise AirflowFailException(f"{what} (bad input data: see the message and the quarantine)")
        if code == EXIT_BUSY:
            raise AirflowException(f"{what} (another cycle holds the lock; retried after the retry delay)")
        raise AirflowException(what)


def spark_job(job: str, **kwargs: Any) -> SparkJobOperator:
    """The task running ``job`` (task id = the job's name unless given)."""
    return SparkJobOperator(job=job, **kwargs)


def failure_log() -> Path:
    """Where :func:`on_failure` appends: ``$NTL_AIRFLOW_FAILURE_LOG``, else ``$AIRFLOW_HOME/ntl-failures.log``."""
    explicit = os.environ.get("NTL_AIRFLOW_FAILURE_LOG")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "ntl-failures.log"


def on_failure(context: Any) -> None:
    """Failure callback of every task: an ERROR log line and one tab-separated line in :func:`failure_log`.

    The line: UTC time, dag id, run id, task id, try number, the exception's
    first line. Alerting (mail, chat) can tail that file or replace this
    callback.
    """
    ti = context.get("task_instance") or context.get("ti")
    error = str(context.get("exception") or "").strip().splitlines()
    fields = [dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              getattr(ti, "dag_id", "?"), getattr(context.get("dag_run"), "run_id", "?"),
              getattr(ti, "task_id", "?"), str(getattr(ti, "try_number", "?")), error[0] if error else ""]
    line = "\t".join(f.replace("\t", " ") for f in fields)
    log.error("ntl-spark task failed: %s", line)
    path = failure_log()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as e:  # the callback must not hide the task's own failure
        log.error("could not write the failure log %s: %s", path, e)


DEFAULT_ARGS["on_failure_callback"] = on_failure


def dag_kwargs(dag_id: str, schedule: str, doc: str | None, **extra: Any) -> dict[str, Any]:
    """Arguments common to the ntl-spark DAGs: monthly cron in the utility's zone, one run at a time."""
    return {
        "dag_id": dag_id,
        "schedule": schedule,
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": DEFAULT_ARGS,
        "params": params(),
        "tags": ["ntl-spark"],
        "doc_md": doc,
        **extra,
    }
