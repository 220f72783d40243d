"""The monthly cycle on a real multi-process cluster gives the tables local mode gives.

The cluster comes from ``scripts/services.sh start cluster``: a Spark standalone
master and two workers (separate JVMs, pyspark's own distribution), HDFS (a
NameNode and a DataNode), and an ``mlflow server`` on PostgreSQL with proxied
artifacts. The same generated utility goes through ``./spark-submit.sh cycle``
twice, as a scheduler runs it:

- local mode: ``local[2]``, a local ``paths.root``, MLflow on SQLite;
- the cluster: ``spark.master=spark://...``, ``paths.root=hdfs://...`` (the raw
  files uploaded there too), ``mlflow.tracking_uri=http://...``, executors
  running Python from the environment archive built by ``scripts/pack.sh``
  (``spark.archives=...#env``, ``spark.pyspark.python=./env/bin/python``), the
  package from ``--py-files``, the jars from ``--jars``.

Every lakehouse table has the same row count both ways and the scores rank
the customers in the same order. The DeepDAICE stages are not part of the
cycle here (``deep.enabled`` false; the lean archive has no TensorFlow).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.conftest import REPO, SERVICES, services_env

pytestmark = pytest.mark.cluster

LIMIT_S = 1500  # per cycle: a loaded 2-core machine; a hung driver never returns at all
MONTH = "2026-09-01"
# small and quick: the point is where the code runs, not how much data
COMMON = ("generate.customers=400", f"cycle.month={MONTH}", "cycle.ingest=all",
          # the gates have their own tests; the model ranked is the one this cycle trained
          "cycle.stages=[ingest,features,train,score,publish]", "score.model_ref=candidate")
WORK = REPO / "var" / "spark" / "work"  # the standalone workers' folders (scripts/services.sh)
TABLES = ("customers", "bills", "inspections", "quarantine", "ingest_log", "monthly_features", "training_set",
          "scores", "cycle_log")


# A standalone worker whose executors keep dying starts new ones for ever, each unpacking the archive
# into a folder of its own that stays until the application ends: a full disk never clears by itself.
# The cycle is stopped at the first sign of it rather than at LIMIT_S.
FATAL = ("No space left on device",)
MAX_LOST_EXECUTORS = 6


def _run(args: list[str], limit: int = LIMIT_S) -> str:
    """Run a command from the repository root in its own process group; fail the test on error or time-out.

    The output is read as it comes: a full disk or executors lost one after another end the run at once.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_GATEWAY", "PYSPARK_PYTHON"))}
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    lines: list[str] = []
    problem: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        lost = 0
        for line in proc.stdout:
            lines.append(line)
            lost += "Lost executor" in line
            if not problem and (any(f in line for f in FATAL) or lost > MAX_LOST_EXECUTORS):
                problem.append(line.strip())
                os.killpg(proc.pid, 9)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        reader.join(30)
        pytest.fail(f"{' '.join(args[:2])} did not finish within {limit} s; last output:\n{''.join(lines)[-4000:]}")
    reader.join(30)
    out = "".join(lines)
    if problem:
        pytest.fail(f"{' '.join(args[:2])} stopped: {problem[0]}\n{_disk_report()}\nlast output:\n{out[-4000:]}")
    assert proc.returncode == 0, f"{' '.join(args[:3])} exited {proc.returncode}:\n{out[-6000:]}"
    return out


def _unpacked_bytes(archive: Path) -> int:
    """The archive's size once unpacked, from the gzip trailer (ISIZE: the size modulo 4 GiB)."""
    with archive.open("rb") as f:
        f.seek(-4, os.SEEK_END)
        return int.from_bytes(f.read(4), "little")


def _disk_report() -> str:
    free = shutil.disk_usage(WORK if WORK.exists() else REPO).free
    return f"free disk under {WORK}: {free / 2**30:.1f} GiB"


def _cycle(*overrides: str) -> tuple[str, float]:
    args = [str(REPO / "spark-submit.sh"), "cycle", "--env", "test"]
    for o in (*COMMON, *overrides):
        args += ["--set", o]
    started = time.time()
    return _run(args), time.time() - started


@pytest.fixture(scope="module")
def cluster() -> dict[str, str]:
    """The cluster services (started when not running, as scripts/test.sh does) and the packed environment."""
    _run([str(SERVICES), "start", "cluster"], limit=600)
    out = _run([str(REPO / "scripts" / "pack.sh")], limit=900)
    env = services_env()
    env["archive"] = str(REPO / "var" / "dist" / "ntl-env.tar.gz")
    assert Path(env["archive"]).exists(), out
    return env


@pytest.fixture()
def app_folders_removed() -> Iterator[None]:
    """Delete the application folders the test leaves on the workers (two unpacked environments), passed or
    failed: the rest of the suite gets the disk back."""
    before = set(WORK.glob("worker*/app-*"))
    yield
    for app in set(WORK.glob("worker*/app-*")) - before:
        shutil.rmtree(app, ignore_errors=True)


