"""The package reads as layers: core -> io -> shared model plumbing -> stages -> orchestration.

A module may import from its own layer's subpackage or from a lower layer,
never from a higher one, and never another module's private names. A stage
that needs another stage's plumbing is a sign that the plumbing belongs one
floor down.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ntl_spark"

CORE = {"errors", "config", "schemas", "sparkutil", "session", "lakehouse", "tracking", "cli", "submit"}
IO = {"io"}
SHARED = {"models", "fitting", "evaluate", "encoding", "registry", "rules", "fieldstats", "combine"}
ORCHESTRATION = {"demo", "simulate"}
# Stage -> stages whose public names it may use, and why.
ALLOWED_STAGE_IMPORTS = {
    # scoring DeepDAICE reads windows with the same shape and input transform the network was trained on
    "deep_score": {"deep"},
    # the monitor measures drift with the data gate's own PSI, so both judge the same numbers the same way
    "monitor": {"validate"},
    # DeepDAICE's search trains each trial exactly as train_deep does, and writes its plots and layer as tune does
    "tune_deep": {"deep", "tune"},
}


def _layer(top: str) -> int:
    if top in CORE:
        return 0
    if top in IO:
        return 1
    if top in SHARED:
        return 2
    if top in ORCHESTRATION:
        return 4
    return 3  # a stage


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported ntl_spark module, names imported from it) for every import in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ntl_spark":
            if node.module == "ntl_spark":
                out += [(f"ntl_spark.{a.name}", []) for a in node.names]
            else:
                out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "ntl_spark"]
    return out


def _modules() -> list[tuple[str, Path]]:
    return [(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts), p) for p in sorted(PACKAGE.rglob("*.py"))]


def test_no_module_imports_a_higher_layer_or_another_stage():
    problems = []
    for name, path in _modules():
        parts = name.split(".")
        if len(parts) < 2 or parts[1] == "generate":
            continue  # the synthetic utility is a tool of its own beside the pipeline
        top = parts[1] if parts[1] != "__init__" else ""
        for target, _ in _imports(path):
            tparts = target.split(".")
            if len(tparts) < 2:
                continue
            ttop = tparts[1]
            if ttop == top or ttop == "generate" and top in ORCHESTRATION:
                continue
            lo, hi = _layer(top), _layer(ttop)
            if hi > lo or (lo == hi == 3 and ttop not in ALLOWED_STAGE_IMPORTS.get(top, set())):
                problems.append(f"{name} imports {target}")
    assert not problems, "imports across layers:\n" + "\n".join(problems)


def test_no_module_imports_another_modules_private_names():
    problems = [
        f"{name} imports {target}.{n}"
        for name, path in _modules()
        for target, names in _imports(path)
        for n in names
        if n.startswith("_") and target != name
    ]
    assert not problems, "\n".join(problems)


def test_the_layer_rules_see_a_violation():
    # the check itself: a stage importing another stage is reported
    assert _layer("features") == _layer("train") == 3
    assert _layer("lakehouse") < _layer("io") < _layer("models") < _layer("score") < _layer("demo")
