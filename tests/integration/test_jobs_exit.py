"""Every job run alone through ./spark-submit.sh exits when its work is done, with its exit code.

This is how cron, Oozie and Airflow run them: a job that leaves its driver JVM
alive (xgboost.spark's barrier stage starts a non-daemon timer in Spark 3.5)
would hang the schedule. Each run has a time limit.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LIMIT_S = 420  # generous for a loaded 2-core machine; a hung JVM never returns at all


def submit(job: str, root: Path, *overrides: str, limit: int = LIMIT_S) -> tuple[int, str, float]:
    """Run ``./spark-submit.sh <job> --env test`` in its own process group; kill it at the limit."""
    args = [str(REPO / "spark-submit.sh"), job, "--env", "test", "--set", f"paths.root={root}"]
    for o in overrides:
        args += ["--set", o]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    started = time.time()
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        pytest.fail(f"{job} did not exit within {limit} s; last output:\n{out[-3000:]}")
    return proc.returncode, out, time.time() - started


def test_each_job_exits_with_its_code(tmp_path):
    root = tmp_path / "lake"
    common = ("generate.customers=600", "score.scored_on=2026-10-01")
    seconds = {}
    for job in ("generate", "ingest", "features", "train", "validate_model", "score", "publish"):
        # The gate's verdict on 600 customers may go either way and is tested elsewhere (a refusal exits 0
        # too); score names the candidate so it runs whatever the verdict.
        extra = ("score.model_ref=candidate",) if job == "score" else ()
        code, out, took = submit(job, root, *common, *extra)
        seconds[job] = round(took, 1)
        assert code == 0, f"{job} exited {code}:\n{out[-3000:]}"
    # the training run registered a model, the gate judged it and the score job wrote the ranking
    assert (root / "lakehouse" / "scores" / "_delta_log").is_dir()
    print("seconds per job:", seconds)


def test_failures_exit_with_their_codes(tmp_path):
    root = tmp_path / "empty"
    code, out, _ = submit("train", root, "train.seed=not-a-number", limit=120)
    assert code == 2 and "train.seed" in out
    code, out, _ = submit("train", root)
    assert code == 2 and "run the features job first" in out
    code, out, _ = submit("score", root)  # nothing registered: no champion to score with
    assert code == 2 and "no champion yet (alias 'champion')" in out and "validate_model" in out
