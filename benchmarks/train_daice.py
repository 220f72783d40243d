"""Benchmark: train DAICE with the project's xgboost.spark estimator vs native xgboost.

Generates (numpy, seeded) a training set shaped like the DAICE features
(``schemas.numeric_feature_columns(36)``: C1..C36 monthly kWh with gaps, the
derived features, contracted power; then region, tariff, meter type and
activity encoded 0/1 as the train job's vocabulary encodes them, with the
``<column>__other`` columns; 8% irregular), then fits, in the same run:

The rows are written once (untimed) as Parquet files; both sides read them:

* ntl-spark: Spark reads the files, the rows are cached in the training
  layout and counted (as the train job does with its split), then
  ``ntl_spark.train.fit_model`` (the train job's own path: the estimator from
  ``build_estimator`` with ``train.params`` and the worker / thread layout of
  ``conf/base.yaml``);
* baseline: one process reads the same files with pyarrow into a float32
  matrix and fits ``xgboost.XGBClassifier(n_jobs=2, tree_method="hist")``
  with the same parameters.

The target (1.5x) is on read + fit; the fit alone is printed too. MLflow
logging of the model is not in either figure.

The project's fit is split into pieces with a training callback: set-up until
the first round (input job, DataFrame -> worker transfer, quantile sketch) and
the boosting rounds. Prints a table (figure, baseline, ratio) and, unless
``--dry``, appends the run to ``benchmarks/train_daice.jsonl`` and
regenerates ``benchmarks/RESULTS.md``.

    .venv/bin/python benchmarks/train_daice.py                  # 400,000 rows
    .venv/bin/python benchmarks/train_daice.py --rows 50000     # quick

On a cluster (``--set spark.master=spark://...`` or YARN, with the executors'
cores and memory in ``spark.conf``) the run is kept as ``train_daice_cluster``
beside the local figure: the layout past one worker, each worker an executor.

    scripts/services.sh start spark   # standalone master + 2 workers x 1 core
    .venv/bin/python benchmarks/train_daice.py --set spark.master=spark://127.0.0.1:7077 \
        --set 'spark.conf={"spark.executor.cores": "1", "spark.executor.memory": "2g"}' --set train.num_workers=2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
# The jobs' environment (spark.env: OMP_WAIT_POLICY=PASSIVE, whose spinning default made
# xgboost 20x slower under load) before numpy/xgboost load OpenMP, for both sides.
from results import job_env  # noqa: E402

job_env()

import numpy as np  # noqa: E402
import xgboost as xgb  # noqa: E402
from results import Headline, publish  # noqa: E402

from ntl_spark import schemas, train  # noqa: E402
from ntl_spark.config import load_config  # noqa: E402
from ntl_spark.encoding import CategoricalVocabulary  # noqa: E402
from ntl_spark.generate.common import ACTIVITIES, REGIONS, TARIFFS  # noqa: E402

POSITIVE_RATE = 0.08
LABEL_NOISE = 0.01  # share of labels flipped either way


def daice_features(
    rows: int, seed: int = 13, months: int = 36
) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, np.ndarray]]:
    """A float64 feature matrix, 0/1 labels, its column names and the raw categorical values.

    Columns: ``schemas.numeric_feature_columns(months)``, then the encoded
    region, tariff, meter_type and activity (levels of the generator, most
    frequent first, as ``CategoricalVocabulary.fit`` orders them; every
    ``__other`` column is 0).

    Monthly kWh: a lognormal level per customer times a seasonal profile and
    gamma noise; irregular customers (``POSITIVE_RATE``) lose a share of their
    consumption from a random month on. About 2% of months are missing and
    recently connected customers have no history before their connection.

    Returns:
        x (rows x columns), y, the column names, and column -> raw values
        (object arrays; activity has a few nulls as in the generator).
    """
    rng = np.random.default_rng(seed)
    numeric = schemas.numeric_feature_columns(months)
    level = rng.lognormal(5.0, 0.7, size=(rows, 1))
    season = 1.0 + 0.25 * np.cos(2 * np.pi * (np.arange(months) + rng.integers(0, 12, size=(rows, 1))) / 12)
    kwh = level * season * rng.gamma(4.0, 1 / 4.0, size=(rows, months))
    label = rng.random(rows) < POSITIVE_RATE - LABEL_NOISE
    start = rng.integers(1, months, size=rows)  # C1..C<start> are after the theft began
    factor = np.where(label, rng.uniform(0.5, 0.95, size=rows), 1.0)
    kwh = np.where(np.arange(months)[None, :] < start[:, None], kwh * factor[:, None], kwh)
    connected = np.where(rng.random(rows) < 0.1, rng.integers(6, months, size=rows), months + rng.integers(0, 60, size=rows))
    kwh[np.arange(months)[None, :] >= connected[:, None]] = np.nan
    kwh[rng.random((rows, months)) < 0.02] = np.nan
    kwh[rng.random((rows, months)) < 0.005] = 0.0
    last12, prev12 = kwh[:, :12], kwh[:, 12:24]
    with np.errstate(all="ignore"), _quiet():
        mean_3, mean_12, mean_all = np.nanmean(kwh[:, :3], 1), np.nanmean(last12, 1), np.nanmean(kwh, 1)
        std_12 = np.nanstd(last12, 1)
        t = np.arange(12) - 5.5
        ok = ~np.isnan(last12)
        slope = np.nansum((last12 - mean_12[:, None]) * t, 1) / np.maximum((ok * t**2).sum(1), 1)
        kw = rng.choice([3.3, 4.4, 6.6, 9.2, 13.2, 40.0], size=rows)
        derived = [
            mean_3, mean_12, mean_all, std_12, std_12 / mean_12, np.nanmin(last12, 1), np.nanmax(last12, 1),
            mean_3 / mean_12, mean_12 / np.nanmean(prev12, 1), kwh[:, 0] / kwh[:, 12], slope,
            (last12 == 0).sum(1), np.isnan(kwh).sum(1), rng.beta(1, 12, size=rows), mean_12 / kw, connected,
        ]
    tariff = rng.choice(len(TARIFFS), size=rows, p=[0.7, 0.15, 0.12, 0.03])
    raw = {
        "region": np.asarray(REGIONS, dtype=object)[rng.integers(0, len(REGIONS), size=rows)],
        "tariff": np.asarray(TARIFFS, dtype=object)[tariff],
        "meter_type": np.where(rng.random(rows) < 0.3, "smart", "conventional").astype(object),
        "activity": np.array([ACTIVITIES[t][i % len(ACTIVITIES[t])] for t, i in
                              zip(tariff, rng.integers(0, 7, size=rows), strict=True)], dtype=object),
    }
    raw["activity"][rng.random(rows) < 0.02] = None
    vocab = vocabulary_of(raw)
    encoded = [(raw[c.column][:, None] == np.asarray(c.levels, dtype=object)[None, :]).astype(float)
               for c in (vocab.levels(name) for name in vocab.columns)]
    blocks = [np.column_stack([e, np.zeros(rows)]) for e in encoded]  # + <column>__other: every value is a level
    # the feature columns added since (peer, seasonality, step, zero-run and alarm features): standard
    # normal draws with 2% missing, so the model sees as many inputs as the project's
    extra = rng.normal(size=(rows, len(numeric) - months - len(derived) - 1))
    extra[rng.random(extra.shape) < 0.02] = np.nan
    x = np.column_stack([kwh, *derived, kw, extra, *blocks]).astype(np.float64)
    x[~np.isfinite(x)] = np.nan
    flip = rng.random(rows) < LABEL_NOISE
    y = (label ^ flip).astype(np.int32)
    cols = numeric + vocab.feature_columns
    if x.shape[1] != len(cols):
        raise RuntimeError(f"generated {x.shape[1]} columns for {len(cols)} feature names")
    return x, y, cols, raw


def vocabulary_of(raw: dict[str, np.ndarray]) -> CategoricalVocabulary:
    """The vocabulary ``CategoricalVocabulary.fit`` would learn from ``raw`` (every value a level)."""
    levels = {}
    for column, values in raw.items():
        names, counts = np.unique(values[values != None].astype(str), return_counts=True)  # noqa: E711
        order = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))
        levels[column] = [str(names[i]) for i in order]
    return CategoricalVocabulary.from_levels(levels)


class _quiet:
    """Silence numpy's all-NaN-slice warnings while deriving features."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


