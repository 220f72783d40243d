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

``--day-range`` (HBase only, no PostgreSQL) measures the daily increment
instead: a table with a year of days for ``--dr-meters`` meters in each row-key
layout (meter-first ``{meter_id}|{yyyymmdd}``, day-first
``{salt}|{yyyymmdd}|{meter_id}``), then ONE day read with (i) the project's
strategy (``hbase.scan=auto``: multi-gets of the known meters, or the day's
key range per salt), (ii) the row-key regex over the whole table (the reader
before ``hbase.scan``), (iii) the whole year (one key range per meter, or
per salt); the product's target is a one-day increment at least 50x faster
than rebuilding the year. Also the region-parallel figure: the year read by
``--dr-regions`` region tasks against one happybase scan doing the same plan.
Raw figures go to ``benchmarks/ingest_hbase.jsonl`` (``results.record``).

    .venv/bin/python benchmarks/ingest_hbase.py --day-range [--dr-meters 300 --dr-days 365] [--no-results]

``--connector`` adds the same day and year read through the hbase-spark
connector (``hbase.reader: connector``, the path for Kerberos-secured
clusters) on the meter-first table, jars from ``scripts/fetch-jars.sh
hbase-spark``. ``--kerberos DIR`` runs the whole benchmark against the
Kerberos-secured HBase of services folder DIR (``NTL_SERVICES_DIR=DIR
NTL_HBASE_KERBEROS=1 scripts/services.sh start hbase``, MIT KDC included):
the connector logs in with the folder's keytab as a job does, and the KDC's
log must show its service tickets.

    NTL_SERVICES_DIR=var/kerberos NTL_HBASE_KERBEROS=1 NTL_HBASE_LIB=var/hbase/lib scripts/services.sh start hbase
    .venv/bin/python benchmarks/ingest_hbase.py --day-range --layout meter_first --kerberos var/kerberos
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("NTL_JDBC_PASSWORD", "ntl")

from results import Headline, publish  # noqa: E402

from ntl_spark import schemas  # noqa: E402
from ntl_spark.config import load_config  # noqa: E402
from ntl_spark.io import hbase, jdbc  # noqa: E402

FIRST_DAY = dt.date(2026, 6, 1)
REPO = Path(__file__).resolve().parent.parent


def build_readings(meters: int, days: int, seed: int = 1, first: dt.date = FIRST_DAY) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range(pd.Timestamp(first), periods=days * 96, freq="15min")
    ids = [f"B{i:07d}" for i in range(meters)]
    df = pd.DataFrame({"meter_id": np.repeat(ids, len(ts)), "ts": np.tile(ts, meters)})
    df["kwh"] = rng.gamma(2.0, 0.2, len(df)).round(4)
    return df


def load_hbase_table(hb, meters: int, days: int, reuse: bool, first: dt.date = FIRST_DAY,  # noqa: ANN001
                     regions: int | None = None) -> float:
    """Create and fill the table (unless ``reuse`` and it exists); returns the load time in seconds."""
    conn = hbase.connect(hb)
    exists = hb.table.encode() in conn.tables()
    conn.close()
    if exists and reuse:
        print(f"reusing HBase table {hb.table}")
        return float("nan")
    data = build_readings(meters, days, first=first)
    started = time.time()
    hbase.create_table(hb, data["meter_id"].unique(), regions=regions, replace=True)
    from concurrent.futures import ProcessPoolExecutor

    chunks = np.array_split(np.arange(meters), 4)
    ids = data["meter_id"].unique()
    parts = [data[data["meter_id"].isin(ids[c])] for c in chunks]
    with ProcessPoolExecutor(2) as pool:
        cells = sum(pool.map(hbase.write_readings, [hb] * len(parts), parts))
    took = time.time() - started
    print(f"loaded {cells:,} cells into {hb.table} in {took:.1f} s")
    return took


