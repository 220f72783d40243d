"""Generate ``benchmarks/RESULTS.md`` from the raw results, ``benchmarks/<benchmark>.jsonl``.

Every benchmark run appends one JSON line to its file (``results.publish``):
the machine, package versions, load average at the start and end, commit
(and whether the checkout had uncommitted changes), parameters, figures, the
Markdown section it printed and its headline figures, each
``{"name", "value", "target", "better": "lower" | "higher"}`` (``target``
null where none is set). RESULTS.md is rendered from those lines only: a
summary of the latest run of each benchmark with its default settings
(headline figures against their targets), then per benchmark that run's
section and a table of the other runs. A run whose ``params.variant`` is set
(the benchmark's words for what it changed, e.g. detection's ``--set`` model
settings or ``--reuse``) is a variant: it never stands for the benchmark while
a run with the defaults exists, and the table says what it changed.
Connection settings (a host, a master) are not variants. The output depends on the lines alone (no generation time), so
``--check`` can tell whether the committed RESULTS.md matches them.

    .venv/bin/python benchmarks/report.py           # rewrite benchmarks/RESULTS.md
    .venv/bin/python benchmarks/report.py --check   # exit 1 when RESULTS.md is not what the JSON lines give
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "RESULTS.md"
ARCHIVE = "archive/RESULTS-2026-11.md"  # the hand-written results, relative to RESULTS.md

Run = Mapping[str, Any]


def load_runs(folder: Path = BENCH) -> dict[str, list[Run]]:
    """Every run in ``folder/*.jsonl``, by benchmark (the file's name), oldest first.

    Runs are ordered by their ``utc`` time; runs with the same time keep the
    order of their lines.

    Raises:
        ValueError: a line is not a JSON object (names the file and line).
    """
    runs: dict[str, list[Run]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        lines = []
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path.name} line {number}: not JSON ({e.msg})") from e
            if not isinstance(line, dict):
                raise ValueError(f"{path.name} line {number}: a JSON object expected, got {type(line).__name__}")
            lines.append(line)
        runs[path.stem] = sorted(lines, key=lambda r: str(r.get("utc") or ""))
    return runs


def met(headline: Mapping[str, Any]) -> bool | None:
    """Whether a headline figure meets its target (None without a target or a value).

    Raises:
        ValueError: ``better`` is neither "lower" nor "higher".
    """
    value, target, better = headline.get("value"), headline.get("target"), headline.get("better")
    if better not in ("lower", "higher"):
        raise ValueError(f"headline {headline.get('name')!r}: better must be 'lower' or 'higher', got {better!r}")
    if value is None or target is None:
        return None
    return value <= target if better == "lower" else value >= target


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def _target(headline: Mapping[str, Any]) -> str:
    if headline.get("target") is None:
        return "-"
    return f"{'<=' if headline.get('better') == 'lower' else '>='} {headline['target']:g}"


def _when(run: Run) -> str:
    utc = run.get("utc")
    return str(utc)[:16].replace("T", " ") if utc else "-"


def _commit(run: Run) -> str:
    commit = run.get("commit")
    if not commit:
        return "-"
    return f"{commit[:7]}{' (dirty)' if run.get('dirty') else ''}"


def _load(run: Run) -> str:
    load = run.get("load_average") or {}
    start, end = load.get("start"), load.get("end")
    if not start and not end:
        return "-"
    return " / ".join(f"{pair[0]:.1f}" if pair else "-" for pair in (start, end))


def _machine(run: Run) -> str:
    machine, versions = run.get("machine") or {}, run.get("versions") or {}
    parts = []
    if machine:
        parts.append(f"{machine.get('cores')} cores, {_num(machine.get('memory_gib'))} GiB, {machine.get('arch')}, "
                     f"{machine.get('system')}")
    if versions:
        parts.append(", ".join(f"{k} {v}" for k, v in versions.items()))
    return "; ".join(parts) if parts else "not recorded"


def _params(run: Run) -> str:
    params = run.get("params") or {}
    return ", ".join(f"{k} {json.dumps(v)}" for k, v in params.items()) or "not recorded"


def variant(run: Run) -> str:
    """What ``run`` changed from the benchmark's defaults (``params.variant``; '' for nothing)."""
    return str((run.get("params") or {}).get("variant") or "")


def reported(history: Sequence[Run]) -> Run:
    """The run that stands for a benchmark: its latest with the default settings, else its latest."""
    defaults = [r for r in history if not variant(r)]
    return (defaults or history)[-1]


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _flat(figures: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if isinstance(value, Mapping):
            out += _flat(value, f"{prefix}{key}.")
        elif not isinstance(value, list):
            out.append((f"{prefix}{key}", value))
    return out


def _section(run: Run) -> list[str]:
    """The run's own section, its headings one level down; its scalar figures where no section was kept."""
    text = run.get("section")
    if text:
        return [("#" + line) if line.startswith("#") else line for line in text.strip("\n").splitlines()]
    rows = _flat(run.get("figures") or {})
    lines = ["No section text was kept for this run; its figures:", "", "| figure | value |", "|---|---|"]
    return lines + [f"| {_cell(k)} | {_num(v)} |" for k, v in rows]


def _headline_names(runs: Sequence[Run]) -> list[str]:
    names: list[str] = []
    for run in runs:
        for h in run.get("headlines") or ():
            if h["name"] not in names:
                names.append(h["name"])
    return names


def render(runs: Mapping[str, Sequence[Run]]) -> str:
    """RESULTS.md for ``runs`` (``{benchmark: [run, ...]}``, oldest first, as :func:`load_runs` gives them)."""
    out = [
        "# Benchmark results",
        "",
        "Generated by `benchmarks/report.py` from the raw results beside it, `benchmarks/<benchmark>.jsonl` (one",
        "JSON line per run: machine, package versions, load average at the start and end, commit, parameters,",
        "figures, the section the run printed and its headline figures). Do not edit by hand: every benchmark run",
        "appends its line and rewrites this file; after changing a JSON line run",
        "`.venv/bin/python benchmarks/report.py` (`--check` exits 1 when this file is out of date).",
        "",
        f"Results measured before raw results were kept, with their hand-written readings: [{ARCHIVE}]({ARCHIVE}).",
        "",
        "## Summary (latest run of each benchmark with its default settings)",
        "",
        "| benchmark | latest run (UTC) | commit | load average (start / end) | headline figure | value | target "
        "| met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = sorted(b for b, r in runs.items() if r)
    for bench in names:
        latest = reported(runs[bench])
        head = f"| [{bench}](#{bench}) | {_when(latest)} | {_commit(latest)} | {_load(latest)} |"
        headlines = latest.get("headlines") or [{"name": "-", "value": None, "target": None, "better": "lower"}]
        for h in headlines:
            ok = met(h)
            out.append(f"{head} {_cell(h['name'])} | {_num(h.get('value'))} | {_target(h)} | "
                       f"{'-' if ok is None else 'yes' if ok else 'no'} |")
            head = "| | | | |"
    for bench in names:
        history = runs[bench]
        latest = reported(history)
        which = f"Latest of {len(history)} run(s)" if latest is history[-1] else (
            f"Latest run with the default settings of {len(history)} run(s) (later variants in the table below)")
        out += [
            "",
            f"## {bench}",
            "",
            f"{which} in [{bench}.jsonl]({bench}.jsonl): {_when(latest)} UTC, commit "
            f"{_commit(latest)}, load average {_load(latest)} (start / end). Machine: {_machine(latest)}. "
            f"Parameters: {_params(latest)}.",
            "",
            *_section(latest),
        ]
        others = [r for r in reversed(history) if r is not latest]
        if others:
            columns = _headline_names(others)
            settings = any(variant(r) for r in history)
            out += ["", "Other runs, newest first:", "",
                    "| run (UTC) | commit | load average (start / end) |" + (" settings |" if settings else "")
                    + "".join(f" {_cell(c)} |" for c in columns),
                    "|---|---|---|" + ("---|" if settings else "") + "---|" * len(columns)]
            for run in others:
                values = {h["name"]: h.get("value") for h in run.get("headlines") or ()}
                changed = f" {_cell(variant(run) or 'defaults')} |" if settings else ""
                out.append(f"| {_when(run)} | {_commit(run)} | {_load(run)} |{changed}"
                           + "".join(f" {_num(values.get(c))} |" for c in columns))
    return "\n".join(out) + "\n"


def write(folder: Path = BENCH) -> Path:
    """Rewrite ``folder/RESULTS.md`` from ``folder/*.jsonl``; return its path."""
    path = folder / RESULTS.name
    path.write_text(render(load_runs(folder)))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when RESULTS.md is out of date")
    ap.add_argument("--dir", type=Path, default=BENCH, help="folder of the JSON lines and RESULTS.md")
    args = ap.parse_args(argv)
    path = args.dir / RESULTS.name
    if args.check:
        expected = render(load_runs(args.dir))
        if not path.exists() or path.read_text() != expected:
            print(f"{path} is not what the JSON lines give: run .venv/bin/python benchmarks/report.py",
                  file=sys.stderr)
            return 1
        return 0
    print(f"wrote {write(args.dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
