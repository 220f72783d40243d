"""Smart-meter readings and alarms in HBase: loader and region-parallel reader.

Layout (the data contract's default; every name comes from ``HbaseConf``):

* row key ``<meter_id>|<yyyymmdd>`` (``hbase.key_pattern``): one row per meter-day;
  or day-first ``<salt>|<yyyymmdd>|<meter_id>`` with ``hbase.salt_buckets`` N
  (salt = ``crc32(meter_id) mod N``, zero padded) for tables designed for daily
  increments, where one day is N contiguous key ranges;
* family ``q`` (``readings_family``), qualifiers ``00`` .. ``95`` (interval of the
  day, ``intervals_per_day`` of them, two digits or three above 100), value the
  decimal text of the kWh (``value_encoding=string``) or the 8-byte big-endian
  IEEE-754 double (``value_encoding=double``). A missing cell is a missing
  interval; an empty value is an explicit null (written for null kWh, so a
  round trip keeps the row);
* family ``e`` (``events_family``), qualifier ``HHMMSS:CODE`` (local time of the
  alarm within the row's day, then the alarm code), value ``1``. Two alarms of
  the same code in the same second are one event, as in the contract's key
  (meter_id, ts, code).

Out: ``read_readings`` gives ``schemas.READINGS_SCHEMA``, ``read_events`` gives
``schemas.EVENTS_SCHEMA``; ``ts`` is local time (the session time zone):
``day + index * (1440 / intervals_per_day)`` minutes.

The reader (``hbase.reader=happybase``) asks the Thrift server for the table's
regions on the driver, makes ``tasks_per_region`` Spark tasks per region, and
each task opens one Thrift connection and reads only what its key range holds
of the day window, as ``plan_task`` plans it under ``choose_strategy``
(``hbase.scan``): multi-gets of the exact keys of known meters, one key range
per meter, one key range per salt (day-first), or the whole range with a
``RowFilter`` regex over the key's date, which makes the region servers read
every row (docs/sources.md, "Row keys and scans"). Transient Thrift or socket
errors are retried with exponential backoff, resuming after the last row
received; after ``retries`` a ``HbaseReadError`` names host:port and region.

``hbase.reader=connector`` reads readings through the hbase-spark connector
(``format("org.apache.hadoop.hbase.spark")``), the path for Kerberos-secured
clusters where Thrift1 + happybase cannot authenticate (see docs/sources.md).
"""

from __future__ import annotations

import bisect
import calendar
import contextlib
import dataclasses
import datetime as dt
import logging
import re
import socket
import time
import zlib
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ntl_spark import schemas
from ntl_spark.config import HbaseConf
from ntl_spark.errors import ConfigError, DataError, MissingInputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

EVENT_VALUE = b"1"
_NS_PER_MIN = 60 * 1_000_000_000


class HbaseReadError(RuntimeError):
    """A scan failed after its retries; the message names host:port, table and region."""


# ---------------------------------------------------------------- key layout
_FIELDS = re.compile(r"(\{salt\}|\{meter_id\}|\{yyyymmdd\})")


@dataclasses.dataclass(frozen=True)
class KeyLayout:
    """Row-key codec built from ``hbase.key_pattern`` and ``hbase.salt_buckets``.

    Fields: ``{meter_id}``, ``{yyyymmdd}`` and, first when present, ``{salt}``:
    ``crc32(meter_id) mod salt_buckets`` as zero-padded decimal (stable across
    processes and languages: ``java.util.zip.CRC32`` gives the same number).
    """

    pattern: str
    salt_buckets: int = 1

    @classmethod
    def of(cls, hb: HbaseConf) -> KeyLayout:
        return cls(hb.key_pattern, hb.salt_buckets)

    @property
    def salted(self) -> bool:
        return "{salt}" in self.pattern

    @property
    def meter_first(self) -> bool:
        """Whether keys start with the meter id (a table can be pre-split by meter range)."""
        return self.pattern.startswith("{meter_id}") and self.pattern.index("{yyyymmdd}") > len("{meter_id}")

    @property
    def meter_major(self) -> bool:
        """Whether the meter id comes before the day: one meter's days are one key range."""
        return self.pattern.index("{meter_id}") < self.pattern.index("{yyyymmdd}")

    @property
    def day_major(self) -> bool:
        """Whether the day comes before the meter id: one day is one key range per salt value."""
        return self.pattern.index("{yyyymmdd}") < self.pattern.index("{meter_id}")

    @property
    def salt_width(self) -> int:
        return len(str(max(self.salt_buckets - 1, 0)))

    def salt_text(self, bucket: int) -> str:
        return f"{bucket:0{self.salt_width}d}"

    def salt(self, meter_id: str) -> str:
        """The salt of ``meter_id`` (``""`` for layouts without ``{salt}``)."""
        if not self.salted:
            return ""
        return self.salt_text(zlib.crc32(meter_id.encode()) % self.salt_buckets)

    def key(self, meter_id: str, day: dt.date) -> bytes:
        return self.pattern.format(salt=self.salt(meter_id), meter_id=meter_id, yyyymmdd=f"{day:%Y%m%d}").encode()

    def meter_prefix(self, meter_id: str) -> bytes:
        """Key prefix shared by every day of ``meter_id`` (meter-major layouts only)."""
        head = self.pattern.split("{yyyymmdd}")[0]
        return head.format(salt=self.salt(meter_id), meter_id=meter_id).encode()

    def day_prefix(self, bucket: int | None, day: dt.date) -> bytes:
        """Key prefix shared by every meter of ``day`` in salt ``bucket`` (day-major layouts only)."""
        head = self.pattern.split("{meter_id}")[0]
        salt = self.salt_text(bucket) if bucket is not None else ""
        return head.format(salt=salt, yyyymmdd=f"{day:%Y%m%d}").encode()

    def salt_prefix(self, bucket: int) -> bytes:
        """Key prefix of salt ``bucket`` (salted layouts: ``{salt}`` is the first field)."""
        return self.salt_text(bucket).encode()

    def _regex(self, meter: str, day: str) -> str:
        out = []
        for part in _FIELDS.split(self.pattern):
            if part == "{meter_id}":
                out.append(meter)
            elif part == "{yyyymmdd}":
                out.append(day)
            elif part == "{salt}":
                out.append(f"\\d{{{self.salt_width}}}")
            else:
                out.append(re.escape(part))
        return "^" + "".join(out) + "$"

    @property
    def parser(self) -> re.Pattern[bytes]:
        return re.compile(self._regex(r"(?P<meter>.+?)", r"(?P<day>\d{8})").encode())

    def group_order(self) -> tuple[int, int]:
        """1-based positions of the meter and the day group in ``_regex("(...)", "(...)")``."""
        meter_pos = self.pattern.index("{meter_id}")
        day_pos = self.pattern.index("{yyyymmdd}")
        return (1, 2) if meter_pos < day_pos else (2, 1)

    def row_filter(self, start: dt.date, end: dt.date) -> str:
        """Thrift filter string keeping only rows whose key date is in [start, end]."""
        regex = self._regex(".+", "(?:" + "|".join(date_alternation(start, end)) + ")")
        # Java regex; Python's re.escape output is valid there for the literal parts.
        return "RowFilter(=, 'regexstring:{}')".format(regex.replace("'", "''"))


