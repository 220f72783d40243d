"""The console reads the pipeline's outputs without Spark: none of its modules imports pyspark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # tests/unit/ -> the repository


def test_console_never_imports_pyspark() -> None:
    code = (
        "import os, sys; sys.path.insert(0, 'console');"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'ntl_console.settings';"
        "import django; django.setup();"
        "import pkgutil, importlib, web;"
        "[importlib.import_module('web.' + m.name) for m in pkgutil.iter_modules(web.__path__) if not m.ispkg];"
        "import web.management.commands.createadmin, ntl_console.urls, ntl_console.wsgi;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyspark'))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
