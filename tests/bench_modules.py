"""The scripts of benchmarks/ as modules, for the tests that check their pure parts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(script: str, name: str) -> ModuleType:
    """benchmarks/``script`` imported as module ``name``; its sibling imports (``results``, ``report``)
    resolve to benchmarks/ while it loads, and ``sys.modules[name]`` holds it (dataclasses look it up there)."""
    spec = importlib.util.spec_from_file_location(name, BENCH / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(BENCH))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module