def date_alternation(start: dt.date, end: dt.date) -> list[str]:
    """Regex alternatives matching the ``yyyymmdd`` strings of [start, end].

    Whole years and whole months collapse to ``yyyy\\d{4}`` / ``yyyymm\\d{2}``,
    so a filter for a long window stays short.
    """
    if end < start:
        raise ValueError(f"empty day window: start {start} is after end {end}")
    parts: list[str] = []
    day = start
    while day <= end:
        if day.month == 1 and day.day == 1 and dt.date(day.year, 12, 31) <= end:
            parts.append(f"{day.year}\\d{{4}}")
            day = dt.date(day.year + 1, 1, 1)
            continue
        last = dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
        if day.day == 1 and last <= end:
            parts.append(f"{day:%Y%m}\\d{{2}}")
            day = last + dt.timedelta(days=1)
            continue
        parts.append(f"{day:%Y%m%d}")
        day += dt.timedelta(days=1)
    return parts


def qualifier_width(intervals_per_day: int) -> int:
    return 2 if intervals_per_day <= 100 else 3


def interval_qualifiers(intervals_per_day: int) -> list[bytes]:
    """``[b"00", b"01", ...]``: the qualifier of each interval of the day."""
    width = qualifier_width(intervals_per_day)
    return [f"{i:0{width}d}".encode() for i in range(intervals_per_day)]


# ----------------------------------------------------------------- connection
def _transient_errors() -> tuple[type[BaseException], ...]:
    from thriftpy2.transport import TTransportException

    errors: list[type[BaseException]] = [TTransportException, socket.error, ConnectionError, EOFError]
    try:
        from thriftpy2.protocol.exc import TProtocolException

        errors.append(TProtocolException)
    except ImportError:  # pragma: no cover - older thriftpy2
        pass
    return tuple(errors)


def connect(hb: HbaseConf) -> Any:
    """An open happybase connection to the Thrift server of ``hb`` (caller closes it)."""
    import happybase

    conn = happybase.Connection(hb.host, hb.port, timeout=hb.timeout_ms, autoconnect=False)
    conn.open()
    return conn


