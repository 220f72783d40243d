"""WSGI entry point for gunicorn: ``gunicorn --pythonpath console ntl_console.wsgi`` (scripts/console.sh)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ntl_console.settings")
application = get_wsgi_application()
