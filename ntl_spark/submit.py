"""Turn the configuration into spark-submit options (used by ``spark-submit.sh``).

Prints one argument per line. The configuration is loaded and validated
here, so a bad key or value fails before any JVM starts.

    python -m ntl_spark.submit <job> [--env ENV] [--set key=value ...]
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from ntl_spark.cli import parse_args
from ntl_spark.config import Config, ConfigError, load_config
from ntl_spark.session import REPO_ROOT, jar_paths


def package_zip(dest: Path) -> Path:
    """Zip the ``ntl_spark`` package for executors on a cluster (``--py-files``)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted((REPO_ROOT / "ntl_spark").rglob("*.py")):
            zf.write(f, f.relative_to(REPO_ROOT).as_posix())
    return dest


def submit_args(cfg: Config, job: str) -> list[str]:
    """spark-submit options for ``job`` under ``cfg``."""
    sc = cfg.spark
    log4j = REPO_ROOT / "conf" / "log4j2.properties"
    args = [
        "--master", sc.master,
        "--deploy-mode", sc.deploy_mode,
        "--name", f"ntl-{job}",
        "--driver-memory", sc.driver_memory,
        "--conf", "spark.driver.extraJavaOptions=-Doracle.jdbc.timezoneAsRegion=false "
        f"-Dderby.system.home={cfg.paths.resolve('metastore')}_derby -Dlog4j2.configurationFile=file:{log4j}",
        # executors find the file in their working directory (shipped with --files)
        "--conf", "spark.executor.extraJavaOptions=-Doracle.jdbc.timezoneAsRegion=false "
        "-Dlog4j2.configurationFile=log4j2.properties",
        "--files", str(log4j),
    ]
    if sc.jars_dir:  # empty: the cluster provides the jars (e.g. --jars in an Oozie action's spark-opts)
        args += ["--jars", ",".join(jar_paths(sc.jars_dir))]
    if not sc.master.startswith("local"):
        args += ["--py-files", str(package_zip(REPO_ROOT / "var" / "dist" / "ntl_spark.zip"))]
    for key, value in sc.conf.items():
        args += ["--conf", f"{key}={value}"]
    return args


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m ntl_spark.submit <job> [--env ENV] [--set key=value ...]", file=sys.stderr)
        return 2
    job, rest = argv[0], argv[1:]
    args = parse_args(job, "", rest)
    try:
        cfg = load_config(args.env, args.overrides)
        out = submit_args(cfg, job)
    except (ConfigError, FileNotFoundError) as e:
        print(f"[{job}] configuration error: {e}", file=sys.stderr)
        return 2
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
