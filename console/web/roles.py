"""What each role may do. Every view names the permission it needs (:func:`needs`).

Customer data is personal data (Ley 18.331): identifiers are shown only to
roles that work with customers, coordinates only to those who send people on
site; a read-only user sees the ranking with pseudonyms.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from web.models import Role

A, N, F, R = Role.ADMIN, Role.ANALYST, Role.FIELD, Role.READONLY

PERMISSIONS: dict[str, frozenset[str]] = {
    "view_ranking": frozenset({A, N, F, R}),
    "view_customer": frozenset({A, N, F}),        # customer page: consumption, readings, inspections
    "see_customer_ids": frozenset({A, N, F}),
    "see_coordinates": frozenset({A, F}),
    "view_requests": frozenset({A, N, F, R}),
    "change_requests": frozenset({A, N}),           # create, edit, delete
    "export_requests": frozenset({A, N, F}),
    "enter_results": frozenset({A, F}),
    "view_results": frozenset({A, N, F, R}),
    "view_models": frozenset({A, N, F, R}),
    "register_models": frozenset({A, N}),          # a model file as a new version (the gate still judges it)
    "predict": frozenset({A, N}),
    "manage_users": frozenset({A}),
    "view_audit": frozenset({A}),
}


def can(user: Any, permission: str) -> bool:
    """Whether ``user`` (logged in, active) holds ``permission``."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}; known: {sorted(PERMISSIONS)}")
    return bool(getattr(user, "is_authenticated", False)) and user.is_active and user.role in PERMISSIONS[permission]


def needs(permission: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """View decorator: log in first, then 403 unless the user's role holds ``permission``."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")

    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not can(request.user, permission):
                raise PermissionDenied(f"your role may not {permission.replace('_', ' ')}")
            return view(request, *args, **kwargs)

        inner.permission = permission  # type: ignore[attr-defined]
        return inner

    return wrap


def pseudonym(customer_id: str) -> str:
    """A stable stand-in for a customer id, for roles that may not see ids (keyed by the secret key)."""
    digest = hashlib.blake2b(customer_id.encode(), key=settings.SECRET_KEY.encode()[:64], digest_size=5)
    return "C-" + digest.hexdigest().upper()


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: ``perms_ntl.<permission>`` for the logged-in user."""
    user = getattr(request, "user", None)
    return {"perms_ntl": {p: can(user, p) for p in PERMISSIONS} if user is not None else {}}
