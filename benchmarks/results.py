"""Shared tail of the benchmark scripts (:func:`publish`): print the run's results section, keep the
run as one JSON line in ``benchmarks/<benchmark>.jsonl`` and regenerate ``benchmarks/RESULTS.md`` from
all those lines (``report.py``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class Headline:
    """A figure the summary of RESULTS.md shows against its target.

    Attributes:
        name: what it measures, e.g. ``"model step / native inplace_predict"`` (stable across runs: the
            history table of RESULTS.md has a column per name).
        value: the measured value (None when it could not be computed).
        target: the value to reach, or None where none is set.
        better: ``"lower"`` (met when ``value <= target``) or ``"higher"`` (``value >= target``).
    """

    name: str
    value: float | None
    target: float | None = None
    better: str = "lower"

    def __post_init__(self) -> None:
        if self.better not in ("lower", "higher"):
            raise ValueError(f"headline {self.name!r}: better must be 'lower' or 'higher', got {self.better!r}")


def job_env(argv: Sequence[str] | None = None) -> None:
    """Give this process the jobs' environment (``spark.env``, e.g. ``OMP_WAIT_POLICY``) the way a job gets it.

    Call before numpy/xgboost load OpenMP: the native baselines then run under
    the same settings as the Spark side, whose session sets them again
    (``ntl_spark.session.build_session``). ``--set spark.env.NAME=value`` in
    ``argv`` (default ``sys.argv``) is taken into account.
    """
    from ntl_spark.config import load_config
    from ntl_spark.session import apply_driver_env

    args = list(sys.argv[1:] if argv is None else argv)
    overrides = [v for flag, v in zip(args, args[1:], strict=False) if flag == "--set"]
    overrides += [a.split("=", 1)[1] for a in args if a.startswith("--set=")]
    apply_driver_env(load_config("local", [o for o in overrides if o.startswith("spark.env.")]))


class MemorySampler:
    """Peak resident memory of a process tree, sampled from /proc while a step runs (Linux).

    Spark's memory is spread over processes: the JVM (driver, and in local mode
    the executor threads) and the Python workers it forks for Python UDFs,
    ``mapInArrow`` and the like. ``resource.getrusage`` only sees the calling
    process, so this samples every descendant of ``root`` (default: this
    process, which is left out) every ``period`` seconds and keeps the peaks:
    the JVM's RSS, the Python workers' summed RSS (and the most workers alive
    at once), and the whole tree's summed RSS.

        with MemorySampler() as mem:
            run_the_step()
        mem.peaks  # {"jvm_mb": ..., "python_workers_mb": ..., "python_workers": ..., "total_mb": ...}
    """

    def __init__(self, root: int | None = None, period: float = 0.2, include_root: bool = False) -> None:
        import threading

        self.root = os.getpid() if root is None else root
        self.period = period
        self.include_root = include_root
        self.peaks: dict[str, float] = {"jvm_mb": 0.0, "python_workers_mb": 0.0, "python_workers": 0, "total_mb": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @staticmethod
    def _children() -> dict[int, list[int]]:
        kids: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry.name))
        return kids

    @staticmethod
    def _rss_and_kind(pid: int) -> tuple[float, str]:
        try:
            with open(f"/proc/{pid}/status") as fh:
                rss = next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0) / 1024
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return 0.0, ""
        first = cmd.split(" ", 1)[0].rsplit("/", 1)[-1]
        return rss, "jvm" if first == "java" else "python" if first.startswith("python") else "other"

    def sample(self) -> None:
        """One sample of the tree; updates the peaks."""
        kids = self._children()
        todo, seen = [self.root], []
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo += kids.get(pid, [])
        jvm = workers = total = 0.0
        n_workers = 0
        for pid in seen:
            if pid == self.root and not self.include_root:
                continue
            rss, kind = self._rss_and_kind(pid)
            total += rss
            if kind == "jvm":
                jvm += rss
            elif kind == "python":
                workers += rss
                n_workers += 1
        for key, value in (("jvm_mb", jvm), ("python_workers_mb", workers), ("python_workers", n_workers),
                           ("total_mb", total)):
            self.peaks[key] = max(self.peaks[key], value)

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _commit() -> dict[str, Any]:
    """The checkout's commit and whether tracked files differ from it."""
    repo = RESULTS.parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("pyspark", "delta-spark", "xgboost", "numpy", "pandas", "pyarrow", "deltalake"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[pkg] = metadata.version(pkg)
        module = sys.modules.get(pkg.replace("-", "_"))
        if pkg not in out and module is not None:  # a wheel under another distribution name (xgboost-cpu)
            out[pkg] = str(getattr(module, "__version__", "?"))
    return out


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def publish(benchmark: str, section: str, *, figures: Mapping[str, Any], params: Mapping[str, Any],
            headlines: Sequence[Headline], load_start: Sequence[float] | None, dry: bool) -> Path | None:
    """Print ``section`` and, unless ``dry``, keep the run and regenerate ``benchmarks/RESULTS.md``.

    Appends one JSON line to ``benchmarks/<benchmark>.jsonl`` with the
    machine (cores, memory, architecture), the package versions, the load
    average (at ``load_start`` and now), the commit (and whether tracked
    files differed from it), the environment settings that change timings
    (``OMP_WAIT_POLICY``), the run's ``params`` and ``figures``, its
    ``headlines`` and ``section`` (the Markdown printed here), then rewrites
    RESULTS.md from every ``benchmarks/*.jsonl`` (``report.write``).

    Args:
        benchmark: the file's name, e.g. ``"score"``.
        section: the run's Markdown section (a ``## `` heading, then text and tables).
        figures: the measured numbers (JSON-serialisable; nested mappings allowed).
        params: what the run was asked to do (sizes, repeats, overrides).
        headlines: the figures to show against their targets.
        load_start: ``os.getloadavg()`` when the run started.
        dry: print only; write nothing.

    Returns:
        The JSON lines file, or None when ``dry``.
    """
    text = section.rstrip("\n") + "\n"
    print(text)
    if dry:
        return None
    path = RESULTS.parent / f"{benchmark}.jsonl"
    line = {
        "benchmark": benchmark,
        "utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **_commit(),
        "machine": {"cores": os.cpu_count(), "memory_gib": _memory_gib(), "arch": platform.machine(),
                    "system": platform.system()},
        "versions": _versions(),
        "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")},
        "load_average": {"start": list(load_start) if load_start is not None else None,
                         "end": list(os.getloadavg())},
        "params": dict(params),
        "figures": dict(figures),
        "headlines": [asdict(h) for h in headlines],
        "section": text.strip("\n") + "\n",
    }
    with open(path, "a") as fh:
        fh.write(json.dumps(line, default=str) + "\n")
    import report  # beside this file, on sys.path as this module is

    report.write(RESULTS.parent)
    print(f"raw results appended to {path}; {RESULTS} regenerated")
    return path
