"""The console's pages through Django's test client, against the real PostgreSQL and a tiny lakehouse.

A matrix of role x page (allowed or refused), CSRF on every form, logical
deletion of users and requests, login throttling, the audit log, results
written to the inspections source table, and online scoring.
"""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.test import Client, TestCase
from web import labels, pipeline
from web.models import AuditEvent, InspectionRequest, RequestLine, Role, User

pytestmark = pytest.mark.services

PASSWORD = "correct-horse-battery-9"


def make_user(role: str, email: str | None = None, **extra: object) -> User:
    return User.objects.create_user(email or f"{role}@example.org", PASSWORD, first_name=role.title(),
                                    last_name="Tester", role=role, is_active=True, **extra)


class ConsoleCase(TestCase):
    lake: dict[str, object]

    @pytest.fixture(autouse=True)
    def _lake(self, lake: dict[str, object]) -> None:
        self.lake = lake

    def setUp(self) -> None:
        self.users = {r: make_user(r) for r in Role.values}

    def client_for(self, role: str, csrf: bool = False) -> Client:
        c = Client(enforce_csrf_checks=csrf)
        c.force_login(self.users[role])
        return c

    def make_request(self, count: int = 5, zone: str = "") -> InspectionRequest:
        c = self.client_for(Role.ANALYST)
        r = c.post("/requests/new/", {"strategy": "DAICE", "model_version": "1", "scored_on": "2026-10-01",
                                      "zone": zone, "inspections": count, "description": "test",
                                      "exclude_inspected_days": 365})
        assert r.status_code == 302, r.content.decode()[:2000]
        return InspectionRequest.objects.latest("id")


class RoleMatrixTest(ConsoleCase):
    """Each role x each page: 200 (or the page's redirect) when allowed, 403 when refused."""

    def test_matrix(self) -> None:
        req = self.make_request()
        line = req.lines.first()
        cid = self.lake["daice"]["customer_id"][3]
        A, N, F, R = Role.ADMIN, Role.ANALYST, Role.FIELD, Role.READONLY
        pages = {
            "/ranking/": {A, N, F, R},
            f"/customers/{cid}/": {A, N, F},
            "/requests/": {A, N, F, R},
            "/requests/new/": {A, N},
            "/requests/from-campaign/": {A, N},
            f"/requests/{req.pk}/": {A, N, F, R},
            f"/requests/{req.pk}/edit/": {A, N},
            f"/requests/{req.pk}/export.xlsx": {A, N, F},
            f"/requests/{req.pk}/import/": {A, F},
            f"/lines/{line.pk}/result/": {A, F},
            "/results/": {A, N, F, R},
            "/models/": {A, N, F, R},
            "/models/register/": {A, N},
            "/predict/": {A, N},
            "/users/": {A},
            "/audit/": {A},
        }
        failures = []
        for page, allowed in pages.items():
            for role in Role.values:
                code = self.client_for(role).get(page).status_code
                expect = 200 if role in allowed else 403
                if code != expect:
                    failures.append(f"{role} GET {page}: {code}, expected {expect}")
            anonymous = Client().get(page)
            if anonymous.status_code != 302 or "/login/" not in anonymous["Location"]:
                failures.append(f"anonymous GET {page}: {anonymous.status_code}")
        assert not failures, "\n".join(failures)

    def test_post_only_actions_are_refused_to_other_roles(self) -> None:
        req = self.make_request()
        for role in (Role.FIELD, Role.READONLY):
            assert self.client_for(role).post(f"/requests/{req.pk}/delete/").status_code == 403
            assert self.client_for(role).post(f"/users/{self.users[Role.ANALYST].pk}/delete/").status_code == 403
        assert self.client_for(Role.ANALYST).post(f"/users/{self.users[Role.FIELD].pk}/delete/").status_code == 403
        # an analyst edits and deletes only the requests they created
        other = make_user(Role.ANALYST, "other@example.org")
        c = Client()
        c.force_login(other)
        assert c.get(f"/requests/{req.pk}/edit/").status_code == 403
        assert c.post(f"/requests/{req.pk}/delete/").status_code == 403
        assert InspectionRequest.objects.filter(pk=req.pk).exists()


