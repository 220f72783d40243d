"""Field results written to the ``inspections`` source table the pipeline ingests over JDBC.

One row per request line, keyed ``inspection_id = REQ-<request>-<line>`` and
carrying ``campaign_id``: the campaign job's id for a request made from one of
its campaigns (the outcomes stage matches the label to that campaign's
request and arm), else ``REQ-<request>``; entering a result again replaces the
row, clearing it deletes it. The columns are the data contract's. The table
is created when missing (the same columns the ingest job reads).
"""

from __future__ import annotations

from typing import Any

from web import pipeline

COLUMNS = ("inspection_id", "customer_id", "inspected_on", "outcome", "irregularity", "recovered_kwh", "campaign_id")
DDL = ("create table if not exists {table} (inspection_id text, customer_id text, inspected_on date, outcome text, "
       "irregularity text, recovered_kwh double precision, campaign_id text)")


def table_name() -> str:
    return pipeline.config().jdbc.tables.get("inspections", "inspections")


def write(line: Any) -> None:
    """Replace (or, with no outcome, delete) the line's row in the inspections source table."""
    table = table_name()
    conn = pipeline.jdbc_connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(DDL.format(table=table))
            cur.execute(f"delete from {table} where inspection_id = %s", (line.inspection_id,))
            if line.outcome:
                cur.execute(
                    f"insert into {table} ({', '.join(COLUMNS)}) values (%s, %s, %s, %s, %s, %s, %s)",
                    (line.inspection_id, line.customer_id, line.inspected_on, line.outcome,
                     line.irregularity or None, line.recovered_kwh, line.request.source_campaign),
                )
    finally:
        conn.close()


def read(inspection_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The source rows of these inspection ids (to show what the pipeline will ingest)."""
    if not inspection_ids:
        return {}
    table = table_name()
    conn = pipeline.jdbc_connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(DDL.format(table=table))
            cur.execute(f"select {', '.join(COLUMNS)} from {table} where inspection_id = any(%s)", (inspection_ids,))
            return {r[0]: dict(zip(COLUMNS, r, strict=True)) for r in cur.fetchall()}
    finally:
        conn.close()
