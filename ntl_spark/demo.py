"""Demo: the whole DAICE pipeline on the embedded default, end to end.

generate -> ingest -> features -> train (register, alias) -> score -> publish,
plus windows -> train_deep -> score_deep before publish when ``deep.enabled``,
with outputs under ``paths.root`` (``var/`` by default): Delta tables in
``var/lakehouse/<table>``, MLflow in ``var/mlflow.db`` and ``var/mlartifacts``.
"""

from __future__ import annotations

import time
from typing import Any

from ntl_spark.config import Config


def run(cfg: Config) -> dict[str, Any]:
    """Run every stage in one process (one Spark session) and print where to look."""
    from ntl_spark import features, generate, ingest, publish, score, train
    from ntl_spark.session import build_session

    timings: dict[str, float] = {}
    t0 = time.time()
    generate.run(cfg)
    timings["generate"] = time.time() - t0
    spark = build_session(cfg, app_name="ntl-demo")
    out: dict[str, Any] = {}
    try:
        stages: list[tuple[str, Any]] = [("ingest", ingest), ("features", features), ("train", train),
                                         ("score", score), ("publish", publish)]
        if cfg.deep.enabled:  # DeepDAICE branch before publish (docs/deepdaice.md)
            from ntl_spark import deep, deep_score, windows

            stages[4:4] = [("windows", windows), ("train_deep", deep), ("score_deep", deep_score)]
        for name, stage in stages:
            t = time.time()
            out[name] = stage.run(spark, cfg)
            timings[name] = time.time() - t
    finally:
        spark.stop()
    total = time.time() - t0
    print("\n=== demo finished in %.0f s (%s)" % (total, ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())))
    print(f"ranked scores (Delta):  {cfg.paths.table('scores')}")
    print(f"Hive table:             {out['publish']['table']}  (Parquet at {out['publish']['location']})")
    print(f"MLflow UI:              .venv/bin/mlflow ui --backend-store-uri {cfg.tracking_uri} --port 5000")
    return {"timings": timings, **out}
