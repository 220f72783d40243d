#!/usr/bin/env python
"""The NTL console's command line (migrate, createadmin, runserver for development)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ntl_console.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
