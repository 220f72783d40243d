"""The audit log: every view of customer data, export and change is recorded."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from web.auth import client_ip
from web.models import AuditEvent


def record(request: HttpRequest, action: str, object_type: str, object_id: Any = "", **detail: Any) -> AuditEvent:
    user = request.user if getattr(request, "user", None) and request.user.is_authenticated else None
    return AuditEvent.objects.create(user=user, ip=client_ip(request), action=action, object_type=object_type,
                                     object_id=str(object_id)[:128], detail=_jsonable(detail))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
