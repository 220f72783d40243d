"""Benchmark: DeepDAICE windows (days x intervals) into Delta, Spark vs one numpy process.

The windows job reads readings in the meter-day layout (``readings_daily``:
one row per meter and day with its intervals, the HBase row shape); the
per-reading bronze table is pivoted into it once per readings version. Both
steps are timed against a single-process pyarrow + numpy baseline that reads
the same files and writes the same output:

* windows: ``readings_daily`` Delta (+ one alarm per meter) -> ``windows``
  Delta, as the windows job does it (``windows.assemble_windows`` +
  ``windows_frame``); baseline: the same Parquet files, file by file (each
  holds whole meters, its best case), same imputation, Parquet out;
* pivot (``--pivot``): per-reading ``readings`` Delta -> ``readings_daily``
  Delta, as the windows job does it (``windows.refresh_readings_daily``), with
  the tasks reading the readings' Parquet files with pyarrow (default) and
  through Spark rows; baseline: the same Parquet files, file by file,
  scattered with numpy, Parquet out.

* job (``--job``): the windows job's body (``windows.run``) from the per-reading
  ``readings`` Delta to the ``windows`` Delta and the statistics of what it
  wrote, against one numpy process doing the same (pivot, windows, statistics);
  the peak resident memory of the JVM and of the Python workers is sampled
  from /proc during the step, and the baseline's too.

Prints a table (figure, baseline, ratio) and, unless ``--dry``, appends the
run to ``benchmarks/windows.jsonl`` and regenerates ``benchmarks/RESULTS.md``.
Targets: windows from the per-reading table in <= 2 minutes at full size on
2 cores, and <= 2x the numpy baseline.

    .venv/bin/python benchmarks/windows.py                    # 34,474 meters x 90 days x 96
    .venv/bin/python benchmarks/windows.py --pivot            # + the per-reading -> meter-day pivot
    .venv/bin/python benchmarks/windows.py --meters 2000      # quick
    .venv/bin/python benchmarks/windows.py --big [--pivot]    # 100,000 meters, 4 GiB driver, no baseline
    .venv/bin/python benchmarks/windows.py --job              # the windows job end to end, with statistics
                                                              # and JVM + Python worker memory
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import resource
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

from results import Headline, MemorySampler, publish  # noqa: E402

from ntl_spark import lakehouse, schemas, windows  # noqa: E402
from ntl_spark.config import load_config  # noqa: E402
from ntl_spark.sparkutil import arrow_batch_rows  # noqa: E402

END = dt.date(2026, 9, 30)
METERS_PER_FILE = 1000
UTC_OFFSET_H = 3  # America/Montevideo, no DST: local wall clock = UTC - 3 h
EPOCH = dt.date(1970, 1, 1)
FULL_METERS = 34_474  # the full size, the one the 2-minute target is set for


def _ids(lo: int, n: int) -> np.ndarray:
    return np.array([f"M{lo + i:07d}" for i in range(n)])


def _lists(values: np.ndarray, width: int, typ: pa.DataType, mask: np.ndarray | None = None) -> pa.ListArray:
    rows = values.size // width
    off = pa.array(np.arange(rows + 1, dtype=np.int32) * np.int32(width))
    return pa.ListArray.from_arrays(off, pa.array(values.ravel(), typ, mask=None if mask is None else mask.ravel()))


def generate(raw: Path, meters: int, days: int, intervals: int, long: bool, seed: int = 5) -> int:
    """Meter-day Parquet files (1,000 meters a file), per-reading files when ``long``, events; return readings."""
    rng = np.random.default_rng(seed)
    first = END - dt.timedelta(days=days - 1)
    shape = 0.4 + np.sin(np.linspace(0, 2 * np.pi, intervals)) ** 2
    (raw / "daily").mkdir(parents=True)
    if long:
        (raw / "readings").mkdir(parents=True)
        first_us = np.datetime64(first, "us") + np.timedelta64(UTC_OFFSET_H, "h")
        ts_one = first_us + np.arange(days * intervals) * np.timedelta64(86_400_000_000 // intervals, "us")
    day_one = np.arange(days, dtype=np.int32) + np.int32((first - EPOCH).days)
    for part, lo in enumerate(range(0, meters, METERS_PER_FILE)):
        n = min(METERS_PER_FILE, meters - lo)
        level = rng.lognormal(-1.5, 0.5, size=(n, 1, 1))
        kwh = (level * shape * rng.gamma(4.0, 0.25, size=(n, days, intervals))).astype(np.float32)
        missing = rng.random(kwh.shape) < 0.003
        ids = _ids(lo, n)
        pq.write_table(pa.table({
            "meter_id": pa.array(np.repeat(ids, days)),
            "day": pa.array(np.tile(day_one, n), pa.int32()).cast(pa.date32()),
            "kwh": _lists(kwh, intervals, pa.float32(), missing),
        }), raw / "daily" / f"part-{part:05d}.parquet", row_group_size=100_000)
        if long:
            pq.write_table(pa.table({
                "meter_id": pa.array(np.repeat(ids, days * intervals)),
                "ts": pa.array(np.tile(ts_one, n), pa.timestamp("us", tz="UTC")),
                "kwh": pa.array(kwh.astype(np.float64).ravel(), mask=missing.ravel()),
            }), raw / "readings" / f"part-{part:05d}.parquet", row_group_size=1_000_000)
    (raw / "events").mkdir()
    ev_ts = np.datetime64(END - dt.timedelta(days=10), "us") + np.timedelta64(UTC_OFFSET_H + 10, "h")
    pq.write_table(pa.table({
        "meter_id": pa.array(_ids(0, meters)),
        "ts": pa.array(np.full(meters, ev_ts), pa.timestamp("us", tz="UTC")),
        "code": pa.array(["COVER_OPEN"] * meters),
    }), raw / "events" / "part-00000.parquet")
    return meters * days * intervals


def numpy_windows(raw: Path, out: Path, days: int, intervals: int, daily: Path | None = None,
                  stats: dict | None = None) -> float:
    """One process: meter-day files -> windows Parquet (kwh, missing, alarms, scale, coverage); return seconds.

    ``daily``: the meter-day files (default ``raw/daily``); ``stats``: filled with the windows job's
    statistics (``windows.window_statistics``) computed from the arrays.
    """
    t0 = time.perf_counter()
    parts: dict[str, list] = {"coverage": [], "scale": [], "missing": [], "alarmed": []}
    out.mkdir(parents=True)
    first = (END - dt.timedelta(days=days - 1) - EPOCH).days
    codes = list(schemas.EVENT_CODES)
    ev = pq.read_table(raw / "events")
    ev_meter = ev.column("meter_id").to_numpy(zero_copy_only=False)
    ev_day = ((ev.column("ts").cast(pa.int64()).to_numpy() // 1_000_000 - UTC_OFFSET_H * 3600) // 86_400) - first
    ev_code = np.array([codes.index(c) for c in ev.column("code").to_pylist()])
    for f in sorted((daily or raw / "daily").glob("*.parquet")):
        t = pq.read_table(f)
        enc = t.column("meter_id").combine_chunks().dictionary_encode()
        ids = enc.dictionary.to_numpy(zero_copy_only=False)
        m = enc.indices.to_numpy()
        d = t.column("day").cast(pa.int32()).to_numpy() - first
        vals = t.column("kwh").combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, intervals)
        keep = (d >= 0) & (d < days)
        x = np.full((len(ids), days, intervals), np.nan)
        x[m[keep], d[keep]] = vals[keep]
        values, mask, scale, coverage = windows.impute_normalise(x)
        alarms = np.zeros((len(ids), days, len(codes)), dtype=np.float32)
        lookup = {k: i for i, k in enumerate(ids)}
        ok = np.isin(ev_meter, ids) & (ev_day >= 0) & (ev_day < days)
        np.add.at(alarms, (np.array([lookup[k] for k in ev_meter[ok]], dtype=int), ev_day[ok], ev_code[ok]), 1)
        n = len(ids)
        rows, pos = np.nonzero(mask.reshape(n, -1))
        moff = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=n), out=moff[1:])
        parts["coverage"].append(coverage)
        parts["scale"].append(scale)
        parts["missing"].append(moff[-1])
        parts["alarmed"].append(int((alarms.reshape(n, -1) > 0).any(axis=1).sum()))
        pq.write_table(pa.table({
            "meter_id": pa.array(ids),
            "kwh": _lists(values, days * intervals, pa.float32()),
            "missing": pa.ListArray.from_arrays(pa.array(moff), pa.array(pos.astype(np.int32))),
            "alarms": _lists(alarms, days * len(codes), pa.float32()),
            "scale": pa.array(scale), "coverage": pa.array(coverage),
        }), out / f.name)
    if stats is not None:
        cov, sc = np.concatenate(parts["coverage"]), np.concatenate(parts["scale"])
        stats.update(windows=int(cov.size), coverage_mean=float(cov.mean()),
                     coverage_p05=float(np.quantile(cov, 0.05)), coverage_p50=float(np.quantile(cov, 0.5)),
                     missing_share=float(sum(parts["missing"]) / (cov.size * days * intervals)),
                     scale_p50=float(np.quantile(sc, 0.5)), scale_p99=float(np.quantile(sc, 0.99)),
                     with_alarms=int(sum(parts["alarmed"])))
    return time.perf_counter() - t0


def numpy_pivot(raw: Path, out: Path, days: int, intervals: int) -> float:
    """One process: per-reading files -> meter-day Parquet; return seconds."""
    t0 = time.perf_counter()
    out.mkdir(parents=True)
    first_s = (END - dt.timedelta(days=days - 1) - EPOCH).days * 86_400
    slot_s = 86_400 // intervals
    for f in sorted((raw / "readings").glob("*.parquet")):
        t = pq.read_table(f)
        enc = t.column("meter_id").combine_chunks().dictionary_encode()
        ids = enc.dictionary.to_numpy(zero_copy_only=False)
        local_s = t.column("ts").cast(pa.int64()).to_numpy() // 1_000_000 - UTC_OFFSET_H * 3600
        pos = (local_s - first_s) // slot_s
        kwh = t.column("kwh").to_numpy(zero_copy_only=False)
        ok = (pos >= 0) & (pos < days * intervals)
        x = np.full((len(ids), days * intervals), np.nan, dtype=np.float32)
        x[enc.indices.to_numpy()[ok], pos[ok]] = kwh[ok]
        day = np.arange(days, dtype=np.int32) + np.int32(first_s // 86_400)
        pq.write_table(pa.table({
            "meter_id": pa.array(np.repeat(ids, days)),
            "day": pa.array(np.tile(day, len(ids)), pa.int32()).cast(pa.date32()),
            "kwh": _lists(x, intervals, pa.float32(), np.isnan(x)),
        }), out / f.name)
    return time.perf_counter() - t0


def jvm_heap_limit_mb(spark) -> float:
    """The driver JVM's maximum heap (what ``spark.driver.memory`` gave it), MB."""
    return spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory() / 2**20


