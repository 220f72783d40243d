"""Shared tail of the benchmark scripts: print a results section and append it to RESULTS.md."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def publish(text: str, dry: bool) -> None:
    """Print ``text`` (a Markdown section) and, unless ``dry``, append it to ``benchmarks/RESULTS.md``."""
    text = text.rstrip("\n") + "\n"
    print(text)
    if not dry:
        with open(RESULTS, "a") as fh:
            fh.write(text)
