from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation

from web.models import InspectionRequest, Outcome, Role, Strategy, User


class LoginForm(forms.Form):
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, strip=False)


class RegisterForm(forms.ModelForm):
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(widget=forms.PasswordInput, strip=False, label="Password (again)")

    class Meta:
        model = User
        fields = ["first_name", "last_name", "email"]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.all_objects.filter(email=email).exists():
            raise forms.ValidationError("an account with this e-mail already exists")
        return email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") != data.get("password2"):
            self.add_error("password2", "the passwords differ")
        elif data.get("password"):
            user = User(email=data.get("email", ""), first_name=data.get("first_name", ""),
                        last_name=data.get("last_name", ""))
            try:
                password_validation.validate_password(data["password"], user)
            except forms.ValidationError as e:
                self.add_error("password", e)
        return data


class UserEditForm(forms.ModelForm):
    """An administrator edits any field; a user editing their own profile gets names only."""

    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "role", "is_active"]

    def __init__(self, *args: Any, admin: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not admin:
            for name in ("email", "role", "is_active"):
                del self.fields[name]

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.all_objects.filter(email=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("another account uses this e-mail")
        return email


class PasswordForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, strip=False, label="New password")


class RankingFilterForm(forms.Form):
    family = forms.CharField(required=False)
    region = forms.CharField(required=False)
    tariff = forms.CharField(required=False)
    meter_type = forms.CharField(required=False)
    band = forms.ChoiceField(required=False, choices=[("", "any"), ("high", "high (>= 0.8)"),
                                                      ("medium", "medium (0.5-0.8)"), ("low", "low (0.2-0.5)"),
                                                      ("minimal", "minimal (< 0.2)")])
    page = forms.IntegerField(required=False, min_value=1)


class RequestCreateForm(forms.Form):
    strategy = forms.ChoiceField(choices=Strategy.choices)
    model_version = forms.CharField(max_length=32)
    scored_on = forms.DateField()
    zone = forms.CharField(max_length=64, required=False, help_text="region; empty = every region")
    inspections = forms.IntegerField(min_value=1, max_value=10000, label="Number of inspections")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    exclude_inspected_days = forms.IntegerField(min_value=0, max_value=3650, initial=365,
                                                label="Skip customers inspected within (days)")


class CampaignRequestForm(forms.Form):
    campaign_id = forms.CharField(max_length=64)
    zone = forms.CharField(max_length=64, required=False, help_text="region; empty = the whole campaign")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class RequestEditForm(forms.ModelForm):
    class Meta:
        model = InspectionRequest
        fields = ["zone", "description", "requested_on"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3}), "requested_on": forms.DateInput(attrs={"type": "date"})}


class ResultForm(forms.Form):
    outcome = forms.ChoiceField(choices=[("", "-- none --"), *Outcome.choices], required=False)
    irregularity = forms.CharField(max_length=64, required=False)
    recovered_kwh = forms.FloatField(required=False, min_value=0)
    inspected_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("outcome") and not data.get("inspected_on"):
            self.add_error("inspected_on", "the inspection date is needed with an outcome")
        if data.get("outcome") != Outcome.IRREGULAR and (data.get("irregularity") or data.get("recovered_kwh")):
            self.add_error("outcome", "an irregularity or recovered kWh goes with an irregular outcome only")
        return data


class ResultImportForm(forms.Form):
    file = forms.FileField(help_text="CSV or Excel: inspection_id (or customer_id), outcome, inspected_on, "
                                     "irregularity, recovered_kwh")


class RegisterModelForm(forms.Form):
    file = forms.FileField(help_text="XGBoost model file (.json or .ubj) trained on the base version's inputs")
    base = forms.CharField(max_length=32, initial="champion",
                           help_text="version or alias whose inputs and categorical vocabulary the file uses")
    note = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class PredictForm(forms.Form):
    model_name = forms.CharField(max_length=64)
    ref = forms.CharField(max_length=32, label="Alias or version", initial="champion")
    customer_id = forms.CharField(max_length=64, required=False)
    file = forms.FileField(required=False, help_text="CSV or Excel list with a customer_id column")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("customer_id") and not data.get("file"):
            raise forms.ValidationError("give one customer id or upload a list")
        return data


ROLE_CHOICES = Role.choices
