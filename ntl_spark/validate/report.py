"""Readable HTML reports: headings, tables with coloured statuses and inline PNG plots.

In: sections added by the validation stages (text, rows as dicts, matplotlib figures).
Out: one self-contained HTML file (images embedded as base64), fit to open from
MLflow's artifact view or a shared folder.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_CSS = """
body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:28px}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}th{background:#f3f3f3}
td.t{text-align:left}.ok{background:#e3f4e3}.warn{background:#fff1c2}.block{background:#f9d0d0}
.skipped{background:#eee;color:#777}.blessed{background:#e3f4e3}.refused{background:#f9d0d0}
.summary{font-size:15px;padding:8px 12px;border-radius:4px;display:inline-block}
img{max-width:100%;border:1px solid #eee;margin:6px 0}p.note{color:#555;font-size:12px}
"""
STATUSES = ("ok", "warn", "block", "skipped", "blessed", "refused")


def fmt(value: Any) -> str:
    """A cell value as short text."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return "nan"
        value = float(value)
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".") if not float(value).is_integer() else f"{value:,.0f}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    return str(value)


class Report:
    """An HTML page built section by section."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str, note: bool = False) -> None:
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def summary(self, text: str, status: str) -> None:
        self.parts.append(f'<p class="summary {html.escape(status)}">{html.escape(text)}</p>')

    def table(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> None:
        """A table of ``rows``; a ``status`` or ``level`` cell is coloured by its value."""
        if not rows:
            self.text("(nothing)", note=True)
            return
        cols = list(columns or rows[0].keys())
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = []
        for r in rows:
            cells = []
            for c in cols:
                v = r.get(c)
                text = html.escape(fmt(v))
                cls = [] if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else ["t"]
                if isinstance(v, str) and v in STATUSES:
                    cls.append(v)
                cells.append(f'<td class="{" ".join(cls)}">{text}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.parts.append(f"<table><tr>{head}</tr>{''.join(body)}</table>")

    def figure(self, fig: Any, caption: str = "") -> None:
        """Embed a matplotlib figure as a PNG (the figure is closed)."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        self.image_bytes(buf.getvalue(), caption)

    def image(self, path: Path | str, caption: str = "") -> None:
        self.image_bytes(Path(path).read_bytes(), caption)

    def image_bytes(self, png: bytes, caption: str = "") -> None:
        data = base64.b64encode(png).decode("ascii")
        self.parts.append(f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{data}"/>')
        if caption:
            self.text(caption, note=True)

    def html(self) -> str:
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>"
                + "\n".join(self.parts) + "</body></html>")

    def write(self, path: Path | str) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.html(), encoding="utf-8")
        return out


# ------------------------------------------------------------------- plots
def pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


LEVEL_COLOURS = {"ok": "#6aa84f", "warn": "#f1c232", "block": "#cc0000", "skipped": "#999999"}


def bar_chart(labels: Sequence[str], values: Sequence[float], levels: Sequence[str] | None = None,
              title: str = "", xlabel: str = "", lines: Sequence[float] = ()) -> Any:
    """Horizontal bars (coloured by level) with optional threshold lines."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.22 * len(labels) + 1.2))
    colours = [LEVEL_COLOURS.get(lv, "#4a86e8") for lv in (levels or ["x"] * len(labels))]
    ax.barh(list(labels)[::-1], list(values)[::-1], color=colours[::-1])
    for x in lines:
        ax.axvline(x, color="grey", linestyle=":")
    ax.set(title=title, xlabel=xlabel)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig


def shares_chart(panels: Sequence[tuple[str, list[float], Mapping[str, list[float]]]], ncols: int = 3) -> Any:
    """Small multiples of binned shares: (title, interior edges, {set name: shares per bin})."""
    plt = pyplot()
    n = max(len(panels), 1)
    rows = math.ceil(n / ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(4 * ncols, 2.6 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (title, edges, sets) in zip(axes.flat, panels, strict=False):
        width = 0.8 / max(len(sets), 1)
        for j, (name, shares) in enumerate(sets.items()):
            x = np.arange(len(shares)) + j * width
            ax.bar(x, shares, width=width, label=name)
        labels = [f"<={e:.3g}" for e in edges] + [f">{edges[-1]:.3g}" if edges else "all", "null"]
        ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
        ax.set_xticklabels(labels, rotation=60, fontsize=6)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def histogram_chart(panels: Sequence[tuple[str, list[float], list[int]]], ncols: int = 4) -> Any:
    """Small multiples of stored histograms: (title, bin edges, counts)."""
    plt = pyplot()
    n = max(len(panels), 1)
    rows = math.ceil(n / ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(3.2 * ncols, 2.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (title, edges, counts) in zip(axes.flat, panels, strict=False):
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4a86e8")
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig
