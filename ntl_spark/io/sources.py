"""Load generated source tables into the real source servers.

In: the generated files under ``cfg.raw_dir`` (``<raw>/<table>/part-*.parquet``).
Out: readings and events in HBase (``cfg.hbase``: table pre-split by meter id
range, the contract's row layout) and customers, bills and inspections in the
relational database (``cfg.jdbc``, PostgreSQL, loaded with COPY). The tables
are replaced, so a reload gives the same content.

This is what a utility's MDM and commercial database hold in production; the
pipeline then reads them back with ``ingest.source=hbase`` / ``jdbc``.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ntl_spark import schemas
from ntl_spark.config import Config, HbaseConf
from ntl_spark.errors import MissingInputError

log = logging.getLogger(__name__)

JDBC_TABLES = (schemas.CUSTOMERS, schemas.BILLS, schemas.INSPECTIONS)
HBASE_TABLES = (schemas.READINGS, schemas.EVENTS)


def part_files(raw_dir: str, table: str) -> list[Path]:
    """The Parquet part files of ``table`` (``<raw>/<table>/part-*.parquet``).

    Raises:
        FileNotFoundError: none exist (the message names the folder).
    """
    folder = Path(raw_dir) / table
    files = sorted(folder.glob("part-*.parquet"))
    if not files:
        raise MissingInputError(f"no part-*.parquet files for '{table}' in {folder}: run jobs/generate.py first")
    return files


def _write_file(hb: HbaseConf, table: str, path: str) -> int:
    import pyarrow.parquet as pq

    from ntl_spark.io import hbase

    cells = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=500_000):
        frame = batch.to_pandas()
        cells += hbase.write_readings(hb, frame) if table == schemas.READINGS else hbase.write_events(hb, frame)
    return cells


def load_hbase(cfg: Config, tables: tuple[str, ...] = HBASE_TABLES, workers: int = 2) -> dict[str, int]:
    """Create the HBase table (pre-split by meter ids) and write readings and events into it.

    Args:
        cfg: configuration (``hbase`` section, ``raw_dir``).
        tables: which of readings / events to load.
        workers: processes writing part files in parallel.

    Returns:
        Cells written per table.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from ntl_spark.io import hbase

    files = {t: part_files(cfg.raw_dir, t) for t in tables}
    meters: set[str] = set()
    for path in files.get(schemas.READINGS, files.get(schemas.EVENTS, [])):
        meters.update(pc.unique(pq.read_table(path, columns=["meter_id"])["meter_id"]).to_pylist())
    splits = hbase.create_table(cfg.hbase, meters, replace=True)
    log.info("HBase table %s created with %d regions for %d meters", cfg.hbase.table, len(splits) + 1, len(meters))
    out = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for table in tables:
            started = time.time()
            paths = [str(p) for p in files[table]]
            out[table] = sum(pool.map(_write_file, [cfg.hbase] * len(paths), [table] * len(paths), paths))
            log.info("HBase %s: %d cells in %.1f s", table, out[table], time.time() - started)
    return out


def load_jdbc(cfg: Config, tables: tuple[str, ...] = JDBC_TABLES) -> dict[str, int]:
    """Load customers, bills and inspections into the relational database (PostgreSQL COPY).

    Returns:
        Rows loaded per table.
    """
    from ntl_spark.io import jdbc

    return jdbc.load_tables(cfg.jdbc, {t: part_files(cfg.raw_dir, t)[0].parent for t in tables})


def run(cfg: Config) -> dict[str, int]:
    """Load every generated source table into its server (the ``load_sources`` job).

    Returns:
        Rows (relational) or cells (HBase) loaded per table.
    """
    counts = load_jdbc(cfg)
    counts.update(load_hbase(cfg))
    for table, n in counts.items():
        log.info("loaded %s: %d", table, n)
    return counts
