"""Server-rendered charts (matplotlib, PNG as data URIs): nothing loaded from the internet."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _png(fig: object) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def monthly(df: pd.DataFrame) -> str:
    """Bar chart of monthly kWh (columns month, kwh; missing months left blank)."""
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.bar(pd.to_datetime(df["month"]), df["kwh"].astype(float), width=20, color="#2b6cb0")
    ax.set_ylabel("kWh")
    ax.set_title("Monthly consumption")
    ax.grid(axis="y", alpha=0.3)
    fig.autofmt_xdate()
    return _png(fig)


def heatmap(df: pd.DataFrame) -> str:
    """Day x 15-minute interval heat map of a meter's readings (columns day, kwh array)."""
    width = max((len(k) for k in df["kwh"] if k is not None), default=96)
    grid = np.full((len(df), width), np.nan)
    for i, values in enumerate(df["kwh"]):
        if values is not None:
            row = np.array([np.nan if v is None else v for v in values], dtype=float)
            grid[i, : len(row)] = row
    fig, ax = plt.subplots(figsize=(9, max(2.5, len(df) * 0.09)))
    im = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xlabel(f"interval of the day ({24 * 60 // width} min)")
    hours = list(range(0, width, max(1, width // 8)))
    ax.set_xticks(hours, [f"{h * 24 // width:02d}:00" for h in hours])
    step = max(1, len(df) // 10)
    ax.set_yticks(range(0, len(df), step), [str(d)[:10] for d in df["day"].iloc[::step]])
    fig.colorbar(im, ax=ax, label="kWh")
    ax.set_title("15-minute readings (blank = missing)")
    return _png(fig)