def _numpy_job(raw: Path, root: Path, days: int, intervals: int, queue) -> None:
    """Child process: the numpy baseline of the windows job (pivot, windows, statistics)."""
    stats: dict = {}
    pivot = numpy_pivot(raw, root / "daily_numpy", days, intervals)
    win = numpy_windows(raw, root / "windows_numpy", days, intervals, daily=root / "daily_numpy", stats=stats)
    queue.put({"pivot": pivot, "windows": win, "stats": stats})


def bench_job(args: argparse.Namespace, raw: Path, root: Path, rows: int, load_start: tuple) -> int:
    """The windows job end to end (``windows.run``) against one numpy process, with worker memory."""
    import multiprocessing

    from pyspark.sql import functions as F

    from ntl_spark.session import build_session

    cfg = load_config("local", [f"paths.root={root}", f"spark.driver_memory={args.driver_memory}",
                                f"windows.days={args.days}", f"windows.intervals_per_day={args.intervals}",
                                f"windows.scoring_end={END.isoformat()}", "windows.training=false",
                                "spark.conf={spark.ui.enabled: 'false'}"])
    spark = build_session(cfg, app_name="bench-windows-job")
    for name, folder in ((schemas.READINGS, raw / "readings"), (schemas.EVENTS, raw / "events")):
        path = cfg.paths.table(name)
        shutil.copytree(folder, path)
        spark.sql(f"CONVERT TO DELTA parquet.`{path}`")
    # one smart-meter customer per meter (every meter has its one alarm in events)
    ids = spark.read.format("delta").load(cfg.paths.table(schemas.EVENTS)).select("meter_id").distinct()
    customers = ids.select(
        F.concat(F.lit("C"), "meter_id").alias("customer_id"), "meter_id", F.lit("smart").alias("meter_type"),
        F.lit("SUR").alias("region"), F.lit("residential").alias("tariff"), F.lit(5.0).alias("contracted_kw"),
        F.lit(None).cast("string").alias("activity"), F.lit(None).cast("double").alias("latitude"),
        F.lit(None).cast("double").alias("longitude"), F.lit(dt.date(2020, 1, 1)).alias("connected_on"),
        F.lit("active").alias("status"))
    lakehouse.write(customers, cfg.paths.table(schemas.CUSTOMERS), schemas.CUSTOMERS, schema=schemas.CUSTOMERS_SCHEMA)
    time.sleep(1.0)  # the set-up's Python workers go idle before the step is sampled
    t = time.perf_counter()
    with MemorySampler() as spark_mem:
        result = windows.run(spark, cfg)
    spark_s = time.perf_counter() - t
    heap_mb = jvm_heap_limit_mb(spark)
    spark.stop()
    n_win = result["score_windows"] + result["score_low_coverage"]
    spark_stats = result["statistics"].get("score", {})
    print(f"spark windows job (readings -> readings_daily -> windows -> statistics): {spark_s:.1f} s, "
          f"{n_win:,} windows; memory peaks {spark_mem.peaks}")
    if n_win != args.meters:
        print(f"unexpected output: {n_win} windows for {args.meters} meters", file=sys.stderr)
        return 1

    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: its memory is the baseline's alone
    queue = ctx.Queue()
    t = time.perf_counter()
    child = ctx.Process(target=_numpy_job, args=(raw, root, args.days, args.intervals, queue))
    child.start()
    with MemorySampler(root=child.pid, include_root=True) as numpy_mem:
        got = queue.get()
        child.join()
    numpy_s = time.perf_counter() - t
    print(f"numpy (pivot {got['pivot']:.1f} s + windows and statistics {got['windows']:.1f} s): {numpy_s:.1f} s; "
          f"peak RSS {numpy_mem.peaks['total_mb']:,.0f} MB")
    for key in ("coverage_mean", "missing_share", "scale_p50"):
        a, b = spark_stats.get(key), got["stats"].get(key)
        if a is None or b is None or abs(a - b) > 1e-3 * max(1.0, abs(b)):
            print(f"statistics differ: {key} Spark {a} vs numpy {b}", file=sys.stderr)
            return 1
    peak_driver_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ratio = spark_s / numpy_s
    full = args.meters == FULL_METERS and (args.days, args.intervals) == (90, 96)
    pk = spark_mem.peaks
    text = "\n".join([
        f"\n### Windows job with statistics (benchmarks/windows.py --job), {dt.date.today().isoformat()}\n",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; Spark "
        f"local[{os.cpu_count()}], driver {args.driver_memory}; {n_win:,} windows of {args.days}x{args.intervals} "
        f"(+ {len(schemas.EVENT_CODES)} alarm channels) from {rows:,} per-reading rows (0.3 % missing, one alarm "
        f"per meter); load average {load_start[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.\n",
        "The Spark side is the windows job's body (`windows.run`): per-reading `readings` Delta -> `readings_daily` "
        "(pivot, partitioned by day) -> `windows` Delta -> the statistics of the written windows "
        "(`windows.window_statistics`: counts, coverage, missing share, scale, alarm windows). The baseline is one "
        "numpy process doing the same from the same Parquet files (pivot, windows, statistics, Parquet out); the "
        "statistics of both sides are compared before the times are reported.\n",
        "| step | ntl-spark (Spark) | baseline (numpy, 1 process) | ratio |", "|---|---|---|---|",
        f"| raw readings -> windows Delta with statistics | {spark_s:.1f} s | {numpy_s:.1f} s | {ratio:.2f}x |",
        "\nPeak resident memory, sampled every 0.2 s from /proc during the step:\n",
        "| process | peak RSS |", "|---|---|",
        f"| Spark JVM (driver + local executor, heap limit {heap_mb:,.0f} MB) | {pk['jvm_mb']:,.0f} MB |",
        f"| Python workers (summed; at most {pk['python_workers']:.0f} at once) | {pk['python_workers_mb']:,.0f} MB |",
        f"| JVM + Python workers at the same sample (peak) | {pk['total_mb']:,.0f} MB |",
        f"| benchmark driver process (Python, lifetime peak) | {peak_driver_mb:,.0f} MB |",
        f"| numpy baseline process | {numpy_mem.peaks['total_mb']:,.0f} MB |",
        f"\nWindow statistics (Spark): {', '.join(f'{k} {v:.4g}' for k, v in spark_stats.items() if k != 'purpose')}.\n",
    ])
    publish("windows", text, figures={
        "seconds": {"job": spark_s, "numpy_job": numpy_s, "numpy_pivot": got["pivot"],
                    "numpy_windows_stats": got["windows"]},
        "windows": n_win, "readings": rows, "driver_max_heap_mb": heap_mb, "peak_rss_mb": peak_driver_mb,
        "memory_mb": {**pk, "numpy": numpy_mem.peaks["total_mb"]}, "statistics": spark_stats,
    }, params={"meters": args.meters, "days": args.days, "intervals": args.intervals, "job": True,
               "driver_memory": args.driver_memory},
       headlines=[Headline("windows job from raw readings with statistics, s", spark_s, 120.0 if full else None),
                  Headline("windows job with statistics, Spark / numpy", ratio, 2.0),
                  Headline("windows job peak RSS, JVM + Python workers, MB", pk["total_mb"])],
       load_start=load_start, dry=args.dry)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=FULL_METERS)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--intervals", type=int, default=96)
    ap.add_argument("--root", default="/tmp/ntl-bench-windows")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--big", action="store_true", help="100,000 meters, no baseline (with --pivot: default reader only)")
    ap.add_argument("--pivot", action="store_true", help="also time the per-reading -> meter-day pivot")
    ap.add_argument("--job", action="store_true",
                    help="time the windows job end to end (raw readings -> windows Delta -> statistics) "
                         "against one numpy process, with JVM and Python worker memory")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--dry", action="store_true", help="print only; write neither windows.jsonl nor RESULTS.md")
    args = ap.parse_args()
    load_start = os.getloadavg()
    if args.big:
        args.meters = 100_000
    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)
    raw = root / "raw"
    t0 = time.perf_counter()
    rows = generate(raw, args.meters, args.days, args.intervals, long=args.pivot or args.job)
    print(f"generated {rows:,} readings for {args.meters:,} meters in {time.perf_counter() - t0:.0f} s")
    if args.job:
        return bench_job(args, raw, root, rows, load_start)

    cfg = load_config("local", [f"paths.root={root}", f"spark.driver_memory={args.driver_memory}",
                                f"windows.days={args.days}", f"windows.intervals_per_day={args.intervals}",
                                "spark.conf={spark.ui.enabled: 'false'}"])
    from pyspark.sql import functions as F

    from ntl_spark.session import build_session

    spark = build_session(cfg, app_name="bench-windows")
    codes = list(schemas.EVENT_CODES)
    timings: dict[str, float] = {}
    daily_path = cfg.paths.table(schemas.READINGS_DAILY)
    shutil.copytree(raw / "daily", daily_path)
    spark.sql(f"CONVERT TO DELTA parquet.`{daily_path}`")
    daily = spark.read.format("delta").load(daily_path)
    alarms = windows.daily_alarms(spark.read.parquet(str(raw / "events")), codes)
    keys = (daily.select("meter_id").distinct()
            .select(F.lit("score").alias("purpose"), F.lit(END).alias("end_date"), "meter_id",
                    F.concat(F.lit("C"), "meter_id").alias("customer_id"), F.lit("SUR").alias("region"),
                    F.lit(None).cast("string").alias("inspection_id"), F.lit(None).cast("int").alias("label"))
            .cache())
    n_keys = keys.count()
    wc = cfg.windows
    passthrough = ["purpose", "customer_id", "region", "inspection_id", "label"]
    t = time.perf_counter()
    with arrow_batch_rows(spark, wc.batch_rows * (wc.days + 2)):
        assembled = windows.assemble_windows(keys, daily, alarms, args.days, args.intervals, codes, passthrough)
        out = windows.windows_frame(assembled, args.days, args.intervals, codes, lakehouse.lineage_column({}))
        out.write.format("delta").mode("overwrite").partitionBy("purpose").save(str(root / "windows"))
    timings["windows"] = time.perf_counter() - t
    print(f"spark readings_daily -> windows: {timings['windows']:.1f} s")
    check = spark.read.format("delta").load(str(root / "windows"))
    n_win = check.count()
    width = check.select(F.size("kwh")).first()[0]
    if args.pivot:
        readings_path = cfg.paths.table(schemas.READINGS)
        shutil.copytree(raw / "readings", readings_path)
        spark.sql(f"CONVERT TO DELTA parquet.`{readings_path}`")
        readers = (("pivot", "auto"),) if args.big else (("pivot", "auto"), ("pivot_rows", "spark"))
        for key, reader in readers:
            run_cfg = dataclasses.replace(cfg, windows=dataclasses.replace(wc, pivot_reader=reader))
            shutil.rmtree(daily_path)
            t = time.perf_counter()
            windows.refresh_readings_daily(spark, run_cfg)  # what the windows job runs
            timings[key] = time.perf_counter() - t
            print(f"spark readings -> readings_daily (pivot_reader={reader}): {timings[key]:.1f} s")
    heap_mb = jvm_heap_limit_mb(spark)
    spark.stop()
    if n_win != n_keys or width != args.days * args.intervals:
        print(f"unexpected output: {n_win} windows of {width} values", file=sys.stderr)
        return 1
    if not args.big:
        timings["numpy_windows"] = numpy_windows(raw, root / "windows_numpy", args.days, args.intervals)
        print(f"numpy readings_daily -> windows: {timings['numpy_windows']:.1f} s")
    if args.pivot and not args.big:
        timings["numpy_pivot"] = numpy_pivot(raw, root / "daily_numpy", args.days, args.intervals)
        print(f"numpy readings -> readings_daily: {timings['numpy_pivot']:.1f} s")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    lines = [f"\n## DeepDAICE windows (benchmarks/windows.py{' --big' if args.big else ''}{' --pivot' if args.pivot else ''}), "
             f"{dt.date.today().isoformat()}\n",
             f"Machine: {os.cpu_count()} cores, 24 GiB, {platform.machine()}, Python {platform.python_version()}; "
             f"Spark local[{os.cpu_count()}], driver {args.driver_memory}; {n_win:,} windows of "
             f"{args.days}x{args.intervals} (+ {len(codes)} alarm channels) from {rows:,} readings; one run; "
             f"load average at the end {os.getloadavg()[0]:.1f}.\n",
             "| step | ntl-spark (Spark) | baseline (numpy, 1 process) | ratio |", "|---|---|---|---|"]
    if "pivot" in timings:
        timings["total"] = timings["pivot"] + timings["windows"]
        if "numpy_windows" in timings:
            timings["numpy_total"] = timings["numpy_pivot"] + timings["numpy_windows"]
    for name, key, base in (("readings_daily -> windows Delta (the windows job)", "windows", "numpy_windows"),
                            ("readings -> readings_daily, tasks read the files with pyarrow (pivot_reader=auto, "
                             "default)", "pivot", "numpy_pivot"),
                            ("readings -> readings_daily through Spark rows (pivot_reader=spark)", "pivot_rows",
                             "numpy_pivot"),
                            ("per-reading readings -> windows (pivot + windows)", "total", "numpy_total")):
        if key in timings:
            b = timings.get(base)
            lines.append(f"| {name} | {timings[key]:.1f} s | {f'{b:.1f} s' if b else '-'} | "
                         f"{f'{timings[key] / b:.2f}x' if b else '-'} |")
    lines.append(f"\nSpark driver JVM max heap {heap_mb:,.0f} MB (driver memory {args.driver_memory}); benchmark "
                 f"process peak RSS {peak_mb:,.0f} MB; windows per second (Spark) {n_win / timings['windows']:,.0f}.\n")
    text = "\n".join(lines)
    headlines = [Headline("readings_daily -> windows, s", timings["windows"])]
    if "numpy_windows" in timings:
        headlines.append(Headline("readings_daily -> windows, Spark / numpy",
                                  timings["windows"] / timings["numpy_windows"], 2.0))
    if "total" in timings:
        full = args.meters == FULL_METERS and (args.days, args.intervals) == (90, 96)
        headlines.append(Headline("readings -> windows (pivot + windows), s", timings["total"],
                                  120.0 if full else None))
    if "numpy_total" in timings:
        headlines.append(Headline("readings -> windows (pivot + windows), Spark / numpy",
                                  timings["total"] / timings["numpy_total"], 2.0))
    publish("windows", text, figures={
        "seconds": timings, "windows": n_win, "readings": rows, "windows_per_s": n_win / timings["windows"],
        "driver_max_heap_mb": heap_mb, "peak_rss_mb": peak_mb,
    }, params={"meters": args.meters, "days": args.days, "intervals": args.intervals, "big": args.big,
               "pivot": args.pivot, "driver_memory": args.driver_memory},
       headlines=headlines, load_start=load_start, dry=args.dry)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
