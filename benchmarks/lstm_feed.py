"""Benchmark: DeepDAICE training throughput fed by Petastorm vs an in-memory numpy array.

Builds ``--windows`` synthetic windows (90 x 96 kWh + 5 alarm codes, 8 %
irregular) as a Spark DataFrame, then trains the default LSTM for
``--epochs`` epochs three ways and reports samples/s of the last epoch:

* baseline: ``model.fit`` on numpy arrays held in memory;
* Petastorm, defaults: ``converter.make_tf_dataset`` (per-row flat_map + batch);
* Petastorm, tuned: the pipeline's feed (``deep.petastorm_dataset``: whole
  row groups through tf.data, re-cut with ``rebatch``, reader threads,
  autotuned prefetch, converter row groups of ``--row-group-mb``).

Prints a table (figure, baseline, ratio) and, unless ``--dry``, appends the run
to ``benchmarks/lstm_feed.jsonl`` and regenerates ``benchmarks/RESULTS.md``.

    .venv/bin/python benchmarks/lstm_feed.py                       # 5,000 windows, 2 epochs
    .venv/bin/python benchmarks/lstm_feed.py --windows 20000 --epochs 3   # e.g. on a GPU machine
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from results import Headline, publish  # noqa: E402

from ntl_spark import deep, schemas  # noqa: E402
from ntl_spark.config import load_config  # noqa: E402


def synthetic(n: int, days: int, intervals: int, codes: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised windows (irregular ones drop in their last 20 days), alarm counts and labels."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.08).astype(np.float32)
    kwh = rng.gamma(4.0, 0.25, size=(n, days, intervals)).astype(np.float32)
    kwh[y == 1, -20:] *= 0.4
    kwh /= kwh.mean(axis=(1, 2), keepdims=True)
    alarms = (rng.random((n, days, codes)) < 0.01).astype(np.float32)
    return kwh.reshape(n, -1), alarms.reshape(n, -1), y


class EpochTimer:
    """Keras callback keeping the wall time of every epoch."""

    def __init__(self) -> None:
        import keras

        class _Cb(keras.callbacks.Callback):
            def on_epoch_begin(cb, epoch, logs=None):  # noqa: N805
                cb.t = time.perf_counter()

            def on_epoch_end(cb, epoch, logs=None):  # noqa: N805
                self.times.append(time.perf_counter() - cb.t)

        self.times: list[float] = []
        self.callback = _Cb()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--intervals", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--units", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2, help="Petastorm reader threads (tuned feed)")
    ap.add_argument("--row-group-mb", type=int, default=8)
    ap.add_argument("--skip-default", action="store_true", help="skip the make_tf_dataset (defaults) run")
    ap.add_argument("--root", default="/tmp/ntl-bench-lstm")
    ap.add_argument("--dry", action="store_true", help="print only; write neither lstm_feed.jsonl nor RESULTS.md")
    args = ap.parse_args()
    load_start = os.getloadavg()

    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)
    codes = len(schemas.EVENT_CODES)
    cfg = load_config("local", [f"paths.root={root}", f"deep.units={args.units}", f"deep.batch_size={args.batch_size}",
                                "spark.conf={spark.ui.enabled: 'false'}"])
    shape = deep.Shape(args.days, args.intervals, schemas.EVENT_CODES)
    kwh, alarms, y = synthetic(args.windows, args.days, args.intervals, codes)
    steps = math.ceil(args.windows / args.batch_size)

    from ntl_spark.session import build_session

    spark = build_session(cfg, app_name="bench-lstm-feed")
    import pyarrow as pa
    import pyarrow.parquet as pq

    # the same rows as a windows-like Parquet table read by Spark
    src = root / "windows_src"
    src.mkdir(parents=True)
    n_values, n_alarms = args.days * args.intervals, args.days * codes
    for i, lo in enumerate(range(0, args.windows, 1000)):
        hi = min(lo + 1000, args.windows)
        off = pa.array(np.arange(0, (hi - lo) * n_values + 1, n_values, dtype=np.int32))
        aoff = pa.array(np.arange(0, (hi - lo) * n_alarms + 1, n_alarms, dtype=np.int32))
        pq.write_table(pa.table({
            "kwh": pa.ListArray.from_arrays(off, pa.array(kwh[lo:hi].ravel())),
            "alarms": pa.ListArray.from_arrays(aoff, pa.array(alarms[lo:hi].ravel())),
            "label": pa.array(y[lo:hi].astype(np.int32)),
        }), src / f"part-{i:04d}.parquet")
    df = spark.read.parquet(str(src))
    deep.set_cache_dir(spark, cfg)
    rates: dict[str, float] = {}

    def fit(name: str, data, **kw) -> None:
        model = deep.build_model(shape, cfg.deep)
        timer = EpochTimer()
        model.fit(data, epochs=args.epochs, callbacks=[timer.callback], verbose=0, **kw)
        rates[name] = args.windows / timer.times[-1]
        print(f"{name}: epochs {[round(t, 1) for t in timer.times]} s -> {rates[name]:,.0f} samples/s (last epoch)")

    x_np = deep.to_model_input_np(kwh, alarms, shape)
    fit("numpy", x_np, y=y.reshape(-1, 1), batch_size=args.batch_size, shuffle=True)
    del x_np

    t = time.perf_counter()
    converter = deep.make_converter(df, args.row_group_mb)
    materialise = time.perf_counter() - t
    try:
        if not args.skip_default:
            with converter.make_tf_dataset(batch_size=args.batch_size, num_epochs=None) as ds:
                ds = ds.map(lambda b: (deep.to_model_input(b.kwh, b.alarms, shape), b.label))
                fit("petastorm_default", ds, steps_per_epoch=steps)
        with deep.petastorm_dataset(converter, shape, args.batch_size, None, args.workers, 0, True, 1) as ds:
            fit("petastorm_tuned", ds, steps_per_epoch=steps)
    finally:
        converter.delete()
        spark.stop()

    base = rates["numpy"]
    lines = [f"\n## DeepDAICE training feed (benchmarks/lstm_feed.py), {dt.date.today().isoformat()}\n",
             f"Machine: {os.cpu_count()} cores, 24 GiB, {platform.machine()}, Python {platform.python_version()}, "
             f"CPU TensorFlow; {args.windows:,} windows of {args.days}x{args.intervals} + {codes} alarm codes, "
             f"LSTM({args.units}), batch {args.batch_size}, last of {args.epochs} epochs; converter row groups "
             f"{args.row_group_mb} MiB, materialised in {materialise:.1f} s (once per training run).\n",
             "| figure | ntl-spark | baseline | ratio |", "|---|---|---|---|"]
    if "petastorm_default" in rates:
        lines.append(f"| samples/s, Petastorm make_tf_dataset defaults | {rates['petastorm_default']:,.0f} | "
                     f"{base:,.0f} (numpy in memory) | {rates['petastorm_default'] / base:.2f}x |")
    lines.append(f"| samples/s, Petastorm tuned feed (row groups + rebatch, {args.workers} reader threads) | "
                 f"{rates['petastorm_tuned']:,.0f} | {base:,.0f} (numpy in memory) | "
                 f"{rates['petastorm_tuned'] / base:.2f}x |")
    lines.append(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}.\n")
    text = "\n".join(lines)
    headlines = [Headline("Petastorm tuned feed / numpy, samples/s", rates["petastorm_tuned"] / base, 0.9, "higher")]
    if "petastorm_default" in rates:
        headlines.append(Headline("Petastorm defaults / numpy, samples/s", rates["petastorm_default"] / base, None,
                                  "higher"))
    publish("lstm_feed", text, figures={"samples_per_s": rates, "materialise_s": materialise},
            params={"windows": args.windows, "epochs": args.epochs, "days": args.days, "intervals": args.intervals,
                    "batch_size": args.batch_size, "units": args.units, "workers": args.workers,
                    "row_group_mb": args.row_group_mb, "skip_default": args.skip_default},
            headlines=headlines, load_start=load_start, dry=args.dry)
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
