"""benchmarks/report.py: RESULTS.md rendered from the benchmarks' JSON lines, and kept in sync with them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import bench_modules

BENCH = bench_modules.BENCH


report = bench_modules.load("report.py", "bench_report")


def _load_results(monkeypatch: pytest.MonkeyPatch, folder: Path) -> ModuleType:
    """benchmarks/results.py writing into ``folder`` (its ``import report`` finds benchmarks/report.py)."""
    monkeypatch.syspath_prepend(str(BENCH))  # publish() imports report when it runs
    monkeypatch.delitem(sys.modules, "report", raising=False)
    monkeypatch.delitem(sys.modules, "bench_results", raising=False)  # restored after the test
    module = bench_modules.load("results.py", "bench_results")
    monkeypatch.setattr(module, "RESULTS", folder / "RESULTS.md")
    return module


def _run(utc: str, commit: str, ratio: float, section: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "benchmark": "demo", "utc": utc, "commit": commit, "dirty": False,
        "machine": {"cores": 2, "memory_gib": 23.5, "arch": "x86_64", "system": "Linux"},
        "versions": {"python": "3.11.7"}, "load_average": {"start": [3.0, 2.0, 1.0], "end": [4.25, 2.0, 1.0]},
        "params": {"rows": 1000}, "figures": {"ratio": ratio, "seconds": {"ours": 2.0}},
        "headlines": [{"name": "ours / baseline", "value": ratio, "target": 2.0, "better": "lower"},
                      {"name": "rows/s", "value": 1234.5, "target": 1000.0, "better": "higher"}],
        "section": section, **extra,
    }


def _write(folder: Path, name: str, runs: list[dict[str, Any]]) -> None:
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))


def test_met_compares_with_the_target_in_the_right_direction():
    assert report.met({"name": "a", "value": 1.5, "target": 2.0, "better": "lower"}) is True
    assert report.met({"name": "a", "value": 2.5, "target": 2.0, "better": "lower"}) is False
    assert report.met({"name": "a", "value": 1.5, "target": 2.0, "better": "higher"}) is False
    assert report.met({"name": "a", "value": 1.5, "target": None, "better": "higher"}) is None
    with pytest.raises(ValueError, match="better"):
        report.met({"name": "a", "value": 1.5, "target": 2.0, "better": "smaller"})


def test_render_summary_latest_section_and_history(tmp_path: Path):
    # lines out of time order in the file: the report orders them by time
    _write(tmp_path, "demo", [
        _run("2026-11-30T10:00:00+00:00", "b" * 40, 1.5, "\n## Demo run, 2026-11-30\n\n| figure | ratio |\n"),
        _run("2026-11-28T10:00:00+00:00", "a" * 40, 3.0),
        _run("2026-11-29T10:00:00+00:00", "c" * 40, 2.5),
    ])
    text = report.render(report.load_runs(tmp_path))

    assert "Do not edit by hand" in text and "benchmarks/report.py" in text
    assert "[archive/RESULTS-2026-11.md](archive/RESULTS-2026-11.md)" in text
    summary = [line for line in text.splitlines() if line.startswith("| [demo]")]
    assert summary == [
        "| [demo](#demo) | 2026-11-30 10:00 | bbbbbbb | 3.0 / 4.2 | ours / baseline | 1.50 | <= 2 | yes |"]
    assert "| | | | | rows/s | 1,234 | >= 1000 | yes |" in text
    # the latest run's own section, its heading one level down under the benchmark's
    assert "## demo\n" in text and "\n### Demo run, 2026-11-30\n" in text
    history = text[text.index("Other runs"):]
    assert history.index("2026-11-29 10:00") < history.index("2026-11-28 10:00")
    assert "| 2026-11-29 10:00 | ccccccc | 3.0 / 4.2 | 2.50 | 1,234 |" in history
    assert "bbbbbbb" not in history


def test_render_target_not_met_and_run_without_section(tmp_path: Path):
    _write(tmp_path, "zeta", [_run("2026-11-30T10:00:00+00:00", "d" * 40, 2.5, dirty=True)])
    _write(tmp_path, "alpha", [{"benchmark": "alpha", "utc": "2026-11-01", "headlines": [], "section": None,
                                "figures": {"methods": {"A": {"p": 0.125}}}}])
    text = report.render(report.load_runs(tmp_path))

    assert ("| [zeta](#zeta) | 2026-11-30 10:00 | ddddddd (dirty) | 3.0 / 4.2 | ours / baseline | 2.50 | <= 2 | no |"
            in text)
    assert text.index("## alpha") < text.index("## zeta")  # benchmarks sorted by name
    assert "| [alpha](#alpha) | 2026-11-01 | - | - | - | - | - | - |" in text
    assert "No section text was kept" in text and "| methods.A.p | 0.125 |" in text
    assert "Other runs" not in text  # one run each


def test_a_later_variant_run_never_stands_for_the_benchmark(tmp_path: Path):
    _write(tmp_path, "demo", [
        _run("2026-11-29T10:00:00+00:00", "a" * 40, 1.5, "\n## Defaults\n"),
        _run("2026-11-30T10:00:00+00:00", "b" * 40, 2.5, "\n## Variant\n",
             params={"rows": 1000, "variant": "--set deep.refit=true --reuse"}),
    ])
    text = report.render(report.load_runs(tmp_path))

    summary = [line for line in text.splitlines() if line.startswith("| [demo]")]
    assert summary == [
        "| [demo](#demo) | 2026-11-29 10:00 | aaaaaaa | 3.0 / 4.2 | ours / baseline | 1.50 | <= 2 | yes |"]
    assert "Latest run with the default settings of 2 run(s)" in text
    assert "### Defaults" in text and "### Variant" not in text
    others = text[text.index("Other runs"):]
    assert "| run (UTC) | commit | load average (start / end) | settings |" in others
    assert "| 2026-11-30 10:00 | bbbbbbb | 3.0 / 4.2 | --set deep.refit=true --reuse | 2.50 | 1,234 |" in others
    # only variants: the latest of them stands for the benchmark
    _write(tmp_path, "demo", [_run("2026-11-30T10:00:00+00:00", "b" * 40, 2.5, params={"variant": "x"})])
    assert "| [demo](#demo) | 2026-11-30 10:00 | bbbbbbb |" in report.render(report.load_runs(tmp_path))


def test_check_detects_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    _write(tmp_path, "demo", [_run("2026-11-30T10:00:00+00:00", "b" * 40, 1.5)])
    assert report.main(["--check", "--dir", str(tmp_path)]) == 1  # no RESULTS.md yet
    assert report.main(["--dir", str(tmp_path)]) == 0
    assert report.main(["--check", "--dir", str(tmp_path)]) == 0

    _write(tmp_path, "demo", [_run("2026-11-30T10:00:00+00:00", "b" * 40, 1.5),
                              _run("2026-12-01T10:00:00+00:00", "e" * 40, 1.7)])
    assert report.main(["--check", "--dir", str(tmp_path)]) == 1
    assert "report.py" in capsys.readouterr().err
    report.main(["--dir", str(tmp_path)])
    results = tmp_path / "RESULTS.md"
    results.write_text(results.read_text().replace("1.70", "1.60"))  # an edit by hand
    assert report.main(["--check", "--dir", str(tmp_path)]) == 1


def test_bad_line_names_file_and_line(tmp_path: Path):
    (tmp_path / "demo.jsonl").write_text(json.dumps(_run("2026-11-30", "b" * 40, 1.5)) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"demo\.jsonl line 2"):
        report.load_runs(tmp_path)


def test_publish_records_the_run_and_regenerates_results_md(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]):
    results = _load_results(monkeypatch, tmp_path)
    args: dict[str, Any] = {
        "figures": {"ours_s": 3.0, "per_method": {"a": 0.5}}, "params": {"rows": 10},
        "headlines": [results.Headline("ours / baseline", 1.5, 2.0, "lower")], "load_start": (1.0, 2.0, 3.0),
    }
    assert results.publish("demo", "\n## Demo, dry\n\n| a | b |\n", dry=True, **args) is None
    assert "## Demo, dry" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # dry: nothing written

    path = results.publish("demo", "\n## Demo\n\n| a | b |\n", dry=False, **args)
    assert path == tmp_path / "demo.jsonl"
    (line,) = [json.loads(t) for t in path.read_text().splitlines()]
    assert line["section"] == "## Demo\n\n| a | b |\n"
    assert line["headlines"] == [{"name": "ours / baseline", "value": 1.5, "target": 2.0, "better": "lower"}]
    assert line["figures"] == args["figures"] and line["params"] == {"rows": 10}
    assert line["load_average"]["start"] == [1.0, 2.0, 3.0] and len(line["load_average"]["end"]) == 3
    assert {"utc", "commit", "dirty", "machine", "versions"} <= set(line)
    assert report.main(["--check", "--dir", str(tmp_path)]) == 0
    assert "| ours / baseline | 1.50 | <= 2 | yes |" in (tmp_path / "RESULTS.md").read_text()
    with pytest.raises(ValueError, match="better"):
        results.Headline("x", 1.0, 2.0, "less")


def test_committed_results_md_matches_the_committed_json_lines():
    assert report.main(["--check"]) == 0, "benchmarks/RESULTS.md is stale: run .venv/bin/python benchmarks/report.py"
