"""Log in by e-mail and password, with throttling and a record of every attempt.

A logically deleted user is invisible to the default manager, so it can neither
log in nor keep a session; an account not yet activated is refused by
``user_can_authenticate``. After ``LOGIN_MAX_FAILURES`` failures for one
e-mail or from one address within ``LOGIN_WINDOW_MINUTES``, attempts are
refused (even with the right password) until the window has passed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest
from django.utils import timezone

from web.models import LoginAttempt


def client_ip(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))


def locked_out(email: str, ip: str) -> bool:
    """Whether attempts for ``email`` or from ``ip`` are locked for now."""
    since = timezone.now() - dt.timedelta(minutes=settings.LOGIN_WINDOW_MINUTES)
    recent = LoginAttempt.objects.filter(at__gte=since, succeeded=False)
    by_email = recent.filter(email=email.lower()).count()
    by_ip = recent.filter(ip=ip).count() if ip else 0
    return max(by_email, by_ip) >= settings.LOGIN_MAX_FAILURES


def record_attempt(email: str, ip: str, succeeded: bool) -> None:
    LoginAttempt.objects.create(email=email.lower()[:254], ip=ip[:64], succeeded=succeeded)


class EmailBackend(ModelBackend):
    """ModelBackend on the e-mail field, case-insensitive."""

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        email = (kwargs.get("email") or username or "").strip().lower()
        if not email or password is None:
            return None
        return super().authenticate(request, username=email, password=password)
