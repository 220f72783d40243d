"""Pages of the NTL console. Every view states the permission it needs (web.roles)."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from web import audit, campaigns, charts, excel, labels, pipeline, predict, registry
from web.auth import client_ip, locked_out, record_attempt
from web.forms import (
    CampaignRequestForm,
    LoginForm,
    PredictForm,
    RankingFilterForm,
    RegisterForm,
    RegisterModelForm,
    RequestCreateForm,
    RequestEditForm,
    ResultForm,
    ResultImportForm,
    UserEditForm,
)
from web.models import InspectionRequest, Outcome, RequestLine, Role, Strategy, User
from web.roles import can, needs, pseudonym

PAGE_SIZE = 50


# ------------------------------------------------------------------ accounts
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email, ip = form.cleaned_data["email"].lower(), client_ip(request)
        if locked_out(email, ip):
            form.add_error(None, f"too many failed attempts: try again in {settings.LOGIN_WINDOW_MINUTES} minutes")
            record_attempt(email, ip, False)
        else:
            user = authenticate(request, email=email, password=form.cleaned_data["password"])
            record_attempt(email, ip, user is not None)
            if user is not None:
                login(request, user)
                audit.record(request, "login", "user", user.pk)
                target = request.GET.get("next", "")
                return redirect(target if target.startswith("/") and not target.startswith("//") else "ranking")
            form.add_error(None, "e-mail or password not accepted (or the account is not active)")
    return render(request, "web/login.html", {"form": form})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit.record(request, "logout", "user", request.user.pk)
    logout(request)
    return redirect("login")


def register_view(request: HttpRequest) -> HttpResponse:
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = User.objects.create_user(form.cleaned_data["email"], form.cleaned_data["password"],
                                        first_name=form.cleaned_data["first_name"],
                                        last_name=form.cleaned_data["last_name"], role=Role.READONLY, is_active=False)
        audit.record(request, "register", "user", user.pk, email=user.email)
        messages.success(request, "Account created: an administrator will activate it.")
        return redirect("login")
    return render(request, "web/register.html", {"form": form})


@needs("manage_users")
def users_list(request: HttpRequest) -> HttpResponse:
    users = User.objects.order_by("is_active", "last_name", "first_name")
    return render(request, "web/users.html", {"users": users, "roles": dict(Role.choices)})


def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={request.path}")
    target = get_object_or_404(User, pk=pk)
    admin = can(request.user, "manage_users")
    if not admin and target.pk != request.user.pk:
        raise PermissionDenied("only an administrator edits other users")
    form = UserEditForm(request.POST or None, instance=target, admin=admin)
    if request.method == "POST" and form.is_valid():
        if admin and target.pk == request.user.pk and (form.cleaned_data.get("role") != Role.ADMIN
                                                         or not form.cleaned_data.get("is_active")):
            form.add_error(None, "you cannot remove your own administrator role or deactivate yourself")
        else:
            form.save()
            audit.record(request, "update", "user", target.pk, fields=sorted(form.changed_data))
            messages.success(request, f"Saved {target.email}.")
            return redirect("users" if admin else "ranking")
    return render(request, "web/user_edit.html", {"form": form, "target": target})


def user_password(request: HttpRequest, pk: int) -> HttpResponse:
    """A user changes their own password (giving the old one); an administrator sets another user's."""
    from django.contrib.auth import update_session_auth_hash
    from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm

    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={request.path}")
    target = get_object_or_404(User, pk=pk)
    own = target.pk == request.user.pk
    if not own and not can(request.user, "manage_users"):
        raise PermissionDenied("only an administrator sets another user's password")
    form_class = PasswordChangeForm if own else SetPasswordForm
    form = form_class(target, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        if own:
            update_session_auth_hash(request, form.user)
        audit.record(request, "password", "user", target.pk)
        messages.success(request, f"Password of {target.email} changed.")
        return redirect("users" if not own else "ranking")
    return render(request, "web/user_edit.html", {"form": form, "target": target, "title": "Password"})


@needs("manage_users")
@require_POST
def user_delete(request: HttpRequest, pk: int) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    if target.pk == request.user.pk:
        messages.error(request, "You cannot delete your own account.")
        return redirect("users")
    target.deleted_at, target.deleted_by, target.is_active = timezone.now(), request.user, False
    target.save(update_fields=["deleted_at", "deleted_by", "is_active"])
    audit.record(request, "delete", "user", target.pk, email=target.email)
    messages.success(request, f"Deleted {target.email}: the account can no longer log in.")
    return redirect("users")


@needs("view_audit")
def audit_list(request: HttpRequest) -> HttpResponse:
    from web.models import AuditEvent

    events = AuditEvent.objects.select_related("user")
    q = request.GET.get("q", "").strip()
    if q:
        events = events.filter(Q(object_id__icontains=q) | Q(action=q) | Q(user__email__icontains=q))
    return render(request, "web/audit.html", {"events": events[:500], "q": q})


# ------------------------------------------------------------------ ranking
def _families() -> list[dict[str, Any]]:
    """Each model family with its champion version and newest ranking run (if any)."""
    out = []
    for name, alias in registry.families():
        version = registry.alias_version(name, alias)
        run = pipeline.latest_run(name, version)
        out.append({"name": name, "alias": alias, "champion": version, "run": run})
    combined = pipeline.config().combine
    if combined.enabled:  # both families' lists in one (ntl_spark/combine.py): no registered model of its own
        out.append({"name": combined.name, "alias": None, "champion": None,
                    "run": pipeline.latest_run(combined.name, None)})
    return out


def _show_id(request: HttpRequest, customer_id: str) -> str:
    return customer_id if can(request.user, "see_customer_ids") else pseudonym(customer_id)


@needs("view_ranking")
def ranking_view(request: HttpRequest) -> HttpResponse:
    form = RankingFilterForm(request.GET or None)
    params = form.cleaned_data if form.is_valid() else {}
    ctx: dict[str, Any] = {"form": form, "params": params}
    try:
        families = _families()
    except pipeline.TableMissing as e:
        return render(request, "web/ranking.html", {**ctx, "missing": str(e)})
    ctx["families"] = families
    available = [f for f in families if f["run"] is not None]
    if not available:
        return render(request, "web/ranking.html", {**ctx, "missing": "no ranking yet: run the score job"})
    chosen = next((f for f in available if f["name"] == params.get("family")), available[0])
    run = chosen["run"]
    full = pipeline.ranking(chosen["name"], run["model_version"], run["scored_on"])
    try:
        rows = pipeline.filter_ranking(full, params.get("region", ""), params.get("tariff", ""),
                                       params.get("meter_type", ""), params.get("band", ""))
    except ValueError as e:
        return HttpResponseBadRequest(str(e))
    pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
    page = min(params.get("page") or 1, pages)
    shown = rows.iloc[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    ids = can(request.user, "see_customer_ids")
    coords = can(request.user, "see_coordinates")
    table = []
    for r in pipeline.records(shown):
        table.append({
            "rank": r["rank"], "region_rank": r["region_rank"], "score": r["score"], "region": r["region"],
            "tariff": r.get("tariff"), "meter_type": r.get("meter_type"), "customer_id": r["customer_id"] if ids else None,
            "label": _show_id(request, r["customer_id"]),
            "coords": (r.get("latitude"), r.get("longitude")) if coords else None,
            "top": list(r["top_features"]) if r.get("top_features") is not None else [],
        })
    if ids:
        audit.record(request, "view", "ranking", f"{chosen['name']} v{run['model_version']}",
                     scored_on=run["scored_on"], filters={k: v for k, v in params.items() if v and k != "page"},
                     page=page, customers=[t["customer_id"] for t in table])
    query = {k: v for k, v in request.GET.items() if k != "page"}
    ctx.update({
        "chosen": chosen, "run": run, "rows": table, "total": len(rows), "all_total": len(full), "page": page,
        "pages": pages, "query": urlencode(query),
        "regions": sorted(full["region"].dropna().unique()), "tariffs": sorted(full["tariff"].dropna().unique()),
        "meter_types": sorted(full["meter_type"].dropna().unique()), "show_coords": coords,
    })
    return render(request, "web/ranking.html", ctx)


@needs("view_customer")
def customer_view(request: HttpRequest, customer_id: str) -> HttpResponse:
    ctx: dict[str, Any] = {"customer_id": customer_id, "show_coords": can(request.user, "see_coordinates")}
    try:
        cust = pipeline.customer(customer_id)
    except pipeline.TableMissing as e:
        return render(request, "web/customer.html", {**ctx, "missing": str(e)})
    if cust is None:
        return render(request, "web/customer.html", {**ctx, "missing": f"no customer {customer_id}"}, status=404)
    audit.record(request, "view", "customer", customer_id, coordinates=ctx["show_coords"])
    ctx["customer"] = cust
    try:
        monthly = pipeline.monthly_consumption(customer_id)
        ctx["monthly_chart"] = charts.monthly(monthly) if not monthly.empty else None
    except pipeline.TableMissing as e:
        ctx["monthly_missing"] = str(e)
    if cust.get("meter_type") == "smart" and cust.get("meter_id"):
        try:
            days = pipeline.readings_days(cust["meter_id"])
            ctx["heatmap"] = charts.heatmap(days) if not days.empty else None
        except pipeline.TableMissing as e:
            ctx["heatmap_missing"] = str(e)
    contributions = []
    try:
        for fam in _families():
            if fam["run"] is None:
                continue
            run = fam["run"]
            rk = pipeline.ranking(fam["name"], run["model_version"], run["scored_on"])
            row = rk[rk["customer_id"] == customer_id]
            if not row.empty:
                r = row.iloc[0]
                contributions.append({"family": fam["name"], "version": run["model_version"],
                                      "scored_on": run["scored_on"], "rank": r["rank"], "of": len(rk),
                                      "score": r["score"],
                                      "top": list(r["top_features"]) if r["top_features"] is not None else []})
    except pipeline.TableMissing:
        pass
    ctx["contributions"] = contributions
    try:
        ctx["inspections"] = pipeline.records(pipeline.past_inspections(customer_id))
    except pipeline.TableMissing as e:
        ctx["inspections_missing"] = str(e)
    ctx["lines"] = RequestLine.objects.filter(customer_id=customer_id, request__deleted_at__isnull=True) \
        .select_related("request").order_by("-request__created_at")
    return render(request, "web/customer.html", ctx)


# ------------------------------------------------------------------ requests
def _may_change(user: Any, req: InspectionRequest) -> bool:
    """Administrators change any request; analysts their own."""
    return can(user, "change_requests") and (user.role == Role.ADMIN or req.created_by_id == user.pk)


def _hit_rate(irregular: int, regular: int) -> float | None:
    return irregular / (irregular + regular) if irregular + regular else None


@needs("view_requests")
def requests_list(request: HttpRequest) -> HttpResponse:
    reqs = InspectionRequest.objects.select_related("created_by").annotate(
        n_lines=Count("lines"),
        n_done=Count("lines", filter=~Q(lines__outcome="")),
        n_irregular=Count("lines", filter=Q(lines__outcome=Outcome.IRREGULAR)),
        n_regular=Count("lines", filter=Q(lines__outcome=Outcome.REGULAR)),
    )
    rows = [{"req": r, "hit_rate": _hit_rate(r.n_irregular, r.n_regular)} for r in reqs]
    return render(request, "web/requests.html", {"rows": rows})


@needs("change_requests")
def request_create(request: HttpRequest) -> HttpResponse:
    initial = {k: request.GET[k] for k in ("strategy", "model_version", "scored_on", "zone") if k in request.GET}
    form = RequestCreateForm(request.POST or None, initial={"inspections": 20, **initial})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            ranking = pipeline.ranking(d["strategy"], d["model_version"], d["scored_on"])
        except pipeline.TableMissing as e:
            form.add_error(None, str(e))
            ranking = None
        if ranking is not None and ranking.empty:
            form.add_error(None, f"no ranking of {d['strategy']} v{d['model_version']} scored on {d['scored_on']}")
        elif ranking is not None:
            inspected, waiting = campaigns.excluded(d["exclude_inspected_days"])
            picked = campaigns.select(ranking, d["inspections"], d["zone"], inspected | waiting)
            if picked.empty:
                form.add_error(None, "no customer left to inspect in this zone after the exclusions")
            else:
                with transaction.atomic():
                    req = InspectionRequest.objects.create(
                        strategy=d["strategy"], model_version=d["model_version"], scored_on=d["scored_on"],
                        zone=d["zone"], inspections=len(picked), description=d["description"],
                        created_by=request.user)
                    RequestLine.objects.bulk_create([
                        RequestLine(request=req, position=i + 1, customer_id=r["customer_id"], region=r["region"],
                                    score=float(r["score"]), rank=int(r["rank"]))
                        for i, r in enumerate(picked.to_dict("records"))])
                audit.record(request, "create", "request", req.code, customers=list(picked["customer_id"]),
                             excluded_inspected=len(inspected), excluded_waiting=len(waiting))
                if len(picked) < d["inspections"]:
                    messages.warning(request, f"Only {len(picked)} customers were left after the exclusions.")
                messages.success(request, f"Created {req.code} with {len(picked)} customers.")
                return redirect("request", pk=req.pk)
    return render(request, "web/request_form.html", {"form": form, "title": "New inspection request"})


@needs("change_requests")
def request_from_campaign(request: HttpRequest) -> HttpResponse:
    """A request holding a campaign of the campaign job (both arms), optionally one region of it."""
    form = CampaignRequestForm(request.POST or None)
    ctx: dict[str, Any] = {"form": form}
    try:
        ctx["campaigns"] = pipeline.records(pipeline.campaigns())
    except pipeline.TableMissing as e:
        ctx["missing"] = str(e)
        return render(request, "web/campaigns.html", ctx)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        rows = pipeline.campaign_rows(d["campaign_id"])
        if d["zone"] and not rows.empty:
            rows = rows[rows["region"] == d["zone"]]
        done = InspectionRequest.objects.filter(campaign_id=d["campaign_id"], zone=d["zone"]).first()
        strategies = set(Strategy.values)
        if rows.empty:
            form.add_error(None, f"campaign {d['campaign_id']} has no requests{' in ' + d['zone'] if d['zone'] else ''}")
        elif done is not None:
            form.add_error(None, f"campaign {d['campaign_id']} {d['zone'] or ''} is already request {done.code}")
        elif rows["model_name"].iloc[0] not in strategies:
            form.add_error(None, f"campaign model {rows['model_name'].iloc[0]} is not a known strategy")
        else:
            first = rows.iloc[0]
            with transaction.atomic():
                req = InspectionRequest.objects.create(
                    strategy=first["model_name"], model_version=str(first["model_version"]),
                    scored_on=first["scored_on"], zone=d["zone"], campaign_id=d["campaign_id"],
                    inspections=len(rows), description=d["description"], created_by=request.user)
                RequestLine.objects.bulk_create([
                    RequestLine(request=req, position=i + 1, customer_id=r["customer_id"], region=r["region"],
                                score=float(r["score"]), rank=int(r["rank"]), arm=r["arm"])
                    for i, r in enumerate(rows.to_dict("records"))])
            audit.record(request, "create", "request", req.code, campaign=d["campaign_id"],
                         customers=list(rows["customer_id"]))
            messages.success(request, f"Created {req.code} from campaign {d['campaign_id']} ({len(rows)} customers).")
            return redirect("request", pk=req.pk)
    return render(request, "web/campaigns.html", ctx)


def _lines(request: HttpRequest, req: InspectionRequest) -> list[dict[str, Any]]:
    ids = can(request.user, "see_customer_ids")
    coords = can(request.user, "see_coordinates")
    extra: dict[str, dict[str, Any]] = {}
    try:
        cust = pipeline.customers()
        cust = cust[cust["customer_id"].isin([ln.customer_id for ln in req.lines.all()])]
        extra = {r["customer_id"]: r for r in pipeline.records(cust)}
    except pipeline.TableMissing:
        pass
    out = []
    for ln in req.lines.all():
        c = extra.get(ln.customer_id, {})
        out.append({
            "line": ln, "pk": ln.pk, "position": ln.position, "inspection_id": ln.inspection_id,
            "customer_id": ln.customer_id if ids else pseudonym(ln.customer_id), "link": ids,
            "raw_customer_id": ln.customer_id, "region": ln.region, "tariff": c.get("tariff"),
            "meter_type": c.get("meter_type"), "rank": ln.rank, "score": round(ln.score, 4),
            "latitude": c.get("latitude") if coords else None, "longitude": c.get("longitude") if coords else None,
            "arm": ln.arm, "outcome": ln.outcome, "inspected_on": ln.inspected_on, "irregularity": ln.irregularity,
            "recovered_kwh": ln.recovered_kwh,
        })
    return out


@needs("view_requests")
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(InspectionRequest.objects.select_related("created_by"), pk=pk)
    lines = _lines(request, req)
    if can(request.user, "see_customer_ids"):
        audit.record(request, "view", "request", req.code, customers=len(lines))
    done = [ln for ln in lines if ln["outcome"]]
    irr = sum(1 for ln in done if ln["outcome"] == Outcome.IRREGULAR)
    reg = sum(1 for ln in done if ln["outcome"] == Outcome.REGULAR)
    summary = {"done": len(done), "irregular": irr, "regular": reg, "no_access": len(done) - irr - reg,
               "hit_rate": _hit_rate(irr, reg), "recovered": sum(ln["recovered_kwh"] or 0 for ln in done)}
    return render(request, "web/request.html", {"req": req, "lines": lines, "summary": summary,
                                                "may_change": _may_change(request.user, req),
                                                "show_coords": can(request.user, "see_coordinates")})


@needs("change_requests")
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(InspectionRequest, pk=pk)
    if not _may_change(request.user, req):
        raise PermissionDenied("only its author or an administrator edits a request")
    form = RequestEditForm(request.POST or None, instance=req)
    if request.method == "POST" and form.is_valid():
        req = form.save(commit=False)
        req.updated_at, req.updated_by = timezone.now(), request.user
        req.save()
        audit.record(request, "update", "request", req.code, fields=sorted(form.changed_data))
        messages.success(request, f"Saved {req.code}.")
        return redirect("request", pk=req.pk)
    return render(request, "web/request_form.html", {"form": form, "title": f"Edit {req.code}", "req": req})


@needs("change_requests")
@require_POST
def request_delete(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(InspectionRequest, pk=pk)
    if not _may_change(request.user, req):
        raise PermissionDenied("only its author or an administrator deletes a request")
    req.deleted_at, req.deleted_by = timezone.now(), request.user
    req.save(update_fields=["deleted_at", "deleted_by"])
    audit.record(request, "delete", "request", req.code)
    messages.success(request, f"Deleted {req.code}.")
    return redirect("requests")


@needs("export_requests")
def request_export(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(InspectionRequest.objects.select_related("created_by"), pk=pk)
    coords = can(request.user, "see_coordinates")
    lines = _lines(request, req)
    rows = [{**ln, "customer_id": ln["raw_customer_id"]} for ln in lines]
    data = excel.request_workbook(req, rows, coords)
    audit.record(request, "export", "request", req.code, customers=len(rows), coordinates=coords)
    response = HttpResponse(data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{req.code}.xlsx"'
    return response


def _save_result(request: HttpRequest, line: RequestLine, data: dict[str, Any]) -> None:
    line.outcome = data.get("outcome") or ""
    line.irregularity = data.get("irregularity") or ""
    line.recovered_kwh = data.get("recovered_kwh")
    line.inspected_on = data.get("inspected_on")
    line.result_by, line.result_at = request.user, timezone.now()
    with transaction.atomic():
        line.save()
        labels.write(line)
    audit.record(request, "result", "request_line", line.inspection_id, outcome=line.outcome,
                 customer=line.customer_id)


@needs("enter_results")
def line_result(request: HttpRequest, pk: int) -> HttpResponse:
    line = get_object_or_404(RequestLine.objects.select_related("request"), pk=pk,
                             request__deleted_at__isnull=True)
    form = ResultForm(request.POST or None, initial={
        "outcome": line.outcome, "irregularity": line.irregularity, "recovered_kwh": line.recovered_kwh,
        "inspected_on": line.inspected_on or timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        _save_result(request, line, form.cleaned_data)
        messages.success(request, f"Result of {line.inspection_id} saved and sent to the inspections source.")
        return redirect("request", pk=line.request_id)
    label = line.customer_id if can(request.user, "see_customer_ids") else pseudonym(line.customer_id)
    return render(request, "web/result_form.html", {"form": form, "line": line, "label": label})


@needs("enter_results")
def results_import(request: HttpRequest, pk: int) -> HttpResponse:
    req = get_object_or_404(InspectionRequest, pk=pk)
    form = ResultImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            table = _read_table(upload.name, upload.read())
            by_id = {ln.inspection_id: ln for ln in req.lines.all()}
            by_customer = {ln.customer_id: ln for ln in req.lines.all()}
            saved = 0
            for i, row in enumerate(table.to_dict("records"), start=2):
                key_id, key_c = str(row.get("inspection_id") or "").strip(), str(row.get("customer_id") or "").strip()
                line = by_id.get(key_id) or by_customer.get(key_c)
                if line is None:
                    raise ValueError(f"row {i}: no line of {req.code} has inspection_id {key_id!r} "
                                     f"or customer_id {key_c!r}")
                rf = ResultForm({k: ("" if pd.isna(row.get(k)) else row.get(k)) for k in
                                 ("outcome", "irregularity", "recovered_kwh", "inspected_on")})
                if not rf.is_valid():
                    raise ValueError(f"row {i}: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in rf.errors.items()))
                _save_result(request, line, rf.cleaned_data)
                saved += 1
            messages.success(request, f"Imported {saved} results into {req.code}.")
            return redirect("request", pk=req.pk)
        except ValueError as e:
            form.add_error("file", str(e))
    return render(request, "web/results_import.html", {"form": form, "req": req})


def _read_table(name: str, data: bytes) -> pd.DataFrame:
    import io

    lower = name.lower()
    try:
        if lower.endswith((".xlsx", ".xlsm")):
            df = pd.read_excel(io.BytesIO(data), dtype=str, engine="openpyxl")
        elif lower.endswith((".csv", ".txt")):
            df = pd.read_csv(io.StringIO(data.decode("utf-8-sig")), dtype=str)
        else:
            raise ValueError(f"file '{name}': upload a .csv or .xlsx file")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"file '{name}' could not be read: {e}") from e
    if "inspection_id" not in df.columns and "customer_id" not in df.columns:
        raise ValueError(f"file '{name}' needs an inspection_id or customer_id column (has {list(df.columns)})")
    if "outcome" not in df.columns:
        raise ValueError(f"file '{name}' needs an outcome column (irregular, regular, no_access)")
    return df


@needs("view_results")
def results_view(request: HttpRequest) -> HttpResponse:
    per_version = (RequestLine.objects.filter(request__deleted_at__isnull=True)
                   .values("request__strategy", "request__model_version")
                   .annotate(lines=Count("id"), done=Count("id", filter=~Q(outcome="")),
                             irregular=Count("id", filter=Q(outcome=Outcome.IRREGULAR)),
                             regular=Count("id", filter=Q(outcome=Outcome.REGULAR)),
                             no_access=Count("id", filter=Q(outcome=Outcome.NO_ACCESS)))
                   .order_by("request__strategy", "request__model_version"))
    rows = [{**r, "hit_rate": _hit_rate(r["irregular"], r["regular"])} for r in per_version]
    return render(request, "web/results.html", {"rows": rows})


# ------------------------------------------------------------------ models
@needs("view_models")
def models_view(request: HttpRequest) -> HttpResponse:
    ctx: dict[str, Any] = {}
    try:
        ctx["models"] = registry.models()
    except Exception as e:  # noqa: BLE001 - an unreachable registry is shown, not a 500
        ctx["error"] = f"MLflow registry at {pipeline.config().registry_uri} not readable: {e}"
        ctx["models"] = []
    decisions = pipeline.model_decisions()
    ctx["decisions"] = decisions.head(50).to_dict("records") if not decisions.empty else []
    return render(request, "web/models.html", ctx)


@needs("register_models")
def model_register(request: HttpRequest) -> HttpResponse:
    cfg = pipeline.config()
    form = RegisterModelForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            version = registry.register_file(cfg.model.name, upload.read(), upload.name,
                                             form.cleaned_data["base"].strip(), form.cleaned_data["note"],
                                             request.user.email)
        except (ValueError, pipeline.TableMissing) as e:
            form.add_error("file", str(e))
        else:
            audit.record(request, "register", "model", f"{cfg.model.name} v{version}", file=upload.name,
                         base=form.cleaned_data["base"])
            messages.success(request, f"Registered {cfg.model.name} v{version} with alias '{cfg.model.challenger}': "
                                      f"the validate_model job judges it before it can become champion.")
            return redirect("models")
    return render(request, "web/model_register.html", {"form": form, "name": cfg.model.name,
                                                       "challenger": cfg.model.challenger})


# ------------------------------------------------------------------ online prediction
@needs("predict")
def predict_view(request: HttpRequest) -> HttpResponse:
    cfg = pipeline.config()
    form = PredictForm(request.POST or None, request.FILES or None,
                       initial={"model_name": cfg.model.name, "ref": cfg.model.champion})
    ctx: dict[str, Any] = {"form": form}
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            if d.get("file"):
                ids = predict.customer_ids_from_upload(d["file"].name, d["file"].read())
            else:
                ids = [d["customer_id"].strip()]
            if d["model_name"] != cfg.model.name:
                raise ValueError(f"online scoring serves the DAICE family ({cfg.model.name}); "
                                 f"{d['model_name']} scores from windows with the score_deep job")
            model = registry.load_daice(d["model_name"], d["ref"].strip())
            feats = pipeline.latest_features(ids)
            unknown = sorted(set(ids) - set(feats["customer_id"])) if not feats.empty else sorted(ids)
            if feats.empty:
                raise ValueError(f"no monthly_features rows for {len(ids)} customer(s): {unknown[:10]}")
            scored = predict.score(feats, model, cfg.score.top_features)
            fam = next((f for f in _families() if f["name"] == cfg.model.name and f["run"]), None)
            if fam is not None:
                run = fam["run"]
                month = pipeline.ranking(fam["name"], run["model_version"], run["scored_on"])
                scored["would_rank"] = predict.place_in(scored["score"], month["score"].to_numpy())
                ctx["against"] = {"version": run["model_version"], "scored_on": run["scored_on"], "of": len(month)}
            ids_ok = can(request.user, "see_customer_ids")
            ctx["results"] = [{**r, "label": r["customer_id"] if ids_ok else pseudonym(r["customer_id"])}
                              for r in scored.to_dict("records")]
            ctx["unknown"] = unknown
            ctx["model"] = model
            audit.record(request, "predict", "model", f"{model.name} v{model.version}",
                         customers=list(scored["customer_id"]))
        except (ValueError, pipeline.TableMissing) as e:
            form.add_error(None, str(e))
    return render(request, "web/predict.html", ctx)


def home(request: HttpRequest) -> HttpResponse:
    return redirect("ranking" if request.user.is_authenticated else "login")
