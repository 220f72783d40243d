"""Benchmark: the daily increment of smart-meter readings against rebuilding the year.

A year of 15-minute readings (``--meters`` x ``--days`` x 96) sits in the
bronze ``readings`` Delta table and in ``readings_daily`` (the meter-day
layout the windows read). A new day arrives:

* increment (the project): the ``ingest`` job for that one day (a Parquet
  source, ``ingest.period_start = period_end = the day``: checks, quarantine,
  ``replaceWhere`` of that day, ``ingest_log``) and then
  ``windows.refresh_readings_daily``, which re-pivots only the days the
  ingest replaced (from ``ingest_log.replaced_start/end``) and replaces those
  ``day`` partitions;
* baseline: rebuilding ``readings_daily`` from the whole year, which is what
  every readings change cost before (the whole-table pivot, with the tasks
  reading the Parquet files with pyarrow, its fastest path); and, with
  ``--ingest-year`` (the default), rebuilding from the source: the same
  ``ingest`` job over the whole year (the year's Parquet files, every check)
  before that pivot, so both sides start from the source.

The data gate's readings part (``validate_data`` with ``validation.tables``
[readings] and the readings rules: column statistics and the per meter-day
checks) is timed the same way: over the whole year as it ran before
(``validation.incremental`` {}), against the run after the day's ingest that
recomputes only that day (``validation.incremental`` {readings: ts}, its
per-day tables seeded by one untimed run over the year).

Prints both times and their ratio (target: the increment at least 50x faster
than rebuilding the year), records them and regenerates RESULTS.md
(``benchmarks/results.py``).

    .venv/bin/python benchmarks/daily_increment.py                  # 3,000 meters x 365 days
    .venv/bin/python benchmarks/daily_increment.py --meters 500     # quick
"""

from __future__ import annotations

import argparse
import dataclasses
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

from results import Headline, job_env, publish  # noqa: E402

LAST = dt.date(2026, 9, 30)
METERS_PER_FILE = 500
INTERVALS = 96


def _readings(ids: np.ndarray, days: list[dt.date], rng: np.random.Generator) -> pa.Table:
    """15-minute readings of ``ids`` on ``days`` (local wall-clock timestamps, no zone)."""
    n, d = len(ids), len(days)
    shape = 0.4 + np.sin(np.linspace(0, 2 * np.pi, INTERVALS)) ** 2
    kwh = (rng.lognormal(-1.5, 0.5, size=(n, 1, 1)) * shape * rng.gamma(4.0, 0.25, size=(n, d, INTERVALS)))
    starts = np.array([np.datetime64(day, "us") for day in days])
    ts = (starts[:, None] + np.arange(INTERVALS) * np.timedelta64(15, "m")).ravel()
    return pa.table({
        "meter_id": pa.array(np.repeat(ids, d * INTERVALS)),
        "ts": pa.array(np.tile(ts, n), pa.timestamp("us")),
        "kwh": pa.array(kwh.ravel()),
    })