def busy_core_seconds() -> float:
    """CPU seconds the whole machine has spent not idle since boot (``/proc/stat``)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


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


LAYOUTS = {"meter_first": ("{meter_id}|{yyyymmdd}", 1), "day_first": ("{salt}|{yyyymmdd}|{meter_id}", 16)}


def kdc_tickets(env: dict[str, str]) -> int:
    """HBase service tickets the KDC issued to the jobs' principal (lines of the KDC's own log)."""
    log = Path(env["NTL_KRB5_CONF"]).parent / "kdc.log"
    pattern = re.compile(rf"ISSUE: .* {re.escape(env['NTL_KRB5_PRINCIPAL'])} for hbase/")
    return sum(1 for line in log.read_text(errors="replace").splitlines() if pattern.search(line))


def kerberos_setup(folder: str) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """Point the benchmark at the Kerberos-secured HBase of the services folder ``folder``.

    Tables are created and loaded through its Thrift1 gateway (which logs in with HBase's keytab); the
    admin tool that pre-splits them logs in with the jobs' keytab (``hbase.client.keytab.*``); the Spark
    session logs in as a job does (``spark.kerberos.principal``/``keytab``, the client ``hbase-site.xml``
    and ``core-site.xml`` on the driver's classpath). Returns the folder's services.env, config overrides
    and Spark settings.
    """
    path = Path(folder) / "services.env"
    if not path.is_file():
        raise SystemExit(f"no {path}: NTL_SERVICES_DIR={folder} NTL_HBASE_KERBEROS=1 scripts/services.sh start hbase")
    env = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    admin = Path(tempfile.mkdtemp(prefix="ntl-krb-admin-"))
    for name in ("hbase-site.xml", "core-site.xml"):
        text = (Path(env["NTL_HBASE_CLIENT_CONF"]) / name).read_text()
        if name == "hbase-site.xml":
            text = text.replace("</configuration>", (
                f"  <property><name>hbase.client.keytab.file</name><value>{env['NTL_KRB5_KEYTAB']}</value></property>\n"
                f"  <property><name>hbase.client.keytab.principal</name><value>{env['NTL_KRB5_PRINCIPAL']}</value>"
                "</property>\n</configuration>"))
        (admin / name).write_text(text)
    os.environ["NTL_HBASE_CONF"] = str(admin)  # hbase.create_table's admin tool
    os.environ["NTL_HBASE_LIB"] = env["NTL_HBASE_LIB"]
    # every JVM started from here (the admin tool, the Spark driver) finds the KDC
    os.environ["JAVA_TOOL_OPTIONS"] = f"-Djava.security.krb5.conf={env['NTL_KRB5_CONF']}"
    overrides = [f"hbase.host={env['NTL_SERVICES_HOST']}", f"hbase.port={env['NTL_HBASE_THRIFT_PORT']}"]
    spark_conf = {"spark.kerberos.principal": env["NTL_KRB5_PRINCIPAL"], "spark.kerberos.keytab": env["NTL_KRB5_KEYTAB"],
                  "spark.driver.extraClassPath": env["NTL_HBASE_CLIENT_CONF"]}
    return env, overrides, spark_conf


def day_range(args: argparse.Namespace) -> int:
    """The ``--day-range`` benchmark: one day against the regex filter and the whole year."""
    load_start = os.getloadavg()
    root = tempfile.mkdtemp(prefix="ntl-bench-")
    krb_env: dict[str, str] = {}
    krb_spark: dict[str, str] = {}
    if args.kerberos:
        krb_env, krb_overrides, krb_spark = kerberos_setup(args.kerberos)
        args.set = [*krb_overrides, *args.set]
        args.zookeeper = f"{krb_env['NTL_SERVICES_HOST']}:{krb_env['NTL_HBASE_ZK_PORT']}"
        args.connector = True
    cfg = load_config("local", [f"paths.root={root}", "spark.conf={spark.ui.enabled: 'false'}", *args.set])
    first = dt.date(2025, 1, 1)
    last = first + dt.timedelta(days=args.dr_days - 1)
    day = last  # the newest day: what a daily increment reads
    meters = [f"B{i:07d}" for i in range(args.dr_meters)]
    layouts = list(LAYOUTS) if args.layout == "both" else [args.layout]
    tables, loads = {}, {}
    for name in layouts:
        pattern, salts = LAYOUTS[name]
        hb = dataclasses.replace(cfg.hbase, key_pattern=pattern, salt_buckets=salts,
                                 table=f"bench_dayrange_{name}_{args.dr_meters}x{args.dr_days}")
        loads[name] = load_hbase_table(hb, args.dr_meters, args.dr_days, args.reuse, first=first,
                                       regions=args.dr_regions)
        tables[name] = hb
    cells = args.dr_meters * args.dr_days * 96
    print(f"each table: {args.dr_meters} meters x {args.dr_days} days = {args.dr_meters * args.dr_days:,} rows, "
          f"{cells:,} cells; one day = {args.dr_meters:,} rows")

    from ntl_spark.session import build_session, jar_paths

    if args.connector:
        # the hbase-spark connector and its HBase client jars (scripts/fetch-jars.sh hbase-spark), as
        # spark-submit --jars would bring them
        extra = sorted(str(j) for j in (REPO / "var" / "jars-hbase-spark").glob("*.jar"))
        if not extra:
            raise SystemExit("no connector jars in var/jars-hbase-spark: run scripts/fetch-jars.sh hbase-spark")
        jars = ",".join(jar_paths(str(REPO / cfg.spark.jars_dir)) + extra)
        cfg = dataclasses.replace(cfg, spark=dataclasses.replace(
            cfg.spark, conf={**cfg.spark.conf, "spark.jars": jars, **krb_spark}))
    spark = build_session(cfg, app_name="bench-dayrange")

    def read(hb, start: dt.date, end: dt.date, ids, want_rows: int) -> dict:  # noqa: ANN001
        """The read through Spark (count); what it asked of HBase."""
        stats = hbase.ScanStats.create(spark)
        n = hbase.read_readings(spark, hb, start, end, ids, stats=stats).count()
        if n != want_rows * 96:
            raise SystemExit(f"{hb.table} {start}..{end} ({stats.strategy}): read {n} cells, expected {want_rows * 96}")
        return stats.summary()

    def direct(hb, start: dt.date, end: dt.date, ids, want_rows: int) -> None:  # noqa: ANN001
        """The same plan over the whole table through one happybase connection in this process, no Spark."""
        strategy = hbase.choose_strategy(hbase.KeyLayout.of(hb), hb.scan, ids is not None, (end - start).days + 1,
                                         hb.get_max_days)
        spec = hbase._ScanSpec(hb=hb, kind="readings", start=start, end=end,
                               meter_ids=tuple(ids) if ids is not None else None, strategy=strategy)
        n = sum(len(f) for f in hbase._scan_task(hbase.ScanTask("whole table", b"", b""), spec))
        if n != want_rows * 96:
            raise SystemExit(f"{hb.table} {start}..{end} ({strategy}, direct): read {n} cells")

    def timed(fn, run) -> tuple[float, Any, float]:  # noqa: ANN001
        """Best time of ``args.repeats`` calls, the first call's result and the machine's busy core-s in the best."""
        best, out, cpu = float("inf"), None, float("nan")
        for i in range(args.repeats):
            busy = busy_core_seconds()
            started = time.perf_counter()
            got = fn(*run)
            secs = time.perf_counter() - started
            if secs < best:
                best, cpu = secs, busy_core_seconds() - busy
            out = got if i == 0 else out
        return best, out, cpu

    cores = os.cpu_count() or 1
    figures: dict[str, Any] = {}
    lines = ["| read of table (layout) | strategy | Spark, s | vs one day | one happybase connection, no Spark, s | "
             "HBase requests |", "|---|---|---|---|---|---|"]
    labels = {"one_day": f"one day, {args.dr_meters} known meters",
              "one_day_regex": "one day, row-key regex (the reader before hbase.scan)",
              "year": f"the whole year ({args.dr_days} days)"}
    n_tasks = 0
    for name, hb in tables.items():
        runs = {
            "one_day": (dataclasses.replace(hb, scan="auto"), day, day, meters, args.dr_meters),
            "one_day_regex": (dataclasses.replace(hb, scan="filter"), day, day, None, args.dr_meters),
            "year": (dataclasses.replace(hb, scan="auto"), first, last, meters, args.dr_meters * args.dr_days),
        }
        n_tasks = len(hbase.region_tasks(hbase.table_regions(hb), hb.tasks_per_region))
        read(*runs["one_day"])  # warm-up: Python workers, block cache
        times, plans, plain, cpu = {}, {}, {}, {}
        for key, run in runs.items():
            times[key], plans[key], cpu[key] = timed(read, run)
            plain[key], _, cpu[f"{key}_direct"] = timed(direct, run)
        via_connector: dict[str, Any] = {}
        if args.connector and hbase.KeyLayout.of(hb).meter_major:
            conn = dataclasses.replace(hb, reader="connector", zookeeper_quorum=args.zookeeper)

            def connector_read(start: dt.date, end: dt.date, ids, conn=conn) -> int:  # noqa: ANN001
                if krb_env:
                    # In local mode the connector's task side (HBaseContext.applyCreds) marks the JVM's login
                    # user PROXY, and the next read's driver side then finds no Kerberos login: log in again
                    # from the keytab, as each new job would. On YARN the executors are other JVMs.
                    spark._jvm.org.apache.hadoop.security.UserGroupInformation.loginUserFromKeytab(
                        krb_env["NTL_KRB5_PRINCIPAL"], krb_env["NTL_KRB5_KEYTAB"])
                df = hbase.read_readings(spark, conn, start, end, ids)
                return df.count()

            tickets = kdc_tickets(krb_env) if krb_env else 0
            connector_read(day, day, meters)  # warm-up: the connector's ZooKeeper and region lookups
            via_connector["one_day_s"], via_connector["one_day_cells"], _ = timed(connector_read, (day, day, meters))
            via_connector["year_s"], via_connector["year_cells"], via_connector["year_cpu_s"] = timed(
                connector_read, (first, last, meters))
            via_connector["region_parallel"] = plain["year"] / via_connector["year_s"]
            if krb_env:
                # the KDC's own record that the connector authenticated with Kerberos
                via_connector["kerberos_tickets"] = kdc_tickets(krb_env) - tickets
                if via_connector["kerberos_tickets"] <= 0:
                    raise SystemExit("--kerberos: the KDC issued no HBase service ticket to the connector")
            via = "hbase-spark connector (JVM, Kerberos)" if krb_env else "hbase-spark connector (JVM)"
            lines.append(f"| one day, {args.dr_meters} known meters ({name}) | {via} | "
                         f"{via_connector['one_day_s']:.2f} | - | - | one key range per meter |")
            lines.append(f"| the whole year ({args.dr_days} days) ({name}) | {via} | "
                         f"{via_connector['year_s']:.2f} | {via_connector['year_s'] / via_connector['one_day_s']:.1f}x "
                         "| - | one key range per meter |")
        for key, label in labels.items():
            p = plans[key]
            requests = f"{p['scans']} scans" + (f" ({p['filtered_scans']} with the regex)" if p["filtered_scans"] else "")
            requests += f", {p['gets']} multi-gets" if p["gets"] else ""
            lines.append(f"| {label} ({name}) | {p['strategy']} | {times[key]:.2f} | "
                         f"{times[key] / times['one_day']:.1f}x | {plain[key]:.3f} | {requests} |")
        figures[name] = {"load_s": loads[name], **{f"{k}_s": v for k, v in times.items()},
                         **{f"{k}_direct_s": v for k, v in plain.items()},
                         "regex_over_day": times["one_day_regex"] / times["one_day"],
                         "year_over_day": times["year"] / times["one_day"],
                         "regex_over_day_direct": plain["one_day_regex"] / plain["one_day"],
                         "year_over_day_direct": plain["year"] / plain["one_day"],
                         "region_parallel": plain["year"] / times["year"], "tasks": n_tasks, "plans": plans,
                         # the whole machine's busy core-seconds (HBase, Thrift, Spark, Python), best run of each
                         "cpu_s": cpu, "year_busy": cpu["year"] / (cores * times["year"]),
                         # what two region tasks could reach if they cost the single scan's core-seconds and
                         # kept every core busy
                         "region_parallel_ceiling": cores * plain["year"] / cpu["year_direct"],
                         **({"connector": via_connector} if via_connector else {})}
        print(f"{name}: one day {times['one_day']:.2f} s, regex {times['one_day_regex']:.2f} s, "
              f"year {times['year']:.2f} s: year/day {times['year'] / times['one_day']:.1f}x "
              f"(target >= 50x), regex/day {times['one_day_regex'] / times['one_day']:.1f}x; direct "
              f"{plain['one_day']:.3f} / {plain['one_day_regex']:.3f} / {plain['year']:.2f} s")
    spark.stop()
    meter_days = args.dr_meters * args.dr_days

    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    secured = ("Kerberos-secured HBase: the connector logged in with spark.kerberos.principal/keytab, "
               + ", ".join(f"{f['connector'].get('kerberos_tickets', 0)} service tickets in the KDC's log"
                           for f in figures.values() if "connector" in f)) if krb_env else "HBase without Kerberos"
    server = ("HBase 2.6.1 standalone secured with Kerberos (SASL/GSSAPI RPC, MIT KDC from Debian packages; "
              "`NTL_HBASE_KERBEROS=1 scripts/services.sh`), tables loaded and the happybase reads made through its "
              "Thrift1 gateway, which logs in with HBase's keytab" if krb_env else
              "HBase 2.6.1 standalone + Thrift1 (scripts/services.sh)")
    section = [
        f"\n## HBase daily increment (benchmarks/ingest_hbase.py --day-range), {dt.date.today():%Y-%m-%d}\n",
        f"Machine: {cores} cores, {mem_gib:.0f} GiB, {'quiet' if load_start[0] < 1 else 'shared with other jobs'} "
        f"(load average {load_start[0]:.1f} at "
        f"the start, {load:.1f} at the end), Python {platform.python_version()}; {server}, "
        f"Spark {cfg.spark.master}. Each table: {args.dr_meters} meters x {args.dr_days} days "
        f"({meter_days:,} rows, {cells:,} cells), pre-split into {args.dr_regions} regions; the day read is "
        f"{day} ({args.dr_meters} rows). Spark times are a count of the read (one task per "
        f"region), best of {args.repeats} after a warm-up; the no-Spark times run the same plan over the whole "
        "table through one happybase connection in the driver (decoding included).\n",
        *lines,
        "",
        "| figure | ntl-spark | baseline | ratio |",
        "|---|---|---|---|",
        *[f"| one-day increment vs rebuilding the year ({n}), s (target >= 50x) | {f['one_day_s']:.2f} | "
          f"{f['year_s']:.2f} | {f['year_over_day']:.0f}x |" for n, f in figures.items()],
        *[f"| one day: project strategy vs row-key regex ({n}), s | {f['one_day_s']:.2f} | "
          f"{f['one_day_regex_s']:.2f} | {f['regex_over_day']:.1f}x |" for n, f in figures.items()],
        *[f"| the same without Spark (one happybase connection) ({n}), s | {f['one_day_direct_s']:.3f} | "
          f"{f['one_day_regex_direct_s']:.3f} (regex), {f['year_direct_s']:.2f} (year) | "
          f"{f['regex_over_day_direct']:.0f}x, {f['year_over_day_direct']:.0f}x |" for n, f in figures.items()],
        *[f"| region-parallel read of the year ({n}), meter-days/s (target 1.8x) | "
          f"{meter_days / f['year_s']:,.0f} ({f['tasks']} region tasks) | {meter_days / f['year_direct_s']:,.0f} "
          f"(one happybase scan, same plan) | {f['region_parallel']:.2f}x |" for n, f in figures.items()],
        *[f"| the same reads in core-seconds of the whole machine ({n}): HBase + Thrift + Spark + Python | "
          f"{f['cpu_s']['year']:.1f} ({f['year_busy']:.0%} of {cores} cores busy) | {f['cpu_s']['year_direct']:.1f} "
          f"| ceiling {f['region_parallel_ceiling']:.2f}x |" for n, f in figures.items()],
        *[f"| the year through the hbase-spark connector ({n}; `hbase.reader: connector`, {secured}), "
          f"meter-days/s | {meter_days / f['connector']['year_s']:,.0f} ({f['tasks']} region "
          f"tasks, {f['connector']['year_cpu_s']:.1f} core-s) | {meter_days / f['year_direct_s']:,.0f} (one happybase "
          f"scan) | {f['connector']['region_parallel']:.2f}x |" for n, f in figures.items() if "connector" in f],
        "",
        "The ceiling is what the region tasks would reach on this machine if they cost no more core-seconds "
        "than the single scan and kept every core busy: the HBase server and its Thrift gateway run on the "
        "same cores as the readers here, so the single scan already keeps more than one core busy (the server "
        "works while the client decodes). On a cluster the region servers are other machines and the readers' "
        "cores are their own.",
    ]
    publish("ingest_hbase", "\n".join(section), figures=figures, params={
        "mode": "day-range", "meters": args.dr_meters, "days": args.dr_days, "day": day,
        "regions": args.dr_regions, "repeats": args.repeats, "master": cfg.spark.master,
        "batch_size": cfg.hbase.batch_size, "get_max_days": cfg.hbase.get_max_days, "layouts": layouts,
        "overrides": args.set, "connector": args.connector, "kerberos": bool(krb_env),
    }, headlines=[
        *[Headline(f"one day vs the year, {n} (rebuild / increment)", f["year_over_day"], 50.0, "higher")
          for n, f in figures.items()],
        *[Headline(f"HBase read, region-parallel / one scan, {n}", f["region_parallel"], 1.8, "higher")
          for n, f in figures.items()],
        *[Headline(f"HBase read through the connector{' (Kerberos)' if krb_env else ''}, region-parallel / one "
                   f"happybase scan, {n}",
                   f["connector"]["region_parallel"], 1.8, "higher") for n, f in figures.items() if "connector" in f],
    ], load_start=load_start, dry=args.no_results)
    return 0


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
    ap.add_argument("--day-range", action="store_true", help="the daily-increment benchmark (HBase only)")
    ap.add_argument("--dr-meters", type=int, default=300)
    ap.add_argument("--dr-days", type=int, default=365)
    ap.add_argument("--dr-regions", type=int, default=2, help="regions of each day-range table")
    ap.add_argument("--layout", choices=["meter_first", "day_first", "both"], default="both")
    ap.add_argument("--connector", action="store_true",
                    help="--day-range: also read the meter-first table through the hbase-spark connector "
                         "(jars from scripts/fetch-jars.sh hbase-spark)")
    ap.add_argument("--zookeeper", default="127.0.0.1:2181", help="the connector's hbase.zookeeper.quorum")
    ap.add_argument("--kerberos", metavar="DIR", default="",
                    help="--day-range against the Kerberos-secured HBase of services folder DIR (started with "
                         "NTL_SERVICES_DIR=DIR NTL_HBASE_KERBEROS=1 scripts/services.sh start hbase): implies "
                         "--connector, which logs in with the folder's keytab")
    ap.add_argument("--set", action="append", default=[], help="config override, e.g. hbase.port=9091")
    args = ap.parse_args(argv)
    if args.day_range:
        return day_range(args)
    load_start = os.getloadavg()

    root = tempfile.mkdtemp(prefix="ntl-bench-")
    cfg = load_config("local", [f"paths.root={root}", "spark.conf={spark.ui.enabled: 'false'}", *args.set])
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