class CsrfTest(ConsoleCase):
    """Every form refuses a POST without the CSRF token and accepts it with one."""

    def test_every_form_needs_the_token(self) -> None:
        req = self.make_request()
        line = req.lines.first()
        posts = {
            "/login/": (None, {"email": "admin@example.org", "password": PASSWORD}),
            "/register/": (None, {"first_name": "A", "last_name": "B", "email": "new@example.org",
                                  "password": PASSWORD, "password2": PASSWORD}),
            "/logout/": (Role.ANALYST, {}),
            f"/users/{self.users[Role.FIELD].pk}/": (Role.ADMIN, {"first_name": "X", "last_name": "Y",
                                                                  "email": "field@example.org", "role": "field",
                                                                  "is_active": "on"}),
            f"/users/{self.users[Role.READONLY].pk}/delete/": (Role.ADMIN, {}),
            f"/users/{self.users[Role.ANALYST].pk}/password/": (Role.ADMIN, {"new_password1": "x", "new_password2": "x"}),
            "/requests/new/": (Role.ANALYST, {"strategy": "DAICE", "model_version": "1", "scored_on": "2026-10-01",
                                              "inspections": 2, "exclude_inspected_days": 0}),
            "/requests/from-campaign/": (Role.ANALYST, {"campaign_id": "NOPE"}),
            f"/requests/{req.pk}/edit/": (Role.ANALYST, {"zone": "", "description": "d", "requested_on": "2026-10-02"}),
            f"/lines/{line.pk}/result/": (Role.FIELD, {"outcome": "regular", "inspected_on": "2026-10-05"}),
            f"/requests/{req.pk}/import/": (Role.FIELD, {}),
            "/predict/": (Role.ANALYST, {"model_name": "DAICE", "ref": "champion", "customer_id": "CU00001"}),
            "/models/register/": (Role.ANALYST, {"base": "champion"}),
            f"/requests/{req.pk}/delete/": (Role.ANALYST, {}),
        }
        for url, (role, data) in posts.items():
            c = Client(enforce_csrf_checks=True)
            if role:
                c.force_login(self.users[role])
            refused = c.post(url, data)
            assert refused.status_code == 403 and b"CSRF" in refused.content, f"{url} accepted a POST without CSRF"
            c.get("/login/" if role is None else "/ranking/")
            token = c.cookies["csrftoken"].value
            accepted = c.post(url, data, HTTP_X_CSRFTOKEN=token)
            assert accepted.status_code in (200, 302), f"{url} with the token: {accepted.status_code}"


