"""The console's own data: users and roles, login attempts, the audit log,
inspection requests and their lines (with the field results entered on them).

Deletion is logical everywhere it is asked for: a deleted user or request keeps
its row, with who deleted it and when, and the default managers hide it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    ANALYST = "analyst", "Analyst"
    FIELD = "field", "Field coordinator"
    READONLY = "readonly", "Read-only"


class UserManager(BaseUserManager["User"]):
    def get_queryset(self) -> models.QuerySet[User]:
        return super().get_queryset().filter(deleted_at__isnull=True)

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("a user needs an e-mail address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user


class AllUsersManager(BaseUserManager["User"]):
    """Every user, logically deleted ones too (administration and audit)."""


class User(AbstractBaseUser):
    """A console user, who logs in with e-mail and password.

    ``is_active`` is false until an administrator activates a self-registered
    account; ``deleted_at`` marks a logical deletion (the user cannot log in
    and is hidden from lists, the row stays for the audit log).
    """

    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READONLY)
    is_active = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = UserManager()
    all_objects = AllUsersManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        ordering = ["last_name", "first_name", "email"]
        base_manager_name = "all_objects"

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} <{self.email}>"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class LoginAttempt(models.Model):
    """One login attempt, kept for throttling (and the record)."""

    email = models.CharField(max_length=254, db_index=True)
    ip = models.CharField(max_length=64, db_index=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    succeeded = models.BooleanField()


class AuditEvent(models.Model):
    """Who saw, exported or changed what, and when (Ley 18.331 record of access)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(User, null=True, on_delete=models.PROTECT, related_name="+")
    ip = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=32, db_index=True)  # view, export, create, update, delete, login ...
    object_type = models.CharField(max_length=32)
    object_id = models.CharField(max_length=128, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]


class Strategy(models.TextChoices):
    DAICE = "DAICE", "DAICE"
    DEEPDAICE = "DeepDAICE", "DeepDAICE"
    COMBINED = "DAICE_DeepDAICE", "DAICE + DeepDAICE"  # combine.name: the better place of the two (ntl_spark/combine.py)


class VisibleRequests(models.Manager["InspectionRequest"]):
    def get_queryset(self) -> models.QuerySet[InspectionRequest]:
        return super().get_queryset().filter(deleted_at__isnull=True)


class InspectionRequest(models.Model):
    """A campaign asked of the field team: the top of a model version's ranking in a zone."""

    strategy = models.CharField(max_length=16, choices=Strategy.choices)
    model_version = models.CharField(max_length=32)
    scored_on = models.DateField(null=True, blank=True)
    zone = models.CharField(max_length=64, blank=True, help_text="region; empty = every region")
    # the campaign job's campaign the customers came from (empty: picked here from the ranking)
    campaign_id = models.CharField(max_length=64, blank=True, db_index=True)
    inspections = models.PositiveIntegerField()
    description = models.TextField(blank=True)
    requested_on = models.DateField(default=timezone.localdate)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = VisibleRequests()
    all_objects = models.Manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        base_manager_name = "all_objects"

    def __str__(self) -> str:
        return f"{self.code} {self.strategy} v{self.model_version}"

    @property
    def code(self) -> str:
        """The campaign id the pipeline sees in ``inspections.campaign_id``."""
        return f"REQ-{self.pk:06d}"

    @property
    def source_campaign(self) -> str:
        """The campaign id results carry to the pipeline: the campaign job's, else this request's code."""
        return self.campaign_id or self.code

    @property
    def label(self) -> str:
        return f"{self.strategy} v{self.model_version}"


class Outcome(models.TextChoices):
    IRREGULAR = "irregular", "Irregular"
    REGULAR = "regular", "Regular"
    NO_ACCESS = "no_access", "No access"


class RequestLine(models.Model):
    """One customer to inspect in a request, and the field result once entered."""

    request = models.ForeignKey(InspectionRequest, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField()
    customer_id = models.CharField(max_length=64, db_index=True)
    region = models.CharField(max_length=64, blank=True)
    score = models.FloatField()
    rank = models.PositiveIntegerField()
    arm = models.CharField(max_length=16, blank=True)  # model or control, for lines from a campaign
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    irregularity = models.CharField(max_length=64, blank=True)
    recovered_kwh = models.FloatField(null=True, blank=True)
    inspected_on = models.DateField(null=True, blank=True)
    result_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    result_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["request", "position"]
        constraints = [models.UniqueConstraint(fields=["request", "position"], name="line_position_unique")]

    @property
    def inspection_id(self) -> str:
        """Key of this line's row in the ``inspections`` source table."""
        return f"{self.request.code}-{self.position:04d}"