def _with_retries(hb: HbaseConf, what: str, fn: Any) -> Any:
    transient = _transient_errors()
    for attempt in range(hb.retries + 1):
        try:
            return fn()
        except transient as e:
            if attempt == hb.retries:
                raise HbaseReadError(
                    f"HBase Thrift server {hb.host}:{hb.port}, table '{hb.table}': {what} failed after "
                    f"{hb.retries + 1} attempts: {type(e).__name__}: {e}"
                ) from e
            time.sleep(hb.retry_backoff_s * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


# -------------------------------------------------------------------- writing
def split_keys(meter_ids: Iterable[str], regions: int, layout: KeyLayout) -> list[bytes]:
    """Region boundaries for a new table of ``regions`` regions.

    Salted layouts are cut at salt values (``salt_buckets`` into ``regions``
    equal groups, at most one region per salt), so every day's N key ranges
    spread over the regions; meter-first layouts cut the sorted meter ids into
    equal ranges.

    Raises:
        ConfigError: the layout is neither salted nor meter-first (nothing to cut by).
    """
    if layout.salted:
        parts = min(regions, layout.salt_buckets)
        salts = sorted({round(i * layout.salt_buckets / parts) for i in range(1, parts)})
        return [layout.salt_prefix(c) for c in salts if 0 < c < layout.salt_buckets]
    meters = sorted(set(meter_ids))
    if regions <= 1 or len(meters) < 2:
        return []
    step = len(meters) / regions
    cuts = {meters[int(round(i * step))] for i in range(1, regions) if int(round(i * step)) < len(meters)}
    if not layout.meter_first:
        raise ConfigError(f"hbase.key_pattern {layout.pattern!r}: pre-split needs keys that start with the meter id "
                          "or a {salt} field")
    return sorted(layout.meter_prefix(m) for m in cuts if m != meters[0])


def create_table(
    hb: HbaseConf,
    meter_ids: Iterable[str] = (),
    regions: int | None = None,
    replace: bool = False,
) -> list[bytes]:
    """Create the readings table with families ``q`` and ``e``, pre-split by meter id range or salt.

    Thrift1 (what happybase speaks) cannot pass split keys, so a split table is
    created by ``jvm/hbase/src/CreateTable.java`` (HBase ``Admin.createTable``
    with split keys, run by Java's source launcher against the jars and
    ``hbase-site.xml`` that ``scripts/services.sh`` lays out; ``NTL_HBASE_LIB`` /
    ``NTL_HBASE_CONF`` point elsewhere). Production tables belong to the MDM and
    are not created by the pipeline.

    Args:
        hb: HBase settings (table and family names).
        meter_ids: the meters the table will hold; split keys cut them into equal ranges
            (salted layouts are cut by salt instead and need none).
        regions: number of regions (default ``hb.presplit_regions``).
        replace: drop an existing table first; otherwise an existing table is kept.

    Returns:
        The split keys used (empty when the table already existed or is not split).

    Raises:
        FileNotFoundError: splits were asked for but the HBase jars are not there.
        RuntimeError: the table could not be created (the tool's output is in the message).
    """
    conn = connect(hb)
    try:
        exists = hb.table.encode() in conn.tables()
        if exists and not replace:
            return []
        splits = split_keys(meter_ids, regions or hb.presplit_regions, KeyLayout.of(hb))
        if not splits:
            if exists:
                conn.delete_table(hb.table, disable=True)
            conn.create_table(hb.table, {hb.readings_family: {"max_versions": 1}, hb.events_family: {"max_versions": 1}})
            return []
    finally:
        conn.close()
    _create_presplit(hb, splits, replace)
    return splits


def _create_presplit(hb: HbaseConf, splits: list[bytes], replace: bool) -> None:
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    lib = Path(os.environ.get("NTL_HBASE_LIB", repo / "var" / "hbase" / "lib"))
    conf = Path(os.environ.get("NTL_HBASE_CONF", repo / "var" / "hbase" / "conf"))
    tool = repo / "jvm" / "hbase" / "src" / "CreateTable.java"
    if not any(lib.glob("hbase-client-*.jar")):
        raise MissingInputError(f"no HBase client jars in {lib}: run scripts/services.sh start hbase (or set NTL_HBASE_LIB)")
    with tempfile.NamedTemporaryFile("wb", suffix=".splits", delete=False) as f:
        f.write(b"\n".join(splits) + b"\n")
    try:
        logs = lib.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        cmd = ["java", f"-Dhbase.log.dir={logs}", "-Dhbase.log.file=hbase-admin.log",
               "-cp", f"{conf}:{lib}/*", str(tool), hb.table,
               f"{hb.readings_family},{hb.events_family}", f.name] + (["replace"] if replace else [])
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        raise RuntimeError(f"creating HBase table '{hb.table}' failed: {(done.stdout + done.stderr)[-2000:]}")
    log.info("HBase table %s: %s", hb.table, done.stdout.strip())


def _to_pandas(data: pd.DataFrame | pa.Table) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    return data.to_pandas()


def _encode_values(values: np.ndarray, encoding: str) -> list[bytes]:
    if encoding == "double":
        raw = np.ascontiguousarray(values, dtype=">f8").tobytes()
        out = [raw[i * 8 : i * 8 + 8] for i in range(len(values))]
    else:
        out = [repr(float(v)).encode() for v in values]
    nulls = np.isnan(values)
    if nulls.any():
        for i in np.flatnonzero(nulls):
            out[i] = b""
    return out


def write_readings(hb: HbaseConf, data: pd.DataFrame | pa.Table, batch_size: int = 1000) -> int:
    """Write readings (``meter_id``, ``ts``, ``kwh``) into the table as one row per meter-day.

    ``ts`` must fall on an interval start (naive local time); null kWh is written
    as an empty value. The table must exist (``create_table``).

    Args:
        hb: HBase settings (layout and value encoding).
        data: pandas DataFrame or Arrow table with the readings columns.
        batch_size: rows per Thrift ``mutateRows`` call.

    Returns:
        Number of cells written.

    Raises:
        ValueError: a column is missing or a ``ts`` is not on an interval start.
    """
    df = _to_pandas(data)
    _require_columns(df, ("meter_id", "ts", "kwh"), "readings")
    if df.empty:
        return 0
    layout = KeyLayout.of(hb)
    step = 1440 // hb.intervals_per_day
    ts = pd.to_datetime(df["ts"])
    if ts.dt.tz is not None:
        raise DataError("readings column 'ts' must be naive local time (got a time zone)")
    day = ts.dt.normalize()
    minutes = ((ts - day).dt.total_seconds() // 60).astype("int64")
    if ((minutes % step) != 0).any():
        bad = df.loc[(minutes % step) != 0, "ts"].iloc[0]
        raise DataError(f"readings column 'ts': {bad} is not on a {step}-minute interval start")
    quals = np.array(interval_qualifiers(hb.intervals_per_day), dtype=object)[(minutes // step).to_numpy()]
    keys = [layout.key(m, d) for m, d in zip(df["meter_id"].astype(str), day.dt.date, strict=True)]
    values = _encode_values(df["kwh"].to_numpy(dtype="float64", na_value=np.nan), hb.value_encoding)
    fam = hb.readings_family.encode() + b":"
    cols = [fam + q for q in quals]
    return _put_cells(hb, keys, cols, values, batch_size)


def write_events(hb: HbaseConf, data: pd.DataFrame | pa.Table, batch_size: int = 1000) -> int:
    """Write alarms (``meter_id``, ``ts``, ``code``) into family ``e`` as ``HHMMSS:CODE`` cells.

    Args:
        hb: HBase settings.
        data: pandas DataFrame or Arrow table with the events columns.
        batch_size: rows per Thrift ``mutateRows`` call.

    Returns:
        Number of cells written.
    """
    df = _to_pandas(data)
    _require_columns(df, ("meter_id", "ts", "code"), "events")
    if df.empty:
        return 0
    layout = KeyLayout.of(hb)
    ts = pd.to_datetime(df["ts"])
    keys = [layout.key(m, d) for m, d in zip(df["meter_id"].astype(str), ts.dt.date, strict=True)]
    fam = hb.events_family
    cols = [f"{fam}:{t:%H%M%S}:{c}".encode() for t, c in zip(ts, df["code"].astype(str), strict=True)]
    return _put_cells(hb, keys, cols, [EVENT_VALUE] * len(cols), batch_size)


def _require_columns(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; got {list(df.columns)}")


def _put_cells(hb: HbaseConf, keys: list[bytes], cols: list[bytes], values: list[bytes], batch_size: int) -> int:
    order = sorted(range(len(keys)), key=keys.__getitem__)
    conn = connect(hb)
    try:
        table = conn.table(hb.table)
        with table.batch(batch_size=batch_size) as batch:
            row: dict[bytes, bytes] = {}
            current = None
            for i in order:
                if keys[i] != current:
                    if row:
                        batch.put(current, row)
                    current, row = keys[i], {}
                row[cols[i]] = values[i]
            if row:
                batch.put(current, row)
    finally:
        conn.close()
    return len(keys)


# -------------------------------------------------------------------- reading
@dataclasses.dataclass(frozen=True)
class ScanTask:
    """One Spark task: a key range inside one region (``b""`` = open end)."""

    region: str
    start: bytes
    stop: bytes


def region_tasks(regions: Sequence[dict[str, Any]], tasks_per_region: int) -> list[ScanTask]:
    """Split each region's key range into ``tasks_per_region`` sub-ranges.

    Args:
        regions: happybase ``Table.regions()`` entries (``start_key``, ``end_key``, ``name``).
        tasks_per_region: sub-ranges per region.

    Returns:
        Tasks covering every region's range exactly once, in key order.
    """
    tasks = []
    for reg in sorted(regions, key=lambda r: r["start_key"]):
        name = reg["name"].decode(errors="replace") if isinstance(reg["name"], bytes) else str(reg["name"])
        bounds = [reg["start_key"], *split_range(reg["start_key"], reg["end_key"], tasks_per_region), reg["end_key"]]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            tasks.append(ScanTask(region=name, start=lo, stop=hi))
    return tasks


def split_range(start: bytes, stop: bytes, parts: int) -> list[bytes]:
    """``parts - 1`` keys cutting [start, stop) evenly.

    Keys share a prefix; the part after it is read as a number: decimal when
    both bounds continue with digits (meter ids such as ``M000123``), else as
    big-endian bytes (HBase ``Bytes.split``). An open bound (``b""``) is taken
    as the smallest / largest key with the other bound's prefix.
    """
    if parts <= 1:
        return []
    lo, hi = start, stop if stop else b""
    prefix = bytearray()
    for a, b in zip(lo, hi, strict=False):
        if a != b:
            break
        prefix.append(a)
    p = len(prefix)
    da = re.match(rb"\d+", lo[p:])
    db = re.match(rb"\d+", hi[p:])
    if da and db and hi:
        width = max(len(da.group()), len(db.group()))
        a_num = int(da.group().ljust(width, b"0"))
        b_num = int(db.group().ljust(width, b"0"))
        cuts = {a_num + (b_num - a_num) * i // parts for i in range(1, parts)}
        keys = [bytes(prefix) + str(c).zfill(width).encode() for c in sorted(cuts)]
    else:
        width = 8
        a_num = int.from_bytes(lo[p:p + width].ljust(width, b"\x00"), "big")
        b_num = int.from_bytes(hi[p:p + width].ljust(width, b"\x00"), "big") if hi else 256**width
        cuts = {a_num + (b_num - a_num) * i // parts for i in range(1, parts)}
        keys = [bytes(prefix) + c.to_bytes(width, "big").rstrip(b"\x00") for c in sorted(cuts)]
    return [k for k in keys if k > lo and (not hi or k < hi)]


STRATEGIES = ("filter", "meter_ranges", "gets", "day_ranges")


def choose_strategy(layout: KeyLayout, scan: str, has_meters: bool, days: int, get_max_days: int) -> str:
    """How a read of ``days`` days is done (``hbase.scan``; docs/sources.md "Row keys and scans").

    * ``day_ranges``: day-major layouts: one key range per salt value covering
      the window (``salt|start`` .. ``salt|end+1``); rows of meters outside a
      meter list are dropped after the scan and counted;
    * ``gets``: a meter list and a window of at most ``get_max_days`` days:
      multi-gets of the exact row keys (meter x day), ``batch_size`` keys per
      request, so a meter without a row costs a bloom-filter probe, not a scan;
    * ``meter_ranges``: a meter list on a meter-major layout: one key range per
      meter (``meter|start`` .. ``meter|end+1``), at most ``days`` rows each;
    * ``filter``: the table's whole key range with a ``RowFilter`` regex over
      the key's date: every row is read on the region servers (full backfill,
      or a meter-major table read without a meter list).

    Args:
        layout: the row-key layout.
        scan: ``hbase.scan``: ``auto``, ``meters`` (never ``filter``) or ``filter`` (always).
        has_meters: whether the read names its meters.
        days: days in the window.
        get_max_days: ``hbase.get_max_days``.

    Returns:
        One of ``STRATEGIES``.

    Raises:
        ConfigError: ``scan=meters`` on a meter-major layout without a meter list.
    """
    if scan not in ("auto", "meters", "filter"):
        raise ConfigError(f"hbase.scan must be auto, meters or filter (got {scan!r})")
    if scan == "filter":
        return "filter"
    if layout.day_major:
        return "day_ranges"
    if has_meters:
        return "gets" if days <= get_max_days else "meter_ranges"
    if scan == "meters":
        raise ConfigError(
            f"hbase.scan=meters: a day window of the meter-first table (hbase.key_pattern {layout.pattern!r}) needs "
            "the list of meters to read (ingest takes it from the customers table); without one only "
            "hbase.scan=filter or auto (which falls back to the row-key regex over the whole table) can read it"
        )
    return "filter"


@dataclasses.dataclass(frozen=True)
class ScanPlan:
    """What one scan task asks the server for (``plan_task``).

    Attributes:
        strategy: one of ``STRATEGIES``.
        ranges: key ranges ``[lo, hi)`` to scan, in key order (``b""`` = open end).
        keys: row keys to get, in key order (``gets`` only).
        row_filter: Thrift filter string applied to every range (``filter`` only).
        rows_per_range: the most rows one range can hold (``meter_ranges``: the
            window's days), so a full range ends without an extra empty round trip.
    """

    strategy: str
    ranges: tuple[tuple[bytes, bytes], ...] = ()
    keys: tuple[bytes, ...] = ()
    row_filter: str | None = None
    rows_per_range: int | None = None


def _clip(lo: bytes, hi: bytes, task: ScanTask) -> tuple[bytes, bytes] | None:
    lo = max(lo, task.start)
    if task.stop:
        hi = min(hi, task.stop) if hi else task.stop
    return (lo, hi) if not hi or lo < hi else None


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def plan_task(
    task: ScanTask,
    layout: KeyLayout,
    strategy: str,
    start: dt.date,
    end: dt.date,
    meter_ids: Sequence[str] | None,
) -> ScanPlan:
    """The ranges or keys of ``task``'s key range that a read of [start, end] needs (pure).

    Only what falls inside the task's ``[start, stop)`` is planned: a meter
    whose keys lie in another task's region costs this task nothing.

    Args:
        task: the region sub-range this Spark task owns.
        layout: the row-key layout.
        strategy: from ``choose_strategy``.
        start: first day.
        end: last day (inclusive).
        meter_ids: the meters to read (``meter_ranges`` and ``gets`` need them).

    Returns:
        The task's ``ScanPlan``.

    Raises:
        ValueError: an unknown strategy, or ``meter_ranges``/``gets`` without meters.
    """
    after = end + dt.timedelta(days=1)
    if strategy == "filter":
        return ScanPlan("filter", ranges=((task.start, task.stop),), row_filter=layout.row_filter(start, end))
    if strategy == "day_ranges":
        buckets: list[int | None] = list(range(layout.salt_buckets)) if layout.salted else [None]
        spans = (_clip(layout.day_prefix(b, start), layout.day_prefix(b, after), task) for b in buckets)
        return ScanPlan("day_ranges", ranges=tuple(sorted(r for r in spans if r is not None)))
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown HBase scan strategy {strategy!r}; one of {STRATEGIES}")
    if meter_ids is None:
        raise ValueError(f"HBase scan strategy {strategy} needs meter ids")
    if strategy == "gets":
        keys = sorted(layout.key(m, d) for m in set(meter_ids) for d in _days(start, end))
        lo_i = bisect.bisect_left(keys, task.start)
        hi_i = bisect.bisect_left(keys, task.stop) if task.stop else len(keys)
        return ScanPlan("gets", keys=tuple(keys[lo_i:hi_i]))
    # meter_ranges: ranges of distinct meters are disjoint, so sorted by start they are sorted by end too
    spans_all = sorted((layout.key(m, start), layout.key(m, after)) for m in set(meter_ids))
    first = bisect.bisect_right([hi for _, hi in spans_all], task.start)
    out = []
    for lo, hi in spans_all[first:]:
        if task.stop and lo >= task.stop:
            break
        clipped = _clip(lo, hi, task)
        if clipped is not None:
            out.append(clipped)
    return ScanPlan("meter_ranges", ranges=tuple(out), rows_per_range=(end - start).days + 1)


class _SetParam:
    """Accumulator of distinct strings (meters seen outside the meter list)."""

    def zero(self, value: set[str]) -> set[str]:
        return set()

    def addInPlace(self, a: set[str], b: set[str]) -> set[str]:  # noqa: N802 - pyspark's AccumulatorParam API
        a |= b
        return a


@dataclasses.dataclass
class ScanStats:
    """What a read asked of HBase, gathered from the scan tasks by Spark accumulators.

    Filled when an action on the read's DataFrame has run (each action adds
    again). ``skipped_*`` counts rows the server returned for meters outside the
    read's meter list (day-major layouts, ``filter``): they are dropped, not
    returned. ``filtered_scans`` counts scanners opened with the row-key regex.
    """

    strategy: str
    tasks: int
    scans: Any
    filtered_scans: Any
    gets: Any
    rows: Any
    skipped_rows: Any
    skipped_meters: Any

    @classmethod
    def create(cls, spark: SparkSession) -> ScanStats:
        from pyspark.accumulators import AccumulatorParam

        sc = spark.sparkContext
        param = type("SetParam", (_SetParam, AccumulatorParam), {})()
        return cls("", 0, sc.accumulator(0), sc.accumulator(0), sc.accumulator(0), sc.accumulator(0),
                   sc.accumulator(0), sc.accumulator(set(), param))

    def summary(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "tasks": self.tasks, "scans": self.scans.value,
                "filtered_scans": self.filtered_scans.value, "gets": self.gets.value, "rows": self.rows.value,
                "skipped_rows": self.skipped_rows.value, "skipped_meters": len(self.skipped_meters.value)}


@dataclasses.dataclass(frozen=True)
class _ScanSpec:
    hb: HbaseConf
    kind: str  # readings or events
    start: dt.date
    end: dt.date
    meter_ids: tuple[str, ...] | None
    strategy: str = "filter"

    @property
    def family(self) -> bytes:
        return (self.hb.readings_family if self.kind == "readings" else self.hb.events_family).encode()


def _scan_rows(
    table: Any, start: bytes, stop: bytes, family: bytes, row_filter: str | None, batch_size: int, limit: int | None,
) -> Generator[tuple[bytes, dict[bytes, Any]], None, None]:
    """Rows of [start, stop) as (row key, Thrift ``TCell`` by qualifier), in fewer round trips than happybase.

    The cells stay Thrift objects (the decoder takes their values in one
    pass): building happybase's qualifier -> value dict per row cost about a
    tenth of a whole-table read.

    A batch shorter than asked ends the scan (the Thrift server's
    ``scannerGetList`` returns fewer rows only when the scanner is exhausted),
    and so does reaching ``limit``: a small range costs open, one fetch and
    close, where ``Table.scan`` always asks once more for an empty batch.
    """
    from Hbase_thrift import TScan  # the module happybase loads

    client = table.connection.client
    scan = TScan(startRow=start or None, stopRow=stop or None, columns=[family], caching=batch_size,
                 filterString=row_filter)
    scan_id = client.scannerOpenWithScan(table.name, scan, {})
    n = 0
    try:
        while True:
            want = batch_size if limit is None else min(batch_size, limit - n)
            items = client.scannerGetList(scan_id, want)
            for item in items:
                yield item.row, item.columns
            n += len(items)
            if len(items) < want or (limit is not None and n >= limit):
                return
    finally:
        client.scannerClose(scan_id)


def _scan_task(task: ScanTask, spec: _ScanSpec, stats: ScanStats | None = None) -> Iterator[pd.DataFrame]:
    """Read one task's planned ranges or keys with retries; yields frames of the output schema.

    One Thrift connection serves all of the task's ranges and gets (a new one
    only after a transient error); a retry resumes after the last row received.
    """
    hb = spec.hb
    layout = KeyLayout.of(hb)
    plan = plan_task(task, layout, spec.strategy, spec.start, spec.end, spec.meter_ids)
    if plan.strategy == "gets":
        step = max(hb.batch_size, 1)
        items: list[Any] = [plan.keys[i:i + step] for i in range(0, len(plan.keys), step)]
    else:
        items = list(plan.ranges)
    # gets and meter ranges touch only the listed meters; other plans see every meter of the window
    wanted = spec.meter_ids if plan.strategy in ("day_ranges", "filter") else None
    decoder = _Decoder(spec, layout, wanted)
    transient = _transient_errors()
    attempt, i, resume, got = 0, 0, None, 0
    n_scans = n_filtered = n_gets = 0
    while i < len(items):
        conn = scanner = None
        try:
            conn = connect(hb)
            table = conn.table(hb.table)
            while i < len(items):
                if plan.strategy == "gets":
                    n_gets += 1
                    for key, data in table.rows(list(items[i]), columns=[spec.family]):
                        decoder.add(key, data)
                else:
                    lo, hi = items[i]
                    limit = plan.rows_per_range - got if plan.rows_per_range else None
                    if limit is None or limit > 0:
                        n_scans += 1
                        n_filtered += plan.row_filter is not None
                        scanner = _scan_rows(table, resume or lo, hi, spec.family, plan.row_filter,
                                             hb.batch_size, limit)
                        for key, cells in scanner:
                            decoder.add_cells(key, cells)
                            resume, got = key + b"\x00", got + 1
                            if decoder.cells >= 200_000:
                                yield decoder.flush()
                        scanner = None
                if decoder.cells >= 200_000:
                    yield decoder.flush()
                i, resume, got = i + 1, None, 0
            attempt = 0
        except transient as e:
            attempt += 1
            if attempt > hb.retries:
                raise HbaseReadError(
                    f"HBase Thrift server {hb.host}:{hb.port}, table '{hb.table}', region {task.region} "
                    f"(keys {task.start!r}..{task.stop!r}): scan failed after {attempt} attempts: "
                    f"{type(e).__name__}: {e}"
                ) from e
            log.warning("HBase scan of region %s failed (%s), retry %d/%d", task.region, e, attempt, hb.retries)
            time.sleep(hb.retry_backoff_s * 2 ** (attempt - 1))
        finally:
            if scanner is not None:
                with contextlib.suppress(Exception):  # the transport may already be gone
                    scanner.close()
            if conn is not None:
                conn.close()
    if decoder.skipped_rows:
        log.warning("HBase %s of region %s: %d rows of %d meters outside the meter list skipped", spec.kind,
                    task.region, decoder.skipped_rows, len(decoder.skipped_meters))
    if stats is not None:
        stats.scans.add(n_scans)
        stats.filtered_scans.add(n_filtered)
        stats.gets.add(n_gets)
        stats.rows.add(decoder.rows)
        stats.skipped_rows.add(decoder.skipped_rows)
        stats.skipped_meters.add(decoder.skipped_meters)
    if decoder.cells:
        yield decoder.flush()


class _Decoder:
    """Accumulates scanned rows and turns them into output frames, vectorised."""

    def __init__(self, spec: _ScanSpec, layout: KeyLayout, wanted: Iterable[str] | None) -> None:
        self.spec = spec
        self.parser = layout.parser
        self.prefix_len = len(spec.family) + 1
        fam = spec.family + b":"
        self.qmap = {fam + q: i for i, q in enumerate(interval_qualifiers(spec.hb.intervals_per_day))}
        self.step_ns = (1440 // spec.hb.intervals_per_day) * _NS_PER_MIN
        self.wanted = set(wanted) if wanted is not None else None
        self.first_day, self.last_day = f"{spec.start:%Y%m%d}", f"{spec.end:%Y%m%d}"
        self.rows = 0
        self.skipped_rows = 0
        self.skipped_meters: set[str] = set()
        self._reset()

    def _reset(self) -> None:
        self.meters: list[str] = []
        self.days: list[str] = []
        self.counts: list[int] = []
        self.quals: list[bytes] = []
        self.values: list[bytes] = []
        self.cells = 0

    def add(self, key: bytes, data: dict[bytes, bytes]) -> None:
        """One row as happybase gives it: qualifier -> value."""
        if self._keep(key, data):
            self.quals.extend(data.keys())
            self.values.extend(data.values())

    def add_cells(self, key: bytes, cells: dict[bytes, Any]) -> None:
        """One row as the Thrift scanner gives it: qualifier -> ``TCell``."""
        if self._keep(key, cells):
            self.quals.extend(cells.keys())
            self.values.extend([c.value for c in cells.values()])

    def _keep(self, key: bytes, data: dict[bytes, Any]) -> bool:
        """Parse the row key; count and keep the row's meter and day (False: skipped)."""
        m = self.parser.match(key)
        if m is None:
            log.warning("HBase row key %r does not match hbase.key_pattern; row skipped", key)
            return False
        day = m.group("day").decode()
        meter = m.group("meter").decode()
        if self.wanted is not None and meter not in self.wanted:
            self.skipped_rows += 1
            self.skipped_meters.add(meter)
            return False
        # The server already bounded the day; this guards plans it could not bound.
        if not (self.first_day <= day <= self.last_day):
            return False
        self.meters.append(meter)
        self.days.append(day)
        self.counts.append(len(data))
        self.cells += len(data)
        self.rows += 1
        return True

    def flush(self) -> pd.DataFrame:
        counts = np.asarray(self.counts, dtype=np.int64)
        meters = np.repeat(np.asarray(self.meters, dtype=object), counts)
        day_ns = pd.to_datetime(pd.Series(self.days), format="%Y%m%d").to_numpy().astype("int64")
        day_ns = np.repeat(day_ns, counts)
        out = self._readings(meters, day_ns) if self.spec.kind == "readings" else self._events(meters, day_ns)
        self._reset()
        return out

    def _readings(self, meters: np.ndarray, day_ns: np.ndarray) -> pd.DataFrame:
        # at most intervals_per_day distinct qualifiers: hash them once, then look the codes up
        codes, distinct = pd.factorize(np.asarray(self.quals, dtype=object))
        idx = np.array([self.qmap.get(q, -1) for q in distinct], dtype=np.int64)[codes]
        values = np.asarray(self.values, dtype=object)
        bad = idx < 0
        if bad.any():
            log.warning("%d HBase cells with qualifiers outside 0..%d skipped", int(bad.sum()),
                        self.spec.hb.intervals_per_day - 1)
            idx, values, meters, day_ns = idx[~bad], values[~bad], meters[~bad], day_ns[~bad]
        kwh = decode_values(values, self.spec.hb.value_encoding)
        ts = (day_ns + idx * self.step_ns).astype("datetime64[ns]")
        return pd.DataFrame({"meter_id": meters, "ts": ts, "kwh": kwh})

    def _events(self, meters: np.ndarray, day_ns: np.ndarray) -> pd.DataFrame:
        qualifiers = [q[self.prefix_len:].decode() for q in self.quals]
        secs = np.fromiter(
            (int(q[0:2]) * 3600 + int(q[2:4]) * 60 + int(q[4:6]) for q in qualifiers), dtype=np.int64,
            count=len(qualifiers),
        )
        codes = np.asarray([q[7:] for q in qualifiers], dtype=object)
        ts = (day_ns + secs * 1_000_000_000).astype("datetime64[ns]")
        return pd.DataFrame({"meter_id": meters, "ts": ts, "code": codes})


def decode_values(values: np.ndarray, encoding: str) -> np.ndarray:
    """Cell values -> float64 kWh; empty or undecodable values -> NaN (null in Spark)."""
    n = len(values)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    if encoding == "double":
        lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=n)
        out = np.full(n, np.nan)
        ok = lengths == 8
        if ok.any():
            out[ok] = np.frombuffer(b"".join(values[ok]), dtype=">f8")
        bad = int((~ok & (lengths != 0)).sum())
    else:
        try:  # the common case, in C++: decimal text, empty = null
            text = pa.array(values, type=pa.binary())
            text = pc.if_else(pc.equal(pc.binary_length(text), 0), pa.scalar(None, pa.binary()), text)
            return pc.cast(text.cast(pa.string()), pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass  # not UTF-8, spaces, other spellings: numpy, then value by value
        raw = values.astype("S")
        raw[raw == b""] = b"nan"
        try:
            return raw.astype(np.float64)
        except ValueError:
            out = np.array([_to_float(v) for v in raw])
            bad = int(np.isnan(out).sum() - (raw == b"nan").sum())
    if bad:
        log.warning("%d HBase cell values could not be decoded as %s; read as null", bad, encoding)
    return out


def _to_float(value: bytes) -> float:
    try:
        return float(value)
    except ValueError:
        return float("nan")


def table_regions(hb: HbaseConf) -> list[dict[str, Any]]:
    """The table's regions (start/end keys, name) from the Thrift server, with retries.

    Raises:
        HbaseReadError: the server cannot be reached after ``hb.retries`` retries.
        ValueError: the table does not exist.
    """

    def fetch() -> list[dict[str, Any]]:
        conn = connect(hb)
        try:
            if hb.table.encode() not in conn.tables():
                raise ConfigError(f"HBase table '{hb.table}' not found on {hb.host}:{hb.port} (config hbase.table)")
            return conn.table(hb.table).regions()
        finally:
            conn.close()

    return _with_retries(hb, "listing regions", fetch)


def _read(
    spark: SparkSession,
    hb: HbaseConf,
    kind: str,
    start: dt.date,
    end: dt.date,
    meter_ids: Iterable[str] | None,
    stats: ScanStats | None = None,
) -> DataFrame:
    if end < start:
        raise ValueError(f"empty day window: start {start} is after end {end}")
    schema = schemas.READINGS_SCHEMA if kind == "readings" else schemas.EVENTS_SCHEMA
    if hb.reader == "connector":
        if kind != "readings":
            raise ValueError(
                "hbase.reader=connector reads readings only: alarms are stored under dynamic qualifiers "
                "(HHMMSS:CODE), which hbase.columns.mapping cannot express; read events with hbase.reader=happybase "
                "or from files"
            )
        return read_readings_connector(spark, hb, start, end, meter_ids)
    meters = tuple(sorted(set(meter_ids))) if meter_ids is not None else None
    layout = KeyLayout.of(hb)
    strategy = choose_strategy(layout, hb.scan, meters is not None, (end - start).days + 1, hb.get_max_days)
    tasks = region_tasks(table_regions(hb), hb.tasks_per_region)
    spec = _ScanSpec(hb=hb, kind=kind, start=start, end=end, meter_ids=meters, strategy=strategy)
    if stats is not None:
        stats.strategy, stats.tasks = strategy, len(tasks)
    log.info("HBase %s %s..%s: %d scan tasks over table %s, strategy %s%s", kind, start, end, len(tasks), hb.table,
             strategy, f" ({len(meters)} meters)" if meters is not None else "")
    if strategy == "filter":
        log.warning("HBase %s %s..%s: the row-key regex reads every row of table %s on the region servers "
                    "(hbase.scan=%s%s)", kind, start, end, hb.table, hb.scan,
                    "" if meters is not None else ", no meter list")

    def scan_partition(frames: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
        for frame in frames:
            for task_id in frame["task"]:
                yield from _scan_task(tasks[int(task_id)], spec, stats)

    seeds = spark.sparkContext.parallelize([(i,) for i in range(len(tasks))], max(len(tasks), 1))
    return spark.createDataFrame(seeds, "task int").mapInPandas(scan_partition, schema=schema)


def read_readings(
    spark: SparkSession,
    hb: HbaseConf,
    start: dt.date,
    end: dt.date,
    meter_ids: Iterable[str] | None = None,
    stats: ScanStats | None = None,
) -> DataFrame:
    """Readings of the days [start, end] (inclusive) as ``schemas.READINGS_SCHEMA``.

    Args:
        spark: active session.
        hb: HBase settings (server, layout, scan strategy, parallelism, retries, reader).
        start: first day.
        end: last day (inclusive).
        meter_ids: only these meters (multi-gets or one key range per meter on a
            meter-first table, see ``choose_strategy``); ``None`` = all.
        stats: filled with what the scans asked of HBase once an action has run.

    Returns:
        A lazy DataFrame; each action runs the scans again (cache or write it once).

    Raises:
        HbaseReadError: the server failed beyond the retries (when listing regions
            here; when scanning, inside the Spark job).
        ConfigError: ``hbase.scan=meters`` without ``meter_ids`` on a meter-first table.
        ValueError: the window is empty or the table does not exist.
    """
    return _read(spark, hb, "readings", start, end, meter_ids, stats)


def read_events(
    spark: SparkSession,
    hb: HbaseConf,
    start: dt.date,
    end: dt.date,
    meter_ids: Iterable[str] | None = None,
    stats: ScanStats | None = None,
) -> DataFrame:
    """Alarms of the days [start, end] (inclusive) as ``schemas.EVENTS_SCHEMA``.

    Same arguments, strategies, parallelism and errors as ``read_readings``.
    """
    return _read(spark, hb, "events", start, end, meter_ids, stats)


# ------------------------------------------------- hbase-spark connector path
def connector_mapping(hb: HbaseConf) -> str:
    """``hbase.columns.mapping`` for the readings family: the row key plus one column per interval."""
    kind = "DOUBLE" if hb.value_encoding == "double" else "STRING"
    cols = [f"{q.decode()} {kind} {hb.readings_family}:{q.decode()}" for q in interval_qualifiers(hb.intervals_per_day)]
    return ", ".join(["rowkey STRING :key", *[f"i{c}" for c in cols]])


# What the HBase client says when a secured cluster refuses it (HBase 2.x), and what it means.
_AUTH_FAILURES = (
    ("Found no valid authentication method", "the client has no Kerberos credentials (it ran as a simple, "
     "unauthenticated user) and the cluster requires Kerberos"),
    ("GSS initiate failed", "the Kerberos handshake failed (no valid ticket, an expired one, or a server "
     "principal the KDC does not know)"),
    ("Server not found in Kerberos database", "the KDC does not know the HBase server principal "
     "(hbase.regionserver.kerberos.principal)"),
)


def connector_missing(message: str, fmt: str) -> bool:
    """Whether the connector's error ``message`` says Spark cannot find data source ``fmt`` (no jar)."""
    return "DATA_SOURCE_NOT_FOUND" in message or f"ClassNotFoundException: {fmt}.DefaultSource" in message


def connector_auth_failure(message: str) -> str | None:
    """What an authentication failure in the connector's error ``message`` means, or None for other errors."""
    for needle, meaning in _AUTH_FAILURES:
        if needle in message:
            return f"{meaning} ({needle!r})"
    return None


def read_readings_connector(
    spark: SparkSession,
    hb: HbaseConf,
    start: dt.date,
    end: dt.date,
    meter_ids: Iterable[str] | None = None,
) -> DataFrame:
    """Readings through the hbase-spark connector (Kerberos-capable, Cloudera CDP).

    The connector authenticates with the job's Kerberos credentials (spark-submit
    ``--principal/--keytab`` or the delegation tokens Oozie obtains) and finds the
    cluster through ``hbase-site.xml`` on the classpath (or ``hb.zookeeper_quorum``).
    Row-key comparisons are pushed down as scan ranges: with ``meter_ids`` one
    range per meter and day window; without, the day window is applied after the
    scan (the connector cannot push a key-suffix predicate down).

    Args:
        spark: session with the connector jar (Cloudera's hbase-spark) on the classpath.
        hb: HBase settings.
        start: first day.
        end: last day (inclusive).
        meter_ids: only these meters.

    Returns:
        ``schemas.READINGS_SCHEMA`` DataFrame.

    Raises:
        ConfigError: the connector's jars are not on the classpath.
        HbaseReadError: a secured HBase refused the job's (missing) Kerberos credentials; the message
            says what the job lacks. Other connector errors pass through unchanged.
    """
    from pyspark.sql import functions as F

    layout = KeyLayout.of(hb)
    reader = (
        spark.read.format(hb.connector_format)
        .option("hbase.table", hb.table)
        .option("hbase.columns.mapping", connector_mapping(hb))
        .option("hbase.spark.use.hbasecontext", "false")
        # Row-key ranges are pushed down as scans either way. The column filter would ship the
        # connector's SQL filter, generated for protobuf 2.5: on Spark 3.5 (protobuf 3 first on the
        # classpath) it fails with NoSuchMethodError, and region servers need the connector jar for it.
        .option("hbase.spark.pushdown.columnfilter", "false")
    )
    if hb.zookeeper_quorum:
        reader = reader.option("hbase.zookeeper.quorum", hb.zookeeper_quorum)
    try:
        wide = reader.load()
    except Exception as e:  # Py4JJavaError: the connector's first contact with HBase (ZooKeeper, hbase:meta)
        if connector_missing(str(e), hb.connector_format):
            raise ConfigError(
                f"config key 'hbase.reader': connector, but Spark cannot find data source {hb.connector_format!r}: "
                "put the hbase-spark connector jars on the driver's and executors' classpath (Cloudera: the "
                "parcel's hbase-spark jars; here: scripts/fetch-jars.sh hbase-spark, then spark.conf "
                "spark.driver.extraClassPath with var/jars-hbase-spark/*; docs/sources.md)") from None
        reason = connector_auth_failure(str(e))
        if reason is None:
            raise
        raise HbaseReadError(
            f"HBase table {hb.table!r} through the hbase-spark connector: {reason}. A Kerberos-secured HBase "
            "needs the job's Kerberos login: spark-submit --principal/--keytab (spark.kerberos.principal and "
            "spark.kerberos.keytab in spark.conf), delegation tokens from Oozie's hbase credentials, or a "
            "ticket cache from kinit; and core-site.xml with hadoop.security.authentication=kerberos on the "
            "driver's classpath (docs/sources.md)") from None
    if meter_ids is not None and layout.meter_major:
        cond = None
        for meter in sorted(set(meter_ids)):
            lo = layout.key(meter, start).decode()
            hi = layout.key(meter, end + dt.timedelta(days=1)).decode()
            c = (F.col("rowkey") >= lo) & (F.col("rowkey") < hi)
            cond = c if cond is None else cond | c
        if cond is not None:
            wide = wide.where(cond)
    parser = layout._regex("(.+?)", r"(\d{8})")
    meter_group, day_group = layout.group_order()
    wide = wide.select(
        F.regexp_extract("rowkey", parser, meter_group).alias("meter_id"),
        F.to_date(F.regexp_extract("rowkey", parser, day_group), "yyyyMMdd").alias("day"),
        *[F.col(f"i{q.decode()}") for q in interval_qualifiers(hb.intervals_per_day)],
    ).where(F.col("day").between(F.lit(start), F.lit(end)))
    if meter_ids is not None:
        wide = wide.where(F.col("meter_id").isin(sorted(set(meter_ids))))
    step = 1440 // hb.intervals_per_day
    pairs = ", ".join(f"{i}, i{q.decode()}" for i, q in enumerate(interval_qualifiers(hb.intervals_per_day)))
    long = wide.selectExpr("meter_id", "day", f"stack({hb.intervals_per_day}, {pairs}) as (idx, value)")
    long = long.where(F.col("value").isNotNull())
    return long.select(
        F.col("meter_id"),
        (F.col("day").cast("timestamp") + F.make_interval(mins=F.col("idx") * step)).alias("ts"),
        F.when(F.col("value").cast("string") == "", None).otherwise(F.col("value").cast("double")).alias("kwh"),
    )