class AccountsTest(ConsoleCase):
    def login(self, email: str, password: str = PASSWORD, c: Client | None = None) -> int:
        c = c or Client()
        r = c.post("/login/", {"email": email, "password": password})
        return r.status_code  # 302 = logged in, 200 = form shown again

    def test_login_with_email_and_argon2(self) -> None:
        assert self.login("ANALYST@example.org") == 302
        assert User.objects.get(email="analyst@example.org").password.startswith("argon2")
        assert self.login("analyst@example.org", "wrong password") == 200

    def test_registration_waits_for_an_administrator(self) -> None:
        r = Client().post("/register/", {"first_name": "Ana", "last_name": "Pérez", "email": "ana@example.org",
                                         "password": PASSWORD, "password2": PASSWORD})
        assert r.status_code == 302
        user = User.objects.get(email="ana@example.org")
        assert not user.is_active and user.role == Role.READONLY
        assert self.login("ana@example.org") == 200
        admin = self.client_for(Role.ADMIN)
        r = admin.post(f"/users/{user.pk}/", {"first_name": "Ana", "last_name": "Pérez", "email": "ana@example.org",
                                               "role": Role.ANALYST, "is_active": "on"})
        assert r.status_code == 302
        assert self.login("ana@example.org") == 302

    def test_deleted_user_cannot_log_in_and_loses_the_session(self) -> None:
        victim = self.users[Role.FIELD]
        session = Client()
        assert self.login(victim.email, c=session) == 302
        assert session.get("/ranking/").status_code == 200
        r = self.client_for(Role.ADMIN).post(f"/users/{victim.pk}/delete/")
        assert r.status_code == 302
        row = User.all_objects.get(pk=victim.pk)
        assert row.deleted_at is not None and row.deleted_by == self.users[Role.ADMIN]
        assert not User.objects.filter(pk=victim.pk).exists()
        assert self.login(victim.email) == 200
        assert session.get("/ranking/").status_code == 302  # the open session is gone too
        assert victim.email not in self.client_for(Role.ADMIN).get("/users/").content.decode()

    def test_throttling_locks_after_repeated_failures(self) -> None:
        for _ in range(5):
            assert self.login("admin@example.org", "nope") == 200
        r = Client().post("/login/", {"email": "admin@example.org", "password": PASSWORD})
        assert r.status_code == 200 and b"too many failed attempts" in r.content
        # another account from another address is not locked
        c = Client(REMOTE_ADDR="10.0.0.9")
        assert c.post("/login/", {"email": "analyst@example.org", "password": PASSWORD}).status_code == 302

    def test_passwords(self) -> None:
        me = self.users[Role.FIELD]
        c = self.client_for(Role.FIELD)
        new = "another-long-pass-77"
        bad = c.post(f"/users/{me.pk}/password/", {"old_password": "wrong", "new_password1": new,
                                                    "new_password2": new})
        assert bad.status_code == 200
        r = c.post(f"/users/{me.pk}/password/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
        assert r.status_code == 302 and c.get("/ranking/").status_code == 200  # still logged in
        assert self.login(me.email, new) == 302 and self.login(me.email) == 200
        assert c.get(f"/users/{self.users[Role.ANALYST].pk}/password/").status_code == 403
        admin = self.client_for(Role.ADMIN)
        r = admin.post(f"/users/{me.pk}/password/", {"new_password1": "set-by-admin-123", "new_password2":
                                                      "set-by-admin-123"})
        assert r.status_code == 302 and self.login(me.email, "set-by-admin-123") == 302
        assert AuditEvent.objects.filter(action="password", object_id=str(me.pk)).count() == 2

    def test_user_edits_own_names_only(self) -> None:
        me = self.users[Role.READONLY]
        c = self.client_for(Role.READONLY)
        r = c.post(f"/users/{me.pk}/", {"first_name": "New", "last_name": "Name", "role": Role.ADMIN,
                                        "is_active": "on", "email": "x@example.org"})
        assert r.status_code == 302
        me.refresh_from_db()
        assert (me.first_name, me.role, me.email) == ("New", Role.READONLY, "readonly@example.org")
        assert c.get(f"/users/{self.users[Role.ANALYST].pk}/").status_code == 403


class RankingTest(ConsoleCase):
    def test_champion_ranking_filters_and_pages(self) -> None:
        daice = self.lake["daice"]
        c = self.client_for(Role.ANALYST)
        r = c.get("/ranking/")
        html = r.content.decode()
        assert daice["customer_id"][0] in html and "DAICE v1" in html and ">90<" in html
        r = c.get("/ranking/", {"family": "DAICE", "region": "NORTE", "tariff": "general"})
        # lake.py: customer i is in REGIONS[i % 3] with tariff TARIFFS[(i // 3) % 2]
        expect = {cid for cid in daice["customer_id"] if int(cid[2:]) % 3 == 1 and (int(cid[2:]) // 3) % 2 == 1}
        html = r.content.decode()
        shown = {cid for cid in daice["customer_id"] if f">{cid}<" in html}
        assert shown == expect and len(expect) == 15
        r = c.get("/ranking/", {"band": "high"})
        high = set(daice.loc[daice["score"] >= 0.8, "customer_id"][:50])
        assert 0 < len(high) < len(daice)
        html = r.content.decode()
        assert {cid for cid in daice["customer_id"] if f">{cid}<" in html} == high
        r = c.get("/ranking/", {"band": "nonsense"})
        assert r.status_code == 200  # an invalid choice is ignored by the form, not a 500
        # paging: 50 rows on page 1, 40 on page 2
        p2 = c.get("/ranking/", {"page": 2}).content.decode()
        assert daice["customer_id"][50] in p2 and daice["customer_id"][0] not in p2
        deep = c.get("/ranking/", {"family": "DeepDAICE"}).content.decode()
        assert "DeepDAICE v2" in deep and self.lake["deep"]["customer_id"][0] in deep
        both = c.get("/ranking/", {"family": "DAICE_DeepDAICE"}).content.decode()
        assert "DAICE_DeepDAICE: both families combined, ranking v1+2" in both
        assert self.lake["combined"]["customer_id"][0] in both

    def test_ids_and_coordinates_by_role(self) -> None:
        first = self.lake["daice"]["customer_id"][0]
        ro = self.client_for(Role.READONLY).get("/ranking/").content.decode()
        assert first not in ro and "C-" in ro and "Lat, lon" not in ro
        an = self.client_for(Role.ANALYST).get("/ranking/").content.decode()
        assert first in an and "Lat, lon" not in an
        fc = self.client_for(Role.FIELD).get("/ranking/").content.decode()
        assert first in fc and "Lat, lon" in fc
        # a view of identified customer data is audited; the read-only (pseudonymised) one is not
        assert AuditEvent.objects.filter(action="view", object_type="ranking", user=self.users[Role.ANALYST]).exists()
        assert not AuditEvent.objects.filter(object_type="ranking", user=self.users[Role.READONLY]).exists()

    def test_customer_page(self) -> None:
        smart = "CU00004"  # every 4th customer has a smart meter
        c = self.client_for(Role.FIELD)
        html = c.get(f"/customers/{smart}/").content.decode()
        assert 'id="monthly"' in html and 'id="heatmap"' in html and "data:image/png;base64," in html
        assert "rank" in html and "Coordinates" in html
        cid = "CU00005"
        html = c.get(f"/customers/{cid}/").content.decode()
        assert "I2" in html and "bypass" in html and 'id="heatmap"' not in html
        an = self.client_for(Role.ANALYST).get(f"/customers/{cid}/").content.decode()
        assert "Coordinates" not in an
        assert AuditEvent.objects.filter(action="view", object_type="customer", object_id=cid).count() == 2
        assert c.get("/customers/NOPE/").status_code == 404


class RequestsTest(ConsoleCase):
    def test_create_takes_the_top_with_exclusions(self) -> None:
        daice = self.lake["daice"]
        first = self.make_request(count=5)
        ids = list(first.lines.values_list("customer_id", flat=True))
        # the top customer was inspected in June 2026: skipped
        assert self.lake["inspected_recently"] not in ids
        assert ids == [c for c in daice["customer_id"] if c != self.lake["inspected_recently"]][:5]
        # a second request skips customers still waiting in the first
        second = self.make_request(count=3)
        ids2 = list(second.lines.values_list("customer_id", flat=True))
        assert not set(ids) & set(ids2)
        zone = self.make_request(count=4, zone="ESTE")
        assert set(zone.lines.values_list("region", flat=True)) == {"ESTE"}

    def test_logical_delete_hides_but_keeps(self) -> None:
        req = self.make_request(count=2)
        c = self.client_for(Role.ANALYST)
        assert c.post(f"/requests/{req.pk}/delete/").status_code == 302
        assert not InspectionRequest.objects.filter(pk=req.pk).exists()
        kept = InspectionRequest.all_objects.get(pk=req.pk)
        assert kept.deleted_by == self.users[Role.ANALYST] and kept.deleted_at is not None
        assert kept.lines.count() == 2
        for role in Role.values:
            assert self.client_for(role).get(f"/requests/{req.pk}/").status_code == 404
        assert f'href="/requests/{req.pk}/"' not in c.get("/requests/").content.decode()
        # its customers are free again for a new request
        again = self.make_request(count=2)
        assert set(again.lines.values_list("customer_id", flat=True)) == set(kept.lines.values_list("customer_id",
                                                                                                      flat=True))

    def test_export_workbook(self) -> None:
        req = self.make_request(count=4)
        r = self.client_for(Role.FIELD).get(f"/requests/{req.pk}/export.xlsx")
        assert r.status_code == 200 and r["Content-Disposition"].endswith(f'{req.code}.xlsx"')
        wb = openpyxl.load_workbook(io.BytesIO(r.content))
        rows = list(wb["Customers"].iter_rows(values_only=True))
        assert rows[0][:3] == ("inspection_id", "position", "customer_id") and "latitude" in rows[0]
        assert [row[2] for row in rows[1:]] == list(req.lines.values_list("customer_id", flat=True))
        r = self.client_for(Role.ANALYST).get(f"/requests/{req.pk}/export.xlsx")
        header = next(openpyxl.load_workbook(io.BytesIO(r.content))["Customers"].iter_rows(values_only=True))
        assert "latitude" not in header
        assert AuditEvent.objects.filter(action="export", object_id=req.code).count() == 2

    def test_results_reach_the_inspections_source(self) -> None:
        req = self.make_request(count=3)
        lines = list(req.lines.all())
        c = self.client_for(Role.FIELD)
        r = c.post(f"/lines/{lines[0].pk}/result/", {"outcome": "irregular", "irregularity": "bypass",
                                                     "recovered_kwh": "850", "inspected_on": "2026-10-10"})
        assert r.status_code == 302
        r = c.post(f"/lines/{lines[1].pk}/result/", {"outcome": "regular", "inspected_on": "2026-10-11"})
        assert r.status_code == 302
        bad = c.post(f"/lines/{lines[2].pk}/result/", {"outcome": "regular", "recovered_kwh": "5",
                                                       "inspected_on": "2026-10-11"})
        assert bad.status_code == 200 and b"irregular outcome only" in bad.content
        rows = labels.read([ln.inspection_id for ln in lines])
        assert set(rows) == {lines[0].inspection_id, lines[1].inspection_id}
        first = rows[lines[0].inspection_id]
        assert (first["customer_id"], first["outcome"], first["recovered_kwh"], first["campaign_id"]) == (
            lines[0].customer_id, "irregular", 850.0, req.code)
        # entered again: replaced, not duplicated
        c.post(f"/lines/{lines[0].pk}/result/", {"outcome": "no_access", "inspected_on": "2026-10-12"})
        assert labels.read([lines[0].inspection_id])[lines[0].inspection_id]["outcome"] == "no_access"
        html = c.get(f"/requests/{req.pk}/").content.decode()
        assert "0%" in html  # 0 irregular of 1 labelled
        per_version = c.get("/results/").content.decode()
        assert "v1" in per_version and "DAICE" in per_version

    def test_request_from_a_campaign(self) -> None:
        camp = self.lake["campaign"]
        c = self.client_for(Role.ANALYST)
        assert "CMP-2026-10" in c.get("/requests/from-campaign/").content.decode()
        r = c.post("/requests/from-campaign/", {"campaign_id": "CMP-2026-10", "zone": "NORTE", "description": "x"})
        assert r.status_code == 302, r.content.decode()[-1500:]
        req = InspectionRequest.objects.latest("id")
        lines = list(req.lines.all())
        expect = [(cid, arm) for cid, reg, arm, _, _ in camp if reg == "NORTE"]
        assert [(ln.customer_id, ln.arm) for ln in lines] == expect  # model arm first, then control
        assert (req.campaign_id, req.strategy, req.model_version, req.inspections) == ("CMP-2026-10", "DAICE", "1", 3)
        again = c.post("/requests/from-campaign/", {"campaign_id": "CMP-2026-10", "zone": "NORTE"})
        assert again.status_code == 200 and b"already request" in again.content
        assert b"has no requests" in c.post("/requests/from-campaign/", {"campaign_id": "NOPE"}).content
        # a result carries the campaign job's id: the outcomes stage matches it to the campaign's request and arm
        f = self.client_for(Role.FIELD)
        f.post(f"/lines/{lines[2].pk}/result/", {"outcome": "regular", "inspected_on": "2026-10-09"})
        row = labels.read([lines[2].inspection_id])[lines[2].inspection_id]
        assert (row["campaign_id"], row["customer_id"]) == ("CMP-2026-10", lines[2].customer_id)
        wb = openpyxl.load_workbook(io.BytesIO(f.get(f"/requests/{req.pk}/export.xlsx").content))
        rows = list(wb["Customers"].iter_rows(values_only=True))
        arm = rows[0].index("arm")
        assert [r[arm] for r in rows[1:]] == ["model", "model", "control"]

    def test_import_results(self) -> None:
        req = self.make_request(count=2)
        lines = list(req.lines.all())
        csv = ("inspection_id,outcome,inspected_on,irregularity,recovered_kwh\n"
               f"{lines[0].inspection_id},irregular,2026-10-03,meter_tamper,100\n"
               f"{lines[1].inspection_id},regular,2026-10-03,,\n")
        upload = io.BytesIO(csv.encode())
        upload.name = "results.csv"
        r = self.client_for(Role.FIELD).post(f"/requests/{req.pk}/import/", {"file": upload})
        assert r.status_code == 302
        assert sorted(RequestLine.objects.filter(request=req).values_list("outcome", flat=True)) == [
            "irregular", "regular"]
        bad = io.BytesIO(b"inspection_id,outcome,inspected_on\nREQ-999999-0001,regular,2026-10-03\n")
        bad.name = "bad.csv"
        r = self.client_for(Role.FIELD).post(f"/requests/{req.pk}/import/", {"file": bad})
        assert r.status_code == 200 and b"no line of" in r.content


class ModelsAndPredictionTest(ConsoleCase):
    def test_models_page(self) -> None:
        html = self.client_for(Role.READONLY).get("/models/").content.decode()
        assert "DAICE" in html and "champion" in html and "test_pr_auc" in html and "max_depth=3" in html
        assert "monthly_features@0" in html and "no champion yet" in html

    def test_predict_one_and_a_list(self) -> None:
        daice = self.lake["daice"]
        c = self.client_for(Role.ANALYST)
        cid = daice["customer_id"][7]
        r = c.post("/predict/", {"model_name": "DAICE", "ref": "champion", "customer_id": cid})
        html = r.content.decode()
        assert r.status_code == 200 and "DAICE v1" in html and cid in html
        # the champion scored the same features: the customer lands where the job ranked it (ties share a place)
        place = 1 + int((daice["score"] > daice["score"][7] + 1e-6).sum())
        assert f"<td class=\"would-rank\">{place}</td>" in html
        wb = openpyxl.Workbook()
        wb.active.append(["customer_id"])
        for x in daice["customer_id"][:5]:
            wb.active.append([x])
        wb.active.append(["UNKNOWN1"])
        buf = io.BytesIO()
        wb.save(buf)
        buf.seek(0)
        buf.name = "list.xlsx"
        html = c.post("/predict/", {"model_name": "DAICE", "ref": "1", "file": buf}).content.decode()
        assert all(x in html for x in daice["customer_id"][:5]) and "UNKNOWN1" in html
        bad = c.post("/predict/", {"model_name": "DAICE", "ref": "nope", "customer_id": cid}).content.decode()
        assert "has no version or alias" in bad

    def test_scores_match_the_ranking(self) -> None:
        from web import predict, registry

        daice = self.lake["daice"]
        model = registry.load_daice("DAICE", "champion")
        scored = predict.score(pipeline.latest_features(list(daice["customer_id"])), model)
        merged = scored.merge(daice[["customer_id", "score"]], on="customer_id", suffixes=("", "_job"))
        assert len(merged) == len(daice)
        assert (merged["score"] - merged["score_job"]).abs().max() < 1e-5


class RegisterModelFileTest(ConsoleCase):
    def upload(self, data: bytes, name: str = "model.json", base: str = "champion") -> str:
        f = io.BytesIO(data)
        f.name = name
        r = self.client_for(Role.ANALYST).post("/models/register/", {"file": f, "base": base, "note": "retrained"})
        return r.content.decode() if r.status_code == 200 else f"redirect {r['Location']}"

    def test_checks_then_registers_as_challenger(self) -> None:
        import numpy as np
        import xgboost as xgb
        from web import registry

        assert "not an XGBoost model" in self.upload(b"not a model")
        other = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(np.random.default_rng(1).random((20, 3)),
                          label=[0, 1] * 10, feature_names=["a", "b", "c"]), num_boost_round=2)
        assert "inputs differ" in self.upload(bytes(other.save_raw("json")))
        regression = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(np.zeros((4, 2)), label=[0, 1, 2, 3]), 1)
        assert "binary:logistic" in self.upload(bytes(regression.save_raw("json")))
        assert registry.alias_version("DAICE", "candidate") is None
        assert self.upload(self.lake["model_json"]) == "redirect /models/"
        version = registry.alias_version("DAICE", "candidate")
        assert version is not None and version != "1" and registry.alias_version("DAICE", "champion") == "1"
        model = registry.load_daice("DAICE", version)
        assert model.feature_columns == self.lake["feature_columns"]
        # the registered file scores exactly like the version it was taken from
        rows = pipeline.latest_features(list(self.lake["daice"]["customer_id"][:10]))
        from web import predict

        same = predict.score(rows, model)["score"].to_numpy()
        base = predict.score(rows, registry.load_daice("DAICE", "1"))["score"].to_numpy()
        assert np.allclose(same, base)
        assert AuditEvent.objects.filter(action="register", object_type="model").exists()
        html = self.client_for(Role.READONLY).get("/models/").content.decode()
        assert f"v{version}" in html and "candidate" in html