class RoundClock(xgb.callback.TrainingCallback):
    """Writes wall-clock times of the first and last round to a file (read by the driver)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled when the training task starts on its worker.
        self.__dict__.update(state)
        self._mark("task")

    def _mark(self, key: str) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps({key: time.time(), "pid": os.getpid()}) + "\n")

    def before_training(self, model: Any) -> Any:
        self._mark("start")
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        if epoch == 0:
            self._mark("first")
        return False

    def after_training(self, model: Any) -> Any:
        self._mark("end")
        return model


def read_clock(path: str) -> dict[str, float]:
    """Earliest start/first and latest end over the workers."""
    marks: dict[str, list[float]] = {}
    for line in Path(path).read_text().splitlines():
        for k, v in json.loads(line).items():
            if k != "pid":
                marks.setdefault(k, []).append(v)
    return {"task": min(marks["task"]), "start": max(marks["start"]), "first": max(marks["first"]),
            "end": max(marks["end"])}


def native_fit(x: np.ndarray, y: np.ndarray, params: dict[str, Any], seed: int) -> tuple[float, Any]:
    t = time.perf_counter()
    model = xgb.XGBClassifier(n_jobs=2, tree_method="hist", missing=np.nan, random_state=seed, verbosity=0, **params)
    model.fit(x, y)
    return time.perf_counter() - t, model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each side; the best is reported")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="config override for the project side, e.g. train.num_workers=2")
    ap.add_argument("--dry", action="store_true", help="print only; write neither train_daice.jsonl nor RESULTS.md")
    args = ap.parse_args()
    load_start = os.getloadavg()

    root = Path(tempfile.mkdtemp(prefix="ntl-bench-train-"))
    cfg = load_config("local", [f"paths.root={root}", *args.overrides])
    tc = cfg.train
    t = time.perf_counter()
    x, y, cols, _ = daice_features(args.rows)
    print(f"generated {x.shape[0]:,} x {x.shape[1]} ({y.mean():.1%} positive, "
          f"{np.isnan(x).mean():.1%} NaN) in {time.perf_counter() - t:.1f} s")

    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    from ntl_spark.session import build_session

    # The same rows both sides read: one Parquet folder (written untimed, as the features job would have).
    data_path = root / "training_set"
    data_path.mkdir()
    table = pa.table({"label": pa.array(y.astype(np.int32)), **{c: x[:, j] for j, c in enumerate(cols)}})
    for part in range(4):
        lo, hi = part * len(x) // 4, (part + 1) * len(x) // 4
        pq.write_table(table.slice(lo, hi - lo), data_path / f"part-{part}.parquet")
    del table

    spark = build_session(cfg, app_name="bench-train-daice")
    workers, threads = train.worker_layout(spark, tc)

    def native_whole() -> tuple[float, float, Any]:
        """pyarrow read + float32 matrix + XGBClassifier fit: (whole s, fit s, model)."""
        t = time.perf_counter()
        got = pq.read_table(data_path)
        xn = np.empty((got.num_rows, len(cols)), dtype=np.float32)
        for j, c in enumerate(cols):
            xn[:, j] = got.column(c).to_numpy(zero_copy_only=False)
        yn = got.column("label").to_numpy()
        fit_secs, model = native_fit(xn, yn, tc.params, tc.seed)
        return time.perf_counter() - t, fit_secs, model

    results: dict[str, list[float]] = {"project": [], "native": [], "setup": [], "rounds": [], "after": [],
                                       "project_whole": [], "native_whole": [], "cache": []}
    auc: dict[str, float] = {}
    for i in range(args.repeat):
        whole_secs, secs, model = native_whole()
        results["native"].append(secs)
        results["native_whole"].append(whole_secs)
        if i == 0:
            auc["native"] = _auc(y, model.predict_proba(x)[:, 1])
        del model
        # as the train job: read, cached in the training layout and counted before the fit
        t = time.perf_counter()
        df = spark.read.parquet(str(data_path)).withColumn("label", F.col("label").cast("int")) \
            .repartition(workers).cache()
        df.count()
        cache_secs = time.perf_counter() - t
        clock = str(root / f"clock-{i}.jsonl")
        t0 = time.time()
        smodel = train.fit_model(spark, df, cols, tc, callbacks=[RoundClock(clock)])
        t1 = time.time()
        df.unpersist()
        marks = read_clock(clock)
        results["project"].append(t1 - t0)
        results["cache"].append(cache_secs)
        results["project_whole"].append(cache_secs + t1 - t0)
        results["setup"].append(marks["first"] - t0)
        results["rounds"].append(marks["end"] - marks["first"])
        results["after"].append(t1 - marks["end"])
        if i == 0:
            booster = smodel.get_booster()
            auc["project"] = _auc(y, booster.inplace_predict(x, missing=np.nan))
        print(f"run {i + 1}: project {cache_secs:.1f} s read + cache, {t1 - t0:.1f} s fit (set-up "
              f"{marks['first'] - t0:.1f}: to task {marks['task'] - t0:.1f}, data+sketch "
              f"{marks['start'] - marks['task']:.1f}; rounds {marks['end'] - marks['first']:.1f}, after "
              f"{t1 - marks['end']:.1f}); native {whole_secs:.1f} s read + fit ({secs:.1f} s fit), "
              f"load {os.getloadavg()[0]:.1f}")
    spark.stop()

    best = {k: min(v) for k, v in results.items()}
    ratio = best["project"] / best["native"]
    # a cluster run (spark://, yarn) is kept apart from the local[2] figure the target is set on
    local = cfg.spark.master.startswith("local")
    bench = "train_daice" if local else "train_daice_cluster"
    layout = "" if local else f" on a cluster: {workers} executor(s), each a separate JVM with its own Python worker"
    whole_ratio = best["project_whole"] / best["native_whole"]
    cache_secs = best["cache"]
    lines = [
        f"\n## Train DAICE{layout} (benchmarks/train_daice.py), {dt.date.today().isoformat()}\n",
        f"Machine: {os.cpu_count()} cores, 24 GiB, {platform.machine()}, Python {platform.python_version()}, "
        f"xgboost {xgb.__version__}; Spark {cfg.spark.master}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}. {x.shape[0]:,} rows x {x.shape[1]} features, "
        f"{y.mean():.0%} positive, {tc.params['n_estimators']} trees depth {tc.params['max_depth']}. "
        f"Best of {args.repeat}, both sides in the same run; load average {os.getloadavg()[0]:.1f} at the end.\n",
        "| figure | ntl-spark | baseline | ratio |",
        "|---|---|---|---|",
        f"| read the Parquet files + fit, s (Spark read, cached in the training layout, {workers} worker(s) x "
        f"{threads} thread(s) vs pyarrow read + XGBClassifier n_jobs=2) | "
        f"{best['project_whole']:.1f} | {best['native_whole']:.1f} | {whole_ratio:.2f}x |",
        f"| fit alone, s | {best['project']:.1f} | {best['native']:.1f} | {ratio:.2f}x |",
        f"| read + cache of the input in that layout (before the fit, as in the job), s | {cache_secs:.1f} | | |",
        f"| of which set-up before round 1, s | {best['setup']:.1f} | | |",
        f"| of which boosting rounds, s | {best['rounds']:.1f} | | |",
        f"| of which model back to the driver, s | {best['after']:.1f} | | |",
        f"| training ROC-AUC | {auc['project']:.4f} | {auc['native']:.4f} | |",
    ]
    text = "\n".join(lines) + "\n"
    publish(bench, text, figures={
        "fit_s": best["project"], "native_fit_s": best["native"], "fit_ratio": ratio, "cache_s": cache_secs,
        "whole_s": best["project_whole"], "native_whole_s": best["native_whole"], "whole_ratio": whole_ratio,
        "setup_s": best["setup"], "rounds_s": best["rounds"], "after_s": best["after"],
        "runs": results, "auc": auc,
    }, params={"rows": x.shape[0], "features": x.shape[1], "repeat": args.repeat, "master": cfg.spark.master,
               "workers": workers, "threads": threads, "overrides": args.overrides},
       headlines=[Headline("read + cache + fit / native pyarrow read + fit", whole_ratio, 1.5 if local else None,
                           "lower"),
                  Headline("fit / native XGBClassifier", ratio, None, "lower")],
       load_start=load_start, dry=args.dry)
    return 0


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


if __name__ == "__main__":
    sys.exit(main())
