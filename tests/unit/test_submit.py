"""The spark-submit command line built from the configuration (ntl_spark.submit).

Cluster deploy mode runs the driver in a container away from the checkout:
the YAML layers and the log4j2 file travel with --files, the jars with
--jars, and the driver takes them from there (not from spark.jars_dir).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ntl_spark.config import load_config
from ntl_spark.session import REPO_ROOT, local_metastore
from ntl_spark.submit import submit_args

JARS = REPO_ROOT / "var" / "jars"
needs_jars = pytest.mark.skipif(not any(JARS.glob("delta-spark_*.jar")), reason="no jars: scripts/fetch-jars.sh")


def _opts(args: list[str]) -> dict[str, list[str]]:
    """spark-submit options as {option: [values]} (--conf values keyed by their own key)."""
    out: dict[str, list[str]] = {}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag == "--conf":
            key, _, val = value.partition("=")
            out.setdefault(key, []).append(val)
        else:
            out.setdefault(flag, []).append(value)
    return out


@needs_jars
def test_client_mode_local(tmp_path):
    cfg = load_config("test", [f"paths.root={tmp_path}"])
    opts = _opts(submit_args(cfg, "score"))
    assert opts["--master"] == ["local[2]"] and opts["--deploy-mode"] == ["client"]
    assert opts["--files"] == [str(REPO_ROOT / "conf" / "log4j2.properties")]
    assert "--py-files" not in opts  # local mode imports the checkout
    assert f"-Dderby.system.home={tmp_path.resolve()}/metastore_db_derby" in opts["spark.driver.extraJavaOptions"][0]
    assert "spark.pyspark.driver.python" not in opts


@needs_jars
def test_cluster_mode_ships_config_and_jars(tmp_path):
    cfg = load_config("test", ["spark.master=yarn", "spark.deploy_mode=cluster", "paths.root=hdfs:///data/ntl",
                               "spark.conf={spark.pyspark.python: ./env/bin/python}"])
    opts = _opts(submit_args(cfg, "cycle"))
    files = opts["--files"][0].split(",")
    assert [Path(f).name for f in files] == ["log4j2.properties", "base.yaml", "test.yaml"]
    assert all(Path(f).is_file() for f in files)
    jars = opts["--jars"][0].split(",")
    assert any(Path(j).name.startswith("delta-spark_") for j in jars) and all(Path(j).is_file() for j in jars)
    # a zip per content: a job still running keeps importing from its own
    zipped = Path(opts["--py-files"][0])
    assert zipped.name.startswith("ntl_spark-") and zipped.suffix == ".zip"
    assert _opts(submit_args(cfg, "score"))["--py-files"] == [str(zipped)]
    with zipfile.ZipFile(zipped) as zf:
        assert "ntl_spark/cycle.py" in zf.namelist()
    driver = opts["spark.driver.extraJavaOptions"][0]
    # the driver's container: log4j2 from its working directory, no Derby folder under an hdfs:// root
    assert "-Dlog4j2.configurationFile=log4j2.properties" in driver and "derby" not in driver
    # the driver runs from the archive too: no local interpreter forced on it
    assert opts["spark.pyspark.python"] == ["./env/bin/python"] and "spark.pyspark.driver.python" not in opts
    assert not local_metastore(cfg)


@needs_jars
def test_client_mode_driver_keeps_a_local_python_when_executors_use_the_archive(tmp_path):
    cfg = load_config("test", ["spark.master=spark://127.0.0.1:7077", "paths.root=hdfs://127.0.0.1:8020/ntl",
                               f"paths.metastore={tmp_path}/ms", "spark.conf={spark.pyspark.python: ./env/bin/python}"])
    opts = _opts(submit_args(cfg, "cycle", python="/opt/venv/bin/python"))
    assert opts["spark.pyspark.python"] == ["./env/bin/python"]
    assert opts["spark.pyspark.driver.python"] == ["/opt/venv/bin/python"]
    assert opts["--files"] == [str(REPO_ROOT / "conf" / "log4j2.properties")]
    # a local metastore folder under a cluster master: the driver's embedded Derby metastore
    assert local_metastore(cfg) and f"-Dderby.system.home={tmp_path}/ms_derby" in opts["spark.driver.extraJavaOptions"][0]


def test_config_layers_read_from_the_working_directory(tmp_path, monkeypatch):
    """What a cluster-mode driver does with the shipped layers (no conf/ beside the package there)."""
    from ntl_spark import config

    for name in ("base.yaml", "test.yaml"):
        (tmp_path / name).write_text((REPO_ROOT / "conf" / name).read_text())
    monkeypatch.setattr(config, "CONF_DIR", tmp_path / "absent")
    monkeypatch.delenv("NTL_CONF_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert config.conf_folder() == tmp_path
    assert load_config("test").spark.shuffle_partitions == 2
