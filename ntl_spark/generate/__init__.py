"""Synthetic utility data: the data contract's five tables, written as files.

In: the ``generate`` section of the configuration (seed, sizes, window,
format, fraud mix, inspection rates). Out, under ``generate.output`` (default
``<paths.root>/<paths.raw>``): ``customers``, ``bills``, ``readings``,
``events`` and ``inspections`` as Parquet/CSV part files or HDF5 files (layout
in ``ntl_spark.generate.writers``), ``_manifest.json`` describing the run, and
the ground truth under ``_truth/`` (not contract tables; no stage reads them,
they are for evaluation only): ``fraud.parquet`` (customer_id, meter_id,
attack, fraud_start, fraud_end), ``restarts.parquet`` (customer_id, restart,
restart_end: a caught customer stealing again) and ``lookalikes.parquet``
(customer_id, meter_id, kind, changed_on, size: honest customers whose use
changed like a thief's).

Customers are generated in fixed chunks (``CHUNK_CUSTOMERS``) and every chunk
draws from generators seeded by (seed, table, chunk): the same seed gives the
same files, and memory stays bounded at any size. See ``docs/generator.md``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ntl_spark import schemas
from ntl_spark.config import Config
from ntl_spark.generate import attacks
from ntl_spark.generate.bills import billed_months, bills_table, honest_months
from ntl_spark.generate.common import (
    CHUNK_CUSTOMERS,
    METERS_PER_PART,
    Calendar,
    Progress,
    day_to_date,
    rng_for,
)
from ntl_spark.generate.customers import make_customers
from ntl_spark.generate.events import make_events
from ntl_spark.generate.fraud import NO_END, draw_fraud, recorded_months
from ntl_spark.generate.inspections import inspect, inspections_table, plan_campaigns
from ntl_spark.generate.lookalikes import draw_lookalikes
from ntl_spark.generate.readings import make_readings
from ntl_spark.generate.weather import season_factors
from ntl_spark.generate.writers import TableWriter

log = logging.getLogger(__name__)

# Second fraud episodes (a caught customer who steals again) and honest look-alikes.
RESTART_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("restart", pa.date32(), nullable=False),
        pa.field("restart_end", pa.date32()),
    ]
)
LOOKALIKE_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("meter_id", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("changed_on", pa.date32(), nullable=False),
        pa.field("size", pa.float64(), nullable=False),
    ]
)
TRUTH_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("meter_id", pa.string()),
        pa.field("attack", pa.string(), nullable=False),
        pa.field("fraud_start", pa.date32(), nullable=False),
        pa.field("fraud_end", pa.date32()),
    ]
)


def output_dir(cfg: Config) -> Path:
    """Local folder the generator writes to.

    Raises:
        ValueError: the location is a URI (the generator writes local files only).
    """
    where = cfg.generate.output or cfg.paths.resolve("raw")
    if "://" in where and not where.startswith("file://"):
        raise ValueError(f"generate.output: the generator writes local files, got URI {where!r}")
    return Path(where.removeprefix("file://")).resolve()


def run(cfg: Config) -> dict[str, Any]:
    """Generate every contract table plus manifest and ground truth.

    Args:
        cfg: configuration (only ``generate`` and ``paths`` are used).

    Returns:
        Row counts per table, the output folder, counts of frauds and smart
        meters, and the seconds spent per stage.

    Raises:
        ValueError: a setting the generator cannot honour (named in the message).
    """
    gc = cfg.generate
    cal = Calendar.from_conf(gc)
    if cal.read_days > cal.end_day - cal.first_day:
        raise ValueError(
            f"generate.reading_days: {gc.reading_days} days of readings do not fit in {gc.months} months"
        )
    out = output_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    names, mix = attacks.normalised_mix(gc.fraud.attacks)
    campaigns = plan_campaigns(gc, cal, rng_for(gc.seed, "campaigns"))
    writers = {t: TableWriter(out, t, schemas.SOURCE_SCHEMAS[t], gc.format) for t in schemas.SOURCE_TABLES}

    seconds = {"customers_bills": 0.0, "inspections": 0.0, "readings": 0.0, "events": 0.0}
    expected_meters = int(min(gc.max_smart_meters, gc.customers * gc.smart_meter_share))
    progress = Progress("customers+bills", gc.customers, "customers")
    progress_readings = Progress("readings", expected_meters, "meters (approx.)")
    truth: list[pa.Table] = []
    restarts: list[pa.Table] = []
    lookalike_rows: list[pa.Table] = []
    season = season_factors(cal, gc.weather, rng_for(gc.seed, "weather"))
    outcomes = np.zeros(3, dtype=np.int64)
    meters = 0
    next_inspection = 1
    part = 0

    for chunk, first in enumerate(range(1, gc.customers + 1, CHUNK_CUSTOMERS)):
        t0 = time.perf_counter()
        n = min(CHUNK_CUSTOMERS, gc.customers - first + 1)
        cust = make_customers(gc, cal, first, n, meters, rng_for(gc.seed, "customers", chunk))
        meters = max(meters, int(cust.meter_no.max(initial=0)))
        ids = cust.customer_ids()
        rng_bills = rng_for(gc.seed, "bills", chunk)
        look = draw_lookalikes(cust, cal, gc.lookalikes, rng_bills)
        honest = honest_months(cust, cal, rng_bills, season, look)
        billed = billed_months(cust, cal)
        rng_fraud = rng_for(gc.seed, "fraud", chunk)
        fraud = draw_fraud(cust, cal, gc.fraud, rng_fraud, honest)
        t1 = time.perf_counter()
        rng_ins = rng_for(gc.seed, "inspections", chunk)
        ins = inspect(cust, recorded_months(honest, cust, fraud, cal, rng_fraud), fraud, campaigns, gc, cal, rng_ins)
        t2 = time.perf_counter()
        recorded = recorded_months(honest, cust, fraud, cal, rng_fraud)
        customers_t = cust.to_table()
        bills_t = bills_table(ids, recorded, billed, honest, cal, rng_bills)
        writers[schemas.CUSTOMERS].write(customers_t)
        writers[schemas.BILLS].write(bills_t)
        t3 = time.perf_counter()
        ins_t = inspections_table(ins, next_inspection, ids, fraud, honest - recorded, campaigns, cal, rng_ins)
        writers[schemas.INSPECTIONS].write(ins_t)
        next_inspection += len(ins)
        np.add.at(outcomes, ins.outcome, 1)
        t4 = time.perf_counter()
        seconds["customers_bills"] += (t1 - t0) + (t3 - t2)
        seconds["inspections"] += (t2 - t1) + (t4 - t3)
        progress.step(n, customers_t.num_rows + bills_t.num_rows, (t1 - t0) + (t3 - t2))

        smart = np.flatnonzero(cust.smart)
        meter_ids = cust.meter_ids()
        if cal.read_days > 0:
            for lo in range(0, len(smart), METERS_PER_PART):
                t5 = time.perf_counter()
                rows = smart[lo:lo + METERS_PER_PART]
                readings_t = make_readings(
                    meter_ids.take(pa.array(rows)), cust.tariff[rows], honest[rows], cust.connected[rows],
                    cust.disconnected[rows], fraud.kind[rows], fraud.start[rows], fraud.end[rows],
                    {k: v[rows] for k, v in fraud.params.items()}, cal, rng_for(gc.seed, "readings", part),
                    episode2=(fraud.restart[rows], fraud.end2[rows]), month_factor=fraud.month_factor[rows],
                    look={"kind": look.kind[rows], "day": look.day[rows], "size": look.size[rows],
                          "tariff_before": look.tariff_before[rows]},
                )
                writers[schemas.READINGS].write(readings_t)
                part += 1
                spent = time.perf_counter() - t5
                seconds["readings"] += spent
                progress_readings.step(len(rows), readings_t.num_rows, spent)
        t6 = time.perf_counter()
        live_from = np.maximum(cust.connected[smart], cal.first_day)
        events_t = make_events(meter_ids.take(pa.array(smart)), live_from, cust.disconnected[smart],
                               fraud.start[smart], fraud.end[smart], rng_for(gc.seed, "events", chunk),
                               episode2=(fraud.restart[smart], fraud.end2[smart]),
                               solar_from=np.where(look.kind[smart] == "solar", look.day[smart], NO_END))
        writers[schemas.EVENTS].write(events_t)
        seconds["events"] += time.perf_counter() - t6

        cheat = np.flatnonzero(fraud.active)
        end = fraud.end[cheat]
        again = np.flatnonzero(fraud.restart < NO_END)
        end2 = fraud.end2[again]
        restarts.append(pa.table(
            {
                "customer_id": ids.take(pa.array(again)),
                "restart": pa.array(fraud.restart[again].astype(np.int32), type=pa.date32()),
                "restart_end": pa.array(np.where(end2 >= NO_END, 0, end2).astype(np.int32), type=pa.date32(),
                                        mask=end2 >= NO_END),
            },
            schema=RESTART_SCHEMA,
        ))
        alike = np.flatnonzero(look.kind != "")
        lookalike_rows.append(pa.table(
            {
                "customer_id": ids.take(pa.array(alike)),
                "meter_id": meter_ids.take(pa.array(alike)),
                "kind": pa.array(look.kind[alike].tolist(), type=pa.string()),
                "changed_on": pa.array(look.day[alike].astype(np.int32), type=pa.date32()),
                "size": pa.array(look.size[alike], type=pa.float64()),
            },
            schema=LOOKALIKE_SCHEMA,
        ))
        truth.append(pa.table(
            {
                "customer_id": ids.take(pa.array(cheat)),
                "meter_id": meter_ids.take(pa.array(cheat)),
                "attack": pa.array(fraud.kind[cheat].tolist(), type=pa.string()),
                "fraud_start": pa.array(fraud.start[cheat].astype(np.int32), type=pa.date32()),
                "fraud_end": pa.array(np.where(end >= NO_END, 0, end).astype(np.int32), type=pa.date32(),
                                      mask=end >= NO_END),
            },
            schema=TRUTH_SCHEMA,
        ))

    for w in writers.values():
        w.close()
    truth_t = pa.concat_tables(truth) if truth else TRUTH_SCHEMA.empty_table()
    (out / "_truth").mkdir(exist_ok=True)
    pq.write_table(truth_t, out / "_truth" / "fraud.parquet")
    restarts_t = pa.concat_tables(restarts) if restarts else RESTART_SCHEMA.empty_table()
    pq.write_table(restarts_t, out / "_truth" / "restarts.parquet")
    lookalikes_t = pa.concat_tables(lookalike_rows) if lookalike_rows else LOOKALIKE_SCHEMA.empty_table()
    pq.write_table(lookalikes_t, out / "_truth" / "lookalikes.parquet")

    counts = {t: w.rows for t, w in writers.items()}
    labelled = int(outcomes[0] + outcomes[1])
    manifest = {
        "seed": gc.seed,
        "format": gc.format,
        "customers": gc.customers,
        "smart_meters": meters,
        "months": gc.months,
        "periods": {"first": day_to_date(cal.first_day).isoformat(),
                    "last": day_to_date(cal.month_start[-2]).isoformat()},
        "readings": {
            "days": cal.read_days,
            "first_day": day_to_date(cal.read_start).isoformat() if cal.read_days else None,
            "last_day": day_to_date(cal.end_day - 1).isoformat() if cal.read_days else None,
            "timestamps": "local wall-clock time, no time zone",
        },
        "rows": counts,
        "parts": {t: w.parts for t, w in writers.items()},
        "layout": {t: w.path.name for t, w in writers.items()},
        "fraud": {
            "rate": gc.fraud.rate,
            "mix": {k: round(float(p), 6) for k, p in zip(names, mix, strict=True)},
            "customers": truth_t.num_rows,
            "by_attack": {k: int(v) for k, v in zip(*np.unique(truth_t.column("attack").to_numpy(zero_copy_only=False),
                                                               return_counts=True), strict=True)},
            "ended_by_inspection": truth_t.num_rows - truth_t.column("fraud_end").null_count,
            "restarted": restarts_t.num_rows,
        },
        "lookalikes": {k: int(v) for k, v in zip(
            *np.unique(lookalikes_t.column("kind").to_numpy(zero_copy_only=False), return_counts=True), strict=True)},
        "inspections": {
            "regular": int(outcomes[0]),
            "irregular": int(outcomes[1]),
            "no_access": int(outcomes[2]),
            "irregular_share": round(float(outcomes[1] / labelled), 4) if labelled else None,
            "campaigns": [c.describe() for c in campaigns],
        },
        "settings": {k: v for k, v in dataclasses.asdict(gc).items() if k != "output"},
    }
    (out / "_manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")

    readings_rate = counts[schemas.READINGS] / seconds["readings"] if seconds["readings"] else 0.0
    log.info("generated %s under %s in %.1f s (readings %.0f values/s)", counts, out, progress.elapsed, readings_rate)
    return {
        **counts,
        "output": str(out),
        "smart_meters": meters,
        "fraud_customers": truth_t.num_rows,
        "irregular_share": manifest["inspections"]["irregular_share"],  # type: ignore[index]
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
