"""The console in a real headless Chromium (Debian's chromium, driven by Playwright).

An analyst logs in, filters the ranking, creates an inspection request from
it and exports it to Excel (the workbook is opened and checked); a field
coordinator enters a result. Screenshots of each step are kept under
var/test-artifacts/console/.
"""

from __future__ import annotations

import shutil

import openpyxl
import pytest
from django.test import LiveServerTestCase
from web import labels
from web.models import InspectionRequest, Role, User

from tests.console.conftest import ARTIFACTS

pytestmark = pytest.mark.services

PASSWORD = "correct-horse-battery-9"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class BrowserTest(LiveServerTestCase):
    @pytest.fixture(autouse=True)
    def _lake(self, lake: dict[str, object]) -> None:
        self.lake = lake

    def test_request_round_trip(self) -> None:
        from playwright.sync_api import sync_playwright

        if not shutil.which("chromium") and not shutil.which(CHROMIUM):
            pytest.fail("chromium is not installed: scripts/bootstrap.sh installs Debian's chromium")
        for role in (Role.ANALYST, Role.FIELD):
            User.objects.create_user(f"{role}@example.org", PASSWORD, first_name=role.title(), last_name="B",
                                     role=role, is_active=True)
        daice = self.lake["daice"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000}).new_page()
                page.set_default_timeout(30_000)

                self.login(page, "analyst@example.org")
                assert page.url.endswith("/ranking/")
                assert page.locator("#ranking tr").count() == 51  # header + a page of 50
                page.screenshot(path=str(ARTIFACTS / "1-ranking.png"), full_page=True)

                page.select_option("select[name=region]", "NORTE")
                page.click("#apply")
                page.wait_for_load_state()
                regions = page.locator("#ranking td.region").all_inner_texts()
                assert regions and all(r.startswith("NORTE") for r in regions)
                assert int(page.inner_text("#total")) == int((daice["region"] == "NORTE").sum())
                page.screenshot(path=str(ARTIFACTS / "2-ranking-norte.png"), full_page=True)

                page.click("#new-request")
                assert page.input_value("input[name=zone]") == "NORTE"
                page.fill("input[name=inspections]", "4")
                page.fill("textarea[name=description]", "Browser test campaign")
                page.click("#save")
                page.wait_for_selector("#code")
                code = page.inner_text("#code")
                req = InspectionRequest.objects.get()
                assert code == req.code and req.zone == "NORTE" and req.lines.count() == 4
                page.screenshot(path=str(ARTIFACTS / "3-request.png"), full_page=True)

                with page.expect_download() as download:
                    page.click("#export")
                path = ARTIFACTS / f"{code}.xlsx"
                download.value.save_as(str(path))
                rows = list(openpyxl.load_workbook(path)["Customers"].iter_rows(values_only=True))
                assert [r[2] for r in rows[1:]] == list(req.lines.values_list("customer_id", flat=True))
                assert {r[3] for r in rows[1:]} == {"NORTE"}

                page.click("#logout")
                self.login(page, "field@example.org")
                page.goto(f"{self.live_server_url}/requests/{req.pk}/")
                page.locator("a.result-link").first.click()
                page.select_option("select[name=outcome]", "irregular")
                page.fill("input[name=irregularity]", "bypass")
                page.fill("input[name=recovered_kwh]", "420")
                page.fill("input[name=inspected_on]", "2026-10-20")
                page.click("#save")
                page.wait_for_selector("#lines")
                assert page.locator("#lines td.outcome").first.inner_text() == "Irregular"
                assert page.inner_text("#hit-rate") == "100%"
                page.screenshot(path=str(ARTIFACTS / "4-result.png"), full_page=True)
            finally:
                browser.close()
        line = req.lines.get(position=1)
        assert labels.read([line.inspection_id])[line.inspection_id]["outcome"] == "irregular"

    def login(self, page: object, email: str) -> None:
        page.goto(f"{self.live_server_url}/login/")  # type: ignore[attr-defined]
        page.fill("input[name=email]", email)  # type: ignore[attr-defined]
        page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
        page.click("#login")  # type: ignore[attr-defined]
        page.wait_for_selector("#logout")  # type: ignore[attr-defined]
