"""Excel workbooks for the field teams (openpyxl).

:func:`write_campaign_workbook` writes one campaign's requests: a ``summary``
sheet (the campaign's settings, then requests per region and arm), and one
sheet per region with the requests in order (header frozen, autofilter on the
header, column widths fitted to the contents). The file is written to a
temporary name and renamed, so a reader never opens half a workbook.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# Columns of a region sheet, in order (the request's lineage stays in the Delta table).
REQUEST_COLUMNS = (
    "campaign_id", "region", "arm", "rank", "customer_id", "score", "expected_kwh", "expected_value",
    "selection_probability", "model_name", "model_version", "scores_run_id", "scored_on", "created_on",
)
SUMMARY_SHEET = "summary"
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_name(region: str) -> str:
    """An Excel sheet name for ``region``: at most 31 characters, none of ``[]:*?/\\``."""
    name = _BAD_SHEET_CHARS.sub("_", region)[:31] or "_"
    return name if name != SUMMARY_SHEET else f"{name}_"


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, dt.datetime):
        return value
    return value


def _fit_widths(ws: Any, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from openpyxl.utils import get_column_letter

    for j, header in enumerate(headers, start=1):
        longest = max([len(str(header)), *(len(f"{r[j - 1]:.4f}" if isinstance(r[j - 1], float) else str(r[j - 1]))
                                            for r in rows[:1000] if r[j - 1] is not None)])
        ws.column_dimensions[get_column_letter(j)].width = min(60, longest + 2)


def _table_sheet(wb: Any, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Any:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    ws.append(list(headers))
    for c in ws[1]:
        c.font = Font(bold=True)
    for r in rows:
        ws.append([_cell(v) for v in r])
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(1, len(rows) + 1)}"
    _fit_widths(ws, headers, rows)
    for j, h in enumerate(headers, start=1):
        fmt = {"score": "0.0000", "selection_probability": "0.0000", "expected_kwh": "#,##0.0",
               "expected_value": "#,##0.00", "scored_on": "yyyy-mm-dd", "created_on": "yyyy-mm-dd"}.get(h)
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = fmt
    return ws


def write_campaign_workbook(
    requests: pd.DataFrame, summary: Sequence[Mapping[str, Any]], path: str | Path, about: Mapping[str, str]
) -> Path:
    """Write a campaign's workbook: a summary sheet and one sheet per region.

    Args:
        requests: the campaign's rows (``schemas.CAMPAIGNS_SCHEMA`` columns), in
            the order they go on the sheets.
        summary: rows with region, arm, requests, eligible, mean_score,
            expected_kwh, expected_value (``campaign.campaign_summary``).
        path: the ``.xlsx`` file to write (folders are created).
        about: the campaign's settings shown at the top of the summary sheet.

    Returns:
        The path written.

    Raises:
        ValueError: ``requests`` lacks a column of :data:`REQUEST_COLUMNS`.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    missing = [c for c in REQUEST_COLUMNS if c not in requests.columns]
    if missing:
        raise ValueError(f"write_campaign_workbook: requests lack column(s) {missing}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    ws = wb.active
    ws.title = SUMMARY_SHEET
    for key, value in about.items():
        ws.append([key, value])
        ws.cell(ws.max_row, 1).font = Font(bold=True)
    ws.append([])
    heads = ["region", "arm", "requests", "eligible", "mean_score", "expected_kwh", "expected_value"]
    ws.append(heads)
    header_row = ws.max_row
    for c in ws[header_row]:
        c.font = Font(bold=True)
    body = [[_cell(s.get(h)) for h in heads] for s in summary]
    for r in body:
        ws.append(r)
    ws.append(["total", "", sum(int(s["requests"]) for s in summary)])
    ws.freeze_panes = f"A{header_row + 1}"
    _fit_widths(ws, heads, body + [[str(k), str(v)] + [None] * (len(heads) - 2) for k, v in about.items()])

    cols = list(REQUEST_COLUMNS)
    for region in sorted(requests["region"].unique()):
        part = requests[requests["region"] == region][cols]
        rows = [[_cell(v) for v in rec] for rec in part.itertuples(index=False, name=None)]
        _table_sheet(wb, sheet_name(str(region)), cols, rows)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    wb.save(tmp)
    os.replace(tmp, out)
    return out


def read_sheet(path: str | Path, sheet: str) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of one sheet, as openpyxl reads them back (for checks and tools)."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    try:
        rows = [list(r) for r in wb[sheet].iter_rows(values_only=True)]
    finally:
        wb.close()
    return [str(h) for h in rows[0]] if rows else [], rows[1:]
