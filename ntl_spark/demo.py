"""Demo: the whole DAICE pipeline on the embedded default, end to end.

generate -> ingest -> features -> train (register, alias) -> score -> publish,
with the data gate before train and the model gate before score when
``validation.enabled`` (scoring uses the champion: a refused challenger is never scored),
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
        if cfg.validation.enabled:  # data gate before training, model gate before scoring (docs/validation.md)
            from ntl_spark.validate import data as validate_data
            from ntl_spark.validate import model as validate_model

            stages.insert(2, ("validate_data", validate_data))
            stages.insert(4, ("validate_model", validate_model))
        if cfg.deep.enabled:  # DeepDAICE branch before publish (docs/deepdaice.md)
            from ntl_spark import deep, deep_score, windows

            at = [n for n, _ in stages].index("publish")
            stages[at:at] = [("windows", windows), ("train_deep", deep), ("score_deep", deep_score)]
        for name, stage in stages:
            t = time.time()
            out[name] = stage.run(spark, cfg)
            timings[name] = time.time() - t
    finally:
        spark.stop()
    total = time.time() - t0
    print(f"\n=== demo finished in {total:.0f} s ({', '.join(f'{k} {v:.0f}s' for k, v in timings.items())})")
    print(f"ranked scores (Delta):  {cfg.paths.table('scores')}")
    print(f"Hive table:             {out['publish']['table']}  (Parquet at {out['publish']['location']})")
    print(f"MLflow UI:              .venv/bin/mlflow ui --backend-store-uri {cfg.tracking_uri} --port 5000")
    return {"timings": timings, **out}