def generate(raw: Path, meters: int, days: int, seed: int = 7) -> tuple[int, dt.date]:
    """The year's readings as Parquet under ``raw/year``, customers and the new day's readings under
    ``raw/customers`` and ``raw/readings``; returns (readings in the year, the new day)."""
    rng = np.random.default_rng(seed)
    year = [LAST - dt.timedelta(days=days - 1 - k) for k in range(days)]
    new_day = LAST + dt.timedelta(days=1)
    ids = np.array([f"M{i:07d}" for i in range(meters)])
    for sub in ("year", "readings", "customers"):
        (raw / sub).mkdir(parents=True)
    for part, lo in enumerate(range(0, meters, METERS_PER_FILE)):
        pq.write_table(_readings(ids[lo:lo + METERS_PER_FILE], year, rng), raw / "year" / f"part-{part:05d}.parquet",
                       row_group_size=1_000_000)
    pq.write_table(_readings(ids, [new_day], rng), raw / "readings" / "part-00000.parquet")
    first = dt.date(2020, 1, 1)
    pq.write_table(pa.table({
        "customer_id": [f"C{i:07d}" for i in range(meters)], "meter_id": ids.tolist(),
        "meter_type": ["smart"] * meters, "region": ["MONTEVIDEO"] * meters, "tariff": ["residential"] * meters,
        "contracted_kw": [3.3] * meters, "activity": pa.nulls(meters, pa.string()),
        "latitude": pa.nulls(meters, pa.float64()), "longitude": pa.nulls(meters, pa.float64()),
        "connected_on": [first] * meters, "status": ["active"] * meters,
    }), raw / "customers" / "part-00000.parquet")
    return meters * days * INTERVALS, new_day


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=3000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--root", default="/tmp/ntl-bench-increment")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--dry", action="store_true", help="print only: no raw figures, no RESULTS.md")
    ap.add_argument("--profile", metavar="FILE", help="profile the day's ingest, refresh and gate (Python side, "
                    "JVM calls included as waits) into FILE (pstats) and print the costliest calls")
    ap.add_argument("--ingest-year", action=argparse.BooleanOptionalAction, default=True,
                    help="time the ingest job over the whole year as part of the rebuild (default); "
                         "--no-ingest-year writes the year into bronze untimed (quicker)")
    args = ap.parse_args()
    job_env([])
    load_start = os.getloadavg()
    root = Path(args.root)
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    year_rows, new_day = generate(root / "raw", args.meters, args.days)
    print(f"generated {year_rows:,} readings ({args.meters:,} meters x {args.days} days) in "
          f"{time.perf_counter() - t0:.0f} s; new day {new_day}")

    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from ntl_spark import ingest, lakehouse, schemas, windows
    from ntl_spark.config import apply_overrides, load_config
    from ntl_spark.session import build_session
    from ntl_spark.validate import data as data_gate

    cfg = load_config("local", [f"paths.root={root}", f"spark.driver_memory={args.driver_memory}",
                                "ingest.format=parquet", "ingest.tables=[customers]",
                                "spark.conf={spark.ui.enabled: 'false'}"])
    spark = build_session(cfg, app_name="bench-daily-increment")
    try:
        ingest.run(spark, cfg)
        ingest_year_s = None
        if args.ingest_year:
            # rebuilding from the source: the ingest job over the year's files (a source folder of its own)
            source = root / "raw_year"
            source.mkdir()
            (source / "readings").symlink_to(root / "raw" / "year", target_is_directory=True)
            first_day = LAST - dt.timedelta(days=args.days - 1)
            year_cfg = apply_overrides(cfg, [f"ingest.input={source}", "ingest.tables=[readings]",
                                             f"ingest.period_start={first_day}", f"ingest.period_end={LAST}"])
            t = time.perf_counter()
            year_report = ingest.run(spark, year_cfg)[schemas.READINGS]
            ingest_year_s = time.perf_counter() - t
            if year_report.rows_written != year_rows:
                raise SystemExit(f"the year's ingest wrote {year_report.rows_written:,} of {year_rows:,} readings")
            print(f"baseline: ingest job over the year ({year_rows:,} readings) in {ingest_year_s:.1f} s")
        else:
            # the year, written once in the bronze layout (the ingest job's columns), grouped by meter and time
            t = time.perf_counter()
            year = spark.read.parquet(str(root / "raw" / "year")).select(
                "meter_id", "ts", "kwh", F.lit("setup").alias("_ingest_run_id"), F.lit("bench").alias("_ingest_source"),
                F.current_timestamp().alias("_ingested_at"))
            lakehouse.write(year.sortWithinPartitions("meter_id", "ts"), cfg.paths.table(schemas.READINGS),
                            schemas.READINGS, schema=schemas.bronze_schema(schemas.READINGS))
            print(f"bronze readings (the year) written in {time.perf_counter() - t:.0f} s")
        dpath = cfg.paths.table(schemas.READINGS_DAILY)

        t = time.perf_counter()
        windows.refresh_readings_daily(spark, cfg)
        rebuild_s = time.perf_counter() - t
        print(f"baseline: readings_daily rebuilt from the year in {rebuild_s:.1f} s")

        # the data gate's readings part: the whole year as before, then seeded for the day-by-day runs
        gate_cfg = dataclasses.replace(cfg, validation=dataclasses.replace(
            cfg.validation, tables=[schemas.READINGS],
            rules=[r for r in cfg.validation.rules if r.table == schemas.READINGS]))
        whole_cfg = dataclasses.replace(gate_cfg, validation=dataclasses.replace(gate_cfg.validation, incremental={}))
        t = time.perf_counter()
        data_gate.run(spark, whole_cfg)
        gate_whole_s = time.perf_counter() - t
        print(f"baseline: data gate on the year's readings, whole, {gate_whole_s:.1f} s")
        seeded = data_gate.run(spark, gate_cfg)
        if not all(r.whole for r in seeded.refreshed) or not seeded.refreshed:
            raise SystemExit("the first day-by-day gate run did not compute the year whole")

        day_cfg = apply_overrides(cfg, ["ingest.tables=[readings]", f"ingest.period_start={new_day}",
                                        f"ingest.period_end={new_day}"])
        profiler = None
        if args.profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        t = time.perf_counter()
        report = ingest.run(spark, day_cfg)[schemas.READINGS]
        ingest_s = time.perf_counter() - t
        t = time.perf_counter()
        daily, _, _ = windows.refresh_readings_daily(spark, cfg)
        refresh_s = time.perf_counter() - t
        last = DeltaTable.forPath(spark, dpath).history(1).first()
        predicate = str((last["operationParameters"] or {}).get("predicate", ""))
        if "day" not in predicate:
            raise SystemExit(f"the refresh rebuilt readings_daily whole (last commit: {last['operation']} "
                             f"{last['operationParameters']}): the increment was not taken")
        t = time.perf_counter()
        gated = data_gate.run(spark, gate_cfg)
        gate_day_s = time.perf_counter() - t
        if profiler is not None:
            import pstats
            profiler.disable()
            profiler.dump_stats(args.profile)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"ntl_spark|delta|pyspark/sql/(readwriter|dataframe)", 60)
        if not gated.refreshed or any(r.whole for r in gated.refreshed):
            raise SystemExit("the data gate recomputed the year after a one-day ingest: "
                             + "; ".join(r.describe() for r in gated.refreshed))
        print(f"increment: ingest of {new_day} {ingest_s:.1f} s + readings_daily refresh {refresh_s:.1f} s "
              f"+ data gate {gate_day_s:.1f} s ({'; '.join(r.describe() for r in gated.refreshed)})")
        # a meter-day may span two rows (an Arrow batch boundary in the pivot; readers add them up)
        meter_days = daily.select("meter_id", "day").distinct().count()
        want = args.meters * (args.days + 1)
        if meter_days != want or report.rows_written != args.meters * INTERVALS:
            raise SystemExit(f"readings_daily has {meter_days:,} meter-days (want {want:,}); "
                             f"ingest wrote {report.rows_written:,}")
    finally:
        spark.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    load_end = os.getloadavg()[0]
    refresh_ratio = rebuild_s / refresh_s
    whole_ratio = rebuild_s / (ingest_s + refresh_s)
    gate_ratio = gate_whole_s / gate_day_s
    end_ratio = (rebuild_s + gate_whole_s) / (ingest_s + refresh_s + gate_day_s)
    increment_s = ingest_s + refresh_s + gate_day_s
    source_ratio = ((ingest_year_s + rebuild_s + gate_whole_s) / increment_s) if ingest_year_s is not None else None
    source_rows = [] if ingest_year_s is None else [
        f"| from the source: ingest + refresh + gate of the day vs ingest + rebuild + gate of the year, s | "
        f"{increment_s:.1f} | {ingest_year_s + rebuild_s + gate_whole_s:.1f} (ingest {ingest_year_s:.1f}) | "
        f"{source_ratio:.1f}x |"]
    text = "\n".join([
        f"## Daily increment of readings (benchmarks/daily_increment.py), {dt.date.today()}",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; Spark "
        f"{cfg.spark.master}, driver {args.driver_memory}. A year of readings: {args.meters:,} meters x {args.days} "
        f"days x 96 = {year_rows:,} readings in bronze `readings` and `readings_daily`; one new day "
        f"({args.meters * INTERVALS:,} readings) from a Parquet source. One run; load average "
        f"{load_start[0]:.1f} at the start, {load_end:.1f} at the end.",
        "",
        "| figure | ntl-spark (increment) | baseline (rebuild the year) | speed-up |",
        "|---|---|---|---|",
        f"| readings_daily: refresh of the ingested day vs rebuild from the year, s | {refresh_s:.1f} | "
        f"{rebuild_s:.1f} | {refresh_ratio:.1f}x |",
        f"| ingest of the day + refresh vs rebuild from the year, s | {ingest_s + refresh_s:.1f} | {rebuild_s:.1f} | "
        f"{whole_ratio:.1f}x |",
        f"| data gate, readings statistics and per meter-day checks: the changed day vs the whole year, s | "
        f"{gate_day_s:.1f} | {gate_whole_s:.1f} | {gate_ratio:.1f}x |",
        f"| end to end: ingest of the day + refresh + gate vs rebuild + gate over the year, s | "
        f"{ingest_s + refresh_s + gate_day_s:.1f} | {rebuild_s + gate_whole_s:.1f} | {end_ratio:.1f}x |",
        *source_rows,
        "",
        "The gate runs are the `validate_data` job's body with `validation.tables` [readings] and the readings "
        "rules only (an HTML report and an MLflow run each, on both sides).",
        "",
        "Target: the increment at least 50x faster than rebuilding the year. The increment's cost is mostly "
        "fixed (Spark jobs, Delta commits, the history and ingest_log lookups) while the rebuild grows with "
        "the table; see docs/scale.md for the extrapolation to 1.5M meters.",
    ])
    publish("daily_increment", text,
            figures={"rebuild_s": rebuild_s, "ingest_day_s": ingest_s, "refresh_day_s": refresh_s,
                     "refresh_ratio": refresh_ratio, "increment_ratio": whole_ratio,
                     "gate_whole_s": gate_whole_s, "gate_day_s": gate_day_s, "gate_ratio": gate_ratio,
                     "end_to_end_ratio": end_ratio,
                     **({"ingest_year_s": ingest_year_s, "from_source_ratio": source_ratio} if source_ratio else {})},
            params={"meters": args.meters, "days": args.days, "readings": year_rows, "master": cfg.spark.master,
                    "ingest_year": args.ingest_year},
            headlines=[Headline("rebuild the year / refresh of the day", refresh_ratio, 50.0, "higher"),
                       Headline("rebuild the year / (ingest of the day + refresh)", whole_ratio, 50.0, "higher"),
                       Headline("data gate on readings: the year / the day", gate_ratio, 50.0, "higher"),
                       Headline("end to end with the data gate: the year / the day", end_ratio, 50.0, "higher"),
                       *([Headline("from the source (ingest + rebuild + gate): the year / the day", source_ratio,
                                   50.0, "higher")] if source_ratio else [])],
            load_start=load_start, dry=args.dry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
