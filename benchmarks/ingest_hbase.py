"""Source read throughput: region-parallel HBase reader and partitioned JDBC read.

Figures, each against a baseline measured in the same run:

* HBase: meter-days per second of ``ntl_spark.io.hbase.read_readings`` (one
  Spark task per region range, ``local[2]``) vs one thread scanning the same
  table and day window with happybase and decoding the same frames;
* JDBC: rows per second of ``ntl_spark.io.jdbc.read_table`` on bills with one
  partition per month vs the same read in one partition.

Needs the servers of ``scripts/services.sh`` and ``$NTL_JDBC_PASSWORD``.
Prints a table and, unless ``--no-results``, appends the run to
``benchmarks/ingest_hbase.jsonl`` and regenerates ``benchmarks/RESULTS.md``.

    .venv/bin/python benchmarks/ingest_hbase.py [--meters 2000 --days 30 --customers 20000]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import sys
import tempfile
import time

import numpy as np
import pandas as pd

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("NTL_JDBC_PASSWORD", "ntl")

from results import Headline, publish  # noqa: E402

from ntl_spark import schemas  # noqa: E402
from ntl_spark.config import load_config  # noqa: E402
from ntl_spark.io import hbase, jdbc  # noqa: E402

FIRST_DAY = dt.date(2026, 6, 1)


def build_readings(meters: int, days: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range(pd.Timestamp(FIRST_DAY), periods=days * 96, freq="15min")
    ids = [f"B{i:07d}" for i in range(meters)]
    df = pd.DataFrame({"meter_id": np.repeat(ids, len(ts)), "ts": np.tile(ts, meters)})
    df["kwh"] = rng.gamma(2.0, 0.2, len(df)).round(4)
    return df


def load_hbase_table(hb, meters: int, days: int, reuse: bool) -> None:  # noqa: ANN001
    conn = hbase.connect(hb)
    exists = hb.table.encode() in conn.tables()
    conn.close()
    if exists and reuse:
        print(f"reusing HBase table {hb.table}")
        return
    data = build_readings(meters, days)
    started = time.time()
    hbase.create_table(hb, data["meter_id"].unique(), replace=True)
    from concurrent.futures import ProcessPoolExecutor

    chunks = np.array_split(np.arange(meters), 4)
    ids = data["meter_id"].unique()
    parts = [data[data["meter_id"].isin(ids[c])] for c in chunks]
    with ProcessPoolExecutor(2) as pool:
        cells = sum(pool.map(hbase.write_readings, [hb] * len(parts), parts))
    print(f"loaded {cells:,} cells into {hb.table} in {time.time() - started:.1f} s")


def time_best(fn, repeats: int) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def single_thread_scan(hb, start: dt.date, end: dt.date) -> int:  # noqa: ANN001
    """The baseline: one happybase connection scans the whole table and decodes the same frames."""
    spec = hbase._ScanSpec(hb=hb, kind="readings", start=start, end=end, meter_ids=None)
    task = hbase.ScanTask(region="whole table", start=b"", stop=b"")
    return sum(len(f) for f in hbase._scan_task(task, spec))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--meters", type=int, default=2000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--customers", type=int, default=20000, help="bills rows = customers x months")
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--reuse", action="store_true", help="keep an existing benchmark HBase table")
    ap.add_argument("--no-results", action="store_true",
                    help="print only; write neither ingest_hbase.jsonl nor RESULTS.md")
    args = ap.parse_args(argv)
    load_start = os.getloadavg()

    root = tempfile.mkdtemp(prefix="ntl-bench-")
    cfg = load_config("local", [f"paths.root={root}", "spark.conf={spark.ui.enabled: 'false'}"])
    hb = dataclasses.replace(cfg.hbase, table=f"bench_readings_{args.meters}x{args.days}", presplit_regions=8)
    load_hbase_table(hb, args.meters, args.days, args.reuse)

    from ntl_spark.session import build_session

    spark = build_session(cfg, app_name="bench-sources")
    # read all days but the first and last: the server-side day filter has work to do
    start, end = FIRST_DAY + dt.timedelta(days=1), FIRST_DAY + dt.timedelta(days=args.days - 2)
    meter_days = args.meters * ((end - start).days + 1)

    def spark_read() -> None:
        hbase.read_readings(spark, hb, start, end).write.format("noop").mode("overwrite").save()

    rows = single_thread_scan(hb, start, end)  # warm-up (block cache) and check
    if rows != meter_days * 96:
        raise SystemExit(f"baseline scan read {rows} cells, expected {meter_days * 96}")
    spark_read()  # warm-up (Python workers)
    t_spark = time_best(spark_read, args.repeats)
    t_single = time_best(lambda: single_thread_scan(hb, start, end), args.repeats)
    n_tasks = len(hbase.region_tasks(hbase.table_regions(hb), hb.tasks_per_region))

    # JDBC: bills of `customers` x `months`
    table = f"bench_bills_{args.customers}"
    jc = dataclasses.replace(cfg.jdbc, tables={"bills": table})
    periods = pd.date_range("2023-01-01", periods=args.months, freq="MS").date
    rng = np.random.default_rng(2)
    n = args.customers * args.months
    bills = pd.DataFrame({
        "customer_id": np.repeat([f"C{i:07d}" for i in range(args.customers)], args.months),
        "period": np.tile(periods, args.customers),
        "kwh": rng.gamma(3.0, 90.0, n).round(1),
        "days": np.full(n, 30, dtype="int32"),
        "read_type": "actual",
    })
    jdbc.load_tables(jc, {"bills": bills})
    first, last = periods[0], (pd.Timestamp(periods[-1]) + pd.offsets.MonthEnd(0)).date()

    def jdbc_read(conf) -> None:  # noqa: ANN001
        df = jdbc.read_table(spark, conf, "bills", schemas.BILLS_SCHEMA, "period" if conf is jc else None,
                             first, last)
        df.write.format("noop").mode("overwrite").save()
        df.unpersist()  # read_table caches the rows it read

    single_jc = dataclasses.replace(jc, partition_columns={}, num_partitions=1)
    jdbc_read(jc)
    t_part = time_best(lambda: jdbc_read(jc), args.repeats)
    t_one = time_best(lambda: jdbc_read(single_jc), args.repeats)
    spark.stop()

    cores = os.cpu_count()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        "| figure | ntl-spark | baseline | ratio |",
        "|---|---|---|---|",
        f"| HBase read, meter-days/s ({args.meters} meters x {end.toordinal() - start.toordinal() + 1} of "
        f"{args.days} days, {n_tasks} region tasks) | {meter_days / t_spark:,.0f} (Spark, region-parallel) | "
        f"{meter_days / t_single:,.0f} (one happybase scan) | {t_single / t_spark:.2f}x |",
        f"| JDBC read of bills, rows/s ({n:,} rows) | {n / t_part:,.0f} ({len(periods)} month partitions) | "
        f"{n / t_one:,.0f} (one partition) | {t_one / t_part:.2f}x |",
    ]
    section = [
        f"\n## Source reads (benchmarks/ingest_hbase.py), {dt.date.today():%Y-%m-%d}\n",
        f"Machine: {cores} cores, {mem_gib:.0f} GiB, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}; HBase 2.6.1 standalone + Thrift1 and PostgreSQL "
        f"on the same machine (scripts/services.sh), Spark local[2]. Best of {args.repeats} after a warm-up.\n",
        *lines,
    ]
    publish("ingest_hbase", "\n".join(section), figures={
        "hbase_meter_days_per_s": meter_days / t_spark, "hbase_single_scan_meter_days_per_s": meter_days / t_single,
        "hbase_ratio": t_single / t_spark, "hbase_s": t_spark, "hbase_single_scan_s": t_single,
        "jdbc_rows_per_s": n / t_part, "jdbc_one_partition_rows_per_s": n / t_one, "jdbc_ratio": t_one / t_part,
        "jdbc_s": t_part, "jdbc_one_partition_s": t_one,
    }, params={"meters": args.meters, "days": args.days, "meter_days": meter_days, "region_tasks": n_tasks,
               "customers": args.customers, "months": args.months, "bills_rows": n, "repeats": args.repeats},
       headlines=[Headline("HBase read, region-parallel / one scan", t_single / t_spark, 1.8, "higher"),
                  Headline("JDBC read, month partitions / one partition", t_one / t_part, None, "higher")],
       load_start=load_start, dry=args.no_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
