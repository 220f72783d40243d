"""Excel export of an inspection request: a summary sheet and the customers to inspect."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font


def request_workbook(req: Any, lines: list[dict[str, Any]], show_coordinates: bool) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "Request"
    summary = [
        ("Request", req.code), ("Campaign", req.source_campaign), ("Strategy", req.label), ("Ranking of", str(req.scored_on or "")),
        ("Zone", req.zone or "all regions"), ("Inspections", req.inspections),
        ("Requested on", str(req.requested_on)), ("Created by", req.created_by.full_name),
        ("Description", req.description),
    ]
    for row in summary:
        ws.append(row)
        ws.cell(ws.max_row, 1).font = Font(bold=True)
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 60

    sheet = wb.create_sheet("Customers")
    header = ["inspection_id", "position", "customer_id", "region", "tariff", "meter_type", "rank", "score", "arm"]
    if show_coordinates:
        header += ["latitude", "longitude"]
    header += ["outcome", "inspected_on", "irregularity", "recovered_kwh"]
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in lines:
        sheet.append([line.get(h) if h not in ("inspected_on",) else (str(line[h]) if line.get(h) else None)
                      for h in header])
    sheet.freeze_panes = "A2"
    for col, width in zip("ABCDEFGH", (18, 9, 14, 12, 22, 12, 7, 9), strict=True):
        sheet.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
