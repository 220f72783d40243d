from __future__ import annotations

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "web"
    verbose_name = "NTL console"
    default_auto_field = "django.db.models.BigAutoField"
