"""Benchmark: DeepDAICE windows (days x intervals) from raw 15-minute readings into Delta.

Writes synthetic bronze readings (one row per reading, ``READINGS_SCHEMA``)
for ``--meters`` meters and ``--days`` days as a Delta table, then times:

* Spark, raw layout: readings -> windows (one range join + one collect per
  window + numpy in ``mapInArrow``) -> Delta;
* Spark, daily layout: readings -> ``readings_daily`` (built once) and
  ``readings_daily`` -> windows -> Delta (the layout the pipeline uses);
* baseline: one Python process with pyarrow + numpy reading the same Parquet
  files, scattering, imputing/normalising with the same function and writing
  Parquet.

Prints a table (figure, baseline, ratio) and appends it to
``benchmarks/RESULTS.md``.

    .venv/bin/python benchmarks/windows.py                   # 34,474 meters x 90 days x 96
    .venv/bin/python benchmarks/windows.py --meters 2000     # quick
    .venv/bin/python benchmarks/windows.py --big             # 100,000 meters, 4 GiB driver, Spark daily path only
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from ntl_spark import schemas, windows  # noqa: E402
from ntl_spark.config import load_config  # noqa: E402

END = dt.date(2026, 9, 30)
METERS_PER_FILE = 1000
UTC_OFFSET_H = 3  # America/Montevideo, no DST: local wall clock = UTC - 3 h


def generate(raw: Path, meters: int, days: int, intervals: int, seed: int = 5) -> int:
    """Readings Parquet files (meters in blocks of 1,000 per file) and one event per meter; return rows."""
    rng = np.random.default_rng(seed)
    first = np.datetime64(END - dt.timedelta(days=days - 1), "us") + np.timedelta64(UTC_OFFSET_H, "h")
    step = np.timedelta64(86_400_000_000 // intervals, "us")
    per_meter = days * intervals
    ts_one = first + np.arange(per_meter) * step
    shape = 0.4 + np.sin(np.linspace(0, 2 * np.pi, intervals)) ** 2
    (raw / "readings").mkdir(parents=True)
    rows = 0
    for part, lo in enumerate(range(0, meters, METERS_PER_FILE)):
        n = min(METERS_PER_FILE, meters - lo)
        level = rng.lognormal(-1.5, 0.5, size=(n, 1, 1))
        kwh = (level * shape * rng.gamma(4.0, 0.25, size=(n, days, intervals))).astype(np.float64).ravel()
        missing = rng.random(kwh.size) < 0.003
        ids = np.repeat(np.array([f"M{lo + i:07d}" for i in range(n)]), per_meter)
        table = pa.table({
            "meter_id": pa.array(ids),
            "ts": pa.array(np.tile(ts_one, n), pa.timestamp("us", tz="UTC")),
            "kwh": pa.array(kwh, mask=missing),
        })
        pq.write_table(table, raw / "readings" / f"part-{part:05d}.parquet", row_group_size=1_000_000)
        rows += table.num_rows
    ev_ts = np.datetime64(END - dt.timedelta(days=10), "us") + np.timedelta64(UTC_OFFSET_H + 10, "h")
    pq.write_table(pa.table({
        "meter_id": pa.array([f"M{i:07d}" for i in range(meters)]),
        "ts": pa.array(np.full(meters, ev_ts), pa.timestamp("us", tz="UTC")),
        "code": pa.array(["COVER_OPEN"] * meters),
    }), raw / "events.parquet")
    return rows


def numpy_baseline(raw: Path, out: Path, days: int, intervals: int) -> float:
    """Single process: the same files -> windows Parquet with pyarrow + numpy; return seconds."""
    t0 = time.perf_counter()
    out.mkdir(parents=True)
    first_us = np.datetime64(END - dt.timedelta(days=days - 1), "us").astype(np.int64) + UTC_OFFSET_H * 3_600_000_000
    slot_us = 86_400_000_000 // intervals
    codes = list(schemas.EVENT_CODES)
    ev = pq.read_table(raw / "events.parquet")
    ev_meter = ev.column("meter_id").to_numpy(zero_copy_only=False)
    ev_day = (ev.column("ts").cast(pa.int64()).to_numpy() - first_us) // 86_400_000_000
    ev_code = np.array([codes.index(c) for c in ev.column("code").to_pylist()])
    for f in sorted((raw / "readings").glob("*.parquet")):
        t = pq.read_table(f)
        enc = t.column("meter_id").combine_chunks().dictionary_encode()
        ids = enc.dictionary.to_numpy(zero_copy_only=False)
        m = enc.indices.to_numpy()
        pos = (t.column("ts").cast(pa.int64()).to_numpy() - first_us) // slot_us
        kwh = t.column("kwh").to_numpy()
        keep = (pos >= 0) & (pos < days * intervals) & ~np.isnan(kwh)
        x = np.full((len(ids), days * intervals), np.nan)
        x[m[keep], pos[keep]] = kwh[keep]
        values, mask, scale, coverage = windows.impute_normalise(x.reshape(len(ids), days, intervals))
        alarms = np.zeros((len(ids), days, len(codes)), dtype=np.float32)
        sel = np.isin(ev_meter, ids)
        lookup = {k: i for i, k in enumerate(ids)}
        ok = sel & (ev_day >= 0) & (ev_day < days)
        np.add.at(alarms, (np.array([lookup[k] for k in ev_meter[ok]], dtype=int), ev_day[ok], ev_code[ok]), 1)
        n = len(ids)
        width = days * intervals
        off = pa.array(np.arange(0, n * width + 1, width, dtype=np.int32))
        aoff = pa.array(np.arange(0, n * days * len(codes) + 1, days * len(codes), dtype=np.int32))
        pq.write_table(pa.table({
            "meter_id": pa.array(ids), "kwh": pa.ListArray.from_arrays(off, pa.array(values.ravel())),
            "mask": pa.ListArray.from_arrays(off, pa.array(mask.ravel())),
            "alarms": pa.ListArray.from_arrays(aoff, pa.array(alarms.ravel())),
            "scale": pa.array(scale), "coverage": pa.array(coverage),
        }), out / f.name)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=34_474)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--intervals", type=int, default=96)
    ap.add_argument("--root", default="/tmp/ntl-bench-windows")
    ap.add_argument("--big", action="store_true", help="100,000 meters, 4 GiB driver, daily path only, no baseline")
    ap.add_argument("--skip-raw", action="store_true", help="skip the raw-layout Spark path")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--dry", action="store_true", help="print only, do not append to RESULTS.md")
    args = ap.parse_args()
    if args.big:
        args.meters = 100_000
    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)
    raw = root / "raw"
    t0 = time.perf_counter()
    rows = generate(raw, args.meters, args.days, args.intervals)
    print(f"generated {rows:,} readings for {args.meters:,} meters in {time.perf_counter() - t0:.0f} s")

    cfg = load_config("local", [f"paths.root={root}", "spark.driver_memory=4g", "spark.shuffle_partitions=16",
                                f"windows.days={args.days}", f"windows.intervals_per_day={args.intervals}",
                                "spark.conf={spark.ui.enabled: 'false'}"])
    from pyspark.sql import functions as F

    from ntl_spark.session import build_session

    spark = build_session(cfg, app_name="bench-windows")
    readings_path = cfg.paths.table(schemas.READINGS)
    shutil.copytree(raw / "readings", readings_path)
    spark.sql(f"CONVERT TO DELTA parquet.`{readings_path}`")
    readings = spark.read.format("delta").load(readings_path)
    events = spark.read.parquet(str(raw / "events.parquet"))
    alarms = windows.daily_alarms(events, schemas.EVENT_CODES)
    keys = readings.select("meter_id").distinct().select("meter_id", F.lit(END).alias("end_date")).cache()
    n_keys = keys.count()
    codes = list(schemas.EVENT_CODES)
    timings: dict[str, float] = {}

    def write_windows(series, layout: str, name: str) -> None:
        with windows.arrow_batch_rows(spark, cfg.windows.batch_rows):
            out = windows.assemble_windows(keys, series, alarms, args.days, args.intervals, codes, layout)
            out.write.format("delta").mode("overwrite").save(str(root / name))

    if not args.skip_raw and not args.big:
        t = time.perf_counter()
        write_windows(readings, "raw", "windows_raw")
        timings["raw"] = time.perf_counter() - t
        print(f"spark raw -> windows: {timings['raw']:.1f} s")
    t = time.perf_counter()
    daily_path = cfg.paths.table(schemas.READINGS_DAILY)
    windows.daily_readings(readings, args.intervals).write.format("delta").mode("overwrite").save(daily_path)
    timings["daily_build"] = time.perf_counter() - t
    print(f"spark readings -> readings_daily: {timings['daily_build']:.1f} s")
    t = time.perf_counter()
    write_windows(spark.read.format("delta").load(daily_path), "daily", "windows_daily")
    timings["daily"] = time.perf_counter() - t
    print(f"spark readings_daily -> windows: {timings['daily']:.1f} s")
    check = spark.read.format("delta").load(str(root / "windows_daily"))
    n_win = check.count()
    width = check.select(F.size("kwh")).first()[0]
    spark.stop()
    if n_win != n_keys or width != args.days * args.intervals:
        print(f"unexpected output: {n_win} windows of {width} values", file=sys.stderr)
        return 1
    if not args.big:
        timings["numpy"] = numpy_baseline(raw, root / "windows_numpy", args.days, args.intervals)
        print(f"numpy baseline: {timings['numpy']:.1f} s")

    size = f"{n_win:,} windows of {args.days}x{args.intervals} from {rows:,} readings"
    lines = [f"\n## DeepDAICE windows (benchmarks/windows.py), {dt.date.today().isoformat()}\n",
             f"Machine: {os.cpu_count()} cores, 24 GiB, {platform.machine()}, Python {platform.python_version()}; "
             f"Spark local[2], driver 4 GiB; {size}; one run (shared machine, load average noted below).\n",
             "| figure | ntl-spark | baseline | ratio |", "|---|---|---|---|"]
    base = timings.get("numpy")

    def row(name: str, key: str) -> None:
        if key not in timings:
            return
        ratio = f"{timings[key] / base:.2f}x" if base else "-"
        lines.append(f"| {name} | {timings[key]:.1f} s | {f'{base:.1f} s (numpy, 1 process)' if base else '-'} "
                     f"| {ratio} |")

    row("readings -> windows (raw layout, grouping readings each time)", "raw")
    row("readings_daily -> windows (daily layout, used by the pipeline)", "daily")
    row("readings -> readings_daily (once per readings version)", "daily_build")
    timings["daily_total"] = timings["daily_build"] + timings["daily"]
    row("readings -> readings_daily -> windows (both steps)", "daily_total")
    lines.append(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}.\n")
    text = "\n".join(lines)
    print(text)
    if not args.dry:
        with open(REPO / "benchmarks" / "RESULTS.md", "a") as fh:
            fh.write(text + "\n")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