def _upload(spark: SparkSession, local: Path, remote: str) -> None:
    """Copy a local folder to HDFS with the Hadoop client pyspark ships."""
    jvm = spark.sparkContext._jvm
    conf = jvm.org.apache.hadoop.conf.Configuration(spark.sparkContext._jsc.hadoopConfiguration())
    conf.set("dfs.replication", "1")  # one DataNode
    src = jvm.org.apache.hadoop.fs.Path(local.as_uri())
    dst = jvm.org.apache.hadoop.fs.Path(remote)
    ok = jvm.org.apache.hadoop.fs.FileUtil.copy(src.getFileSystem(conf), src, dst.getFileSystem(conf), dst, False,
                                                conf)
    assert ok, f"copy {local} -> {remote} failed"


def _counts(spark: SparkSession, lakehouse: str) -> dict[str, int]:
    return {t: spark.read.format("delta").load(f"{lakehouse}/{t}").count() for t in TABLES}


def _ranking(spark: SparkSession, lakehouse: str) -> list[tuple[str, int]]:
    rows = spark.read.format("delta").load(f"{lakehouse}/scores").select("customer_id", "rank").collect()
    return sorted((r.customer_id, r["rank"]) for r in rows)


def test_cycle_on_the_cluster_matches_local_mode(cluster, spark, tmp_path, app_folders_removed):
    # the driver and each of the two executors unpack the archive; their copies of it come on top
    archive = Path(cluster["archive"]).resolve()
    need = 3 * (_unpacked_bytes(archive) + archive.stat().st_size) + 2**30
    WORK.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(WORK).free < need:
        pytest.skip(f"the cluster cycle needs about {need / 2**30:.1f} GiB of free disk; {_disk_report()}")
    run_id = uuid.uuid4().hex[:8]
    raw = tmp_path / "raw"
    _run([str(REPO / "spark-submit.sh"), "generate", "--env", "test", "--set", f"paths.root={tmp_path}",
          "--set", f"generate.output={raw}", "--set", COMMON[0]], limit=300)

    # local mode: the embedded default
    local_root = tmp_path / "local"
    local_out, local_s = _cycle(f"paths.root={local_root}", f"ingest.input={raw}", "publish.database=ntl_cl_local")

    # the cluster: Spark standalone, HDFS, the MLflow server, executors from the packed environment
    hdfs_root = f"{cluster['NTL_HDFS_URL']}/ntl-test/{run_id}"
    _upload(spark, raw, f"{hdfs_root}/raw")
    conf = {
        "spark.archives": f"{Path(cluster['archive']).as_uri()}#env",
        "spark.pyspark.python": "./env/bin/python",
        "spark.executor.memory": "1500m",
        "spark.executor.cores": "1",
        "spark.ui.enabled": "false",
        "spark.hadoop.dfs.replication": "1",  # one DataNode
    }
    cluster_out, cluster_s = _cycle(
        f"spark.master={cluster['NTL_SPARK_MASTER_URL']}",
        f"spark.conf={json.dumps(conf)}",
        f"paths.root={hdfs_root}",
        # the driver runs here (client mode): its Derby metastore and the cycle's lock stay local
        f"paths.metastore={tmp_path / 'cluster_metastore'}",
        f"cycle.lock={tmp_path / 'cycle.lock'}",
        f"mlflow.tracking_uri={cluster['NTL_MLFLOW_URL']}",
        f"mlflow.experiment=ntl-cluster-test-{run_id}",
        f"model.name=DAICE_cluster_{run_id}",
        "publish.database=ntl_cl_cluster",
    )
    print(f"cycle seconds: local {local_s:.0f}, cluster {cluster_s:.0f}")

    # it ran on the cluster: an application on the standalone master whose executors unpacked the archive
    apps = [p for p in WORK.glob("worker*/app-*") if p.stat().st_mtime >= time.time() - cluster_s - 5]
    assert apps, f"no application ran on the standalone workers ({WORK}):\n{cluster_out[-3000:]}"
    assert any(p.is_file() for p in WORK.glob("worker*/app-*/*/env/bin/python")), \
        "the executors did not unpack the environment archive"
    assert "[cycle] publish done" in cluster_out

    counts_local = _counts(spark, str(local_root / "lakehouse"))
    counts_cluster = _counts(spark, f"{hdfs_root}/lakehouse")
    assert counts_local == counts_cluster
    assert counts_local["scores"] > 300 and counts_local["training_set"] > 0
    assert _ranking(spark, str(local_root / "lakehouse")) == _ranking(spark, f"{hdfs_root}/lakehouse")

    # the model and its run went to the MLflow server (PostgreSQL), artifacts through its proxy
    from mlflow.tracking import MlflowClient

    # the registry named too: MLflow's process-wide registry URI may still point at an earlier test's store
    client = MlflowClient(tracking_uri=cluster["NTL_MLFLOW_URL"], registry_uri=cluster["NTL_MLFLOW_URL"])
    version = client.get_model_version_by_alias(f"DAICE_cluster_{run_id}", "candidate")
    assert version.source and "mlflow-artifacts:" in client.get_run(version.run_id).info.artifact_uri
    assert client.list_artifacts(version.run_id)
