"""Every job's processes get ``spark.env`` (OMP_WAIT_POLICY=PASSIVE by default): the driver,
the spark-submit command line (executors, a YARN cluster-mode driver) and the Python workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ntl_spark.config import ConfigError, load_config
from ntl_spark.session import REPO_ROOT, apply_driver_env, executor_env_conf
from ntl_spark.submit import submit_args

needs_jars = pytest.mark.skipif(not any((REPO_ROOT / "var" / "jars").glob("delta-spark_*.jar")),
                                reason="no jars: scripts/fetch-jars.sh")


def _opts(args: list[str]) -> dict[str, list[str]]:
    """spark-submit options as {option: [values]} (--conf values keyed by their own key)."""
    out: dict[str, list[str]] = {}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        key, val = value.partition("=")[::2] if flag == "--conf" else (flag, value)
        out.setdefault(key, []).append(val)
    return out


def test_default_env_sets_the_passive_wait_policy():
    cfg = load_config("test")
    assert cfg.spark.env["OMP_WAIT_POLICY"] == "PASSIVE"
    assert executor_env_conf(cfg)["spark.executorEnv.OMP_WAIT_POLICY"] == "PASSIVE"
    assert "spark.yarn.appMasterEnv.OMP_WAIT_POLICY" not in executor_env_conf(cfg)
    assert executor_env_conf(cfg, cluster_driver=True)["spark.yarn.appMasterEnv.OMP_WAIT_POLICY"] == "PASSIVE"


def test_bad_variable_name_is_a_config_error():
    with pytest.raises(ConfigError, match=r"spark\.env\.1BAD"):
        load_config("test", ["spark.env={1BAD: x}"])


def test_driver_env_overrides_the_shell(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    apply_driver_env(load_config("test", ["spark.env.OMP_NUM_THREADS=2"]))
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and os.environ["OMP_NUM_THREADS"] == "2"
    monkeypatch.delenv("OMP_NUM_THREADS")


def test_a_job_without_spark_gets_the_env_too(monkeypatch):
    from ntl_spark.cli import run_job

    seen = {}
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("NTL_ENV_PROBE", raising=False)
    code = run_job("probe", "", lambda cfg: seen.update(os.environ), ["--env", "test", "--set",
                   "spark.env.NTL_ENV_PROBE=job"], needs_spark=False)
    assert code == 0 and seen["OMP_WAIT_POLICY"] == "PASSIVE" and seen["NTL_ENV_PROBE"] == "job"
    monkeypatch.delenv("NTL_ENV_PROBE")


@needs_jars
def test_submit_command_line_carries_the_env(tmp_path):
    opts = _opts(submit_args(load_config("test", [f"paths.root={tmp_path}"]), "score"))
    assert opts["spark.executorEnv.OMP_WAIT_POLICY"] == ["PASSIVE"]
    assert "spark.yarn.appMasterEnv.OMP_WAIT_POLICY" not in opts  # a client-mode driver sets it itself
    cluster = load_config("test", ["spark.master=yarn", "spark.deploy_mode=cluster", "paths.root=hdfs:///data/ntl",
                                   "spark.env.MALLOC_ARENA_MAX=2"])
    opts = _opts(submit_args(cluster, "score"))
    for prefix in ("spark.executorEnv.", "spark.yarn.appMasterEnv."):
        assert opts[prefix + "OMP_WAIT_POLICY"] == ["PASSIVE"] and opts[prefix + "MALLOC_ARENA_MAX"] == ["2"]
    # an explicit property in spark.conf wins
    explicit = load_config("test", [f"paths.root={tmp_path}", "spark.conf={spark.executorEnv.OMP_WAIT_POLICY: ACTIVE}"])
    assert _opts(submit_args(explicit, "score"))["spark.executorEnv.OMP_WAIT_POLICY"] == ["ACTIVE"]


PROBE = textwrap.dedent(
    """
    import json, os, sys
    from ntl_spark import session
    from ntl_spark.config import load_config

    cfg = load_config("test", [f"paths.root={sys.argv[1]}", "spark.env.NTL_ENV_PROBE=from-config"])
    # as on a cluster, where executors do not inherit the driver's environment: only
    # spark.executorEnv.* can bring the value to the Python workers
    session.apply_driver_env = lambda cfg: None
    spark = session.build_session(cfg, app_name="ntl-env-probe")
    seen = spark.sparkContext.parallelize([0, 1], 2).map(
        lambda _: (os.environ.get("NTL_ENV_PROBE"), os.environ.get("OMP_WAIT_POLICY"))).collect()
    conf = spark.sparkContext.getConf().get("spark.executorEnv.NTL_ENV_PROBE")
    spark.stop()
    print(json.dumps({"workers": seen, "conf": conf}))
    """
)


@needs_jars
def test_python_workers_get_the_env_from_the_spark_conf(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NTL_ENV_PROBE", "OMP_WAIT_POLICY")}
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env["PYSPARK_PYTHON"] = sys.executable
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], env=env, cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["conf"] == "from-config"
    assert got["workers"] == [["from-config", "PASSIVE"]] * 2
