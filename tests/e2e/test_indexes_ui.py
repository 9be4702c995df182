"""The Data page's Indexes tab in real headless Chromium against ``quantdesk serve``.

An admin opens Data → Indexes on a catalog without membership and reads how to get some;
previews a membership file in Tushare's layout (``index_code, con_code, trade_date, weight``,
two compositions of ``000300.SH``) and reads the report, imports it, and finds
``000300.XSHG`` in the list. Picking it shows the members on a day between the compositions
(the first one's, with weights), then on a later day (the second one's, with a member the
catalog lacks), and the changes from one to the other. A file with a negative weight is
refused under ``strict`` with its line and reason, and the list is unchanged. On the Sources
tab, an update of baostock (shown as installed) takes index ids without instrument ids, and
the update says which indexes it fetches. A researcher sees the list but no import form.
Screenshots go where ``test_web_ui`` puts them (``out/web-ui/``, ``QUANTDESK_SCREENSHOTS``).

Needs Debian's ``chromium`` and the built UI (``make web``); skipped without them, except under
CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from quantdesk.data import Catalog
from tests.e2e.test_web_ui import (
    _browser,
    _csv_file,
    _login,
    _serve_copy,
    _shot,
    _token,
    chromium,  # noqa: F401 (a fixture)
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

RESEARCHER = {"mobile": "13900000078", "password": "viewer-pass-123", "role": "researcher"}
INDEX = "000300.XSHG"
#: Tushare's ``index_weight`` export: two compositions of the CSI 300 (a toy one). The second
#: drops 601988 and adds 600519, which the test catalog has no bars of.
MEMBERSHIP = (
    b"index_code,con_code,trade_date,weight\n"
    b"000300.SH,600000.SH,20240102,2.5\n"
    b"000300.SH,000001.SZ,20240102,1.5\n"
    b"000300.SH,601988.SH,20240102,3.0\n"
    b"000300.SH,600000.SH,20240603,2.6\n"
    b"000300.SH,000001.SZ,20240603,1.4\n"
    b"000300.SH,600519.SH,20240603,5.0\n"
)
#: A third composition with a negative weight on line 3.
BAD = (
    b"index_code,con_code,trade_date,weight\n"
    b"000300.SH,600000.SH,20241216,2.5\n"
    b"000300.SH,000001.SZ,20241216,-1.0\n"
)


@pytest.fixture
def server(tmp_path: Path, a_share_catalog: Catalog) -> Iterator[str]:
    """``quantdesk serve`` with the UI over a copy of the A-share catalog (imports change it)."""
    with _serve_copy(tmp_path, a_share_catalog.root) as base:
        yield base


def _indexes(http: httpx.Client) -> list[dict[str, Any]]:
    res = http.get("/api/data/indexes")
    assert res.status_code == 200, res.text
    return list(res.json()["data"]["indexes"])


def test_an_admin_imports_index_membership_and_reads_it_in_the_browser(
    chromium: str,  # noqa: F811 (the fixture imported above, requested by name)
    server: str,
) -> None:
    from playwright.sync_api import expect

    with (
        _browser(chromium) as (new_page, page, console_errors),
        httpx.Client(base_url=server, timeout=30) as http,
    ):
        _login(page, server)
        http.headers["Authorization"] = _token(page)
        assert _indexes(http) == []

        # -- no membership yet: the tab says how to get some
        page.get_by_role("link", name="Data", exact=True).click()
        page.get_by_role("tab", name="Indexes").click()
        expect(page).to_have_url(f"{server}/data?tab=indexes")
        expect(page.get_by_test_id("indexes-table")).to_contain_text("No index membership yet")
        empty = page.get_by_test_id("indexes-empty")
        expect(empty).to_contain_text("Upload a file with the form on the right")
        expect(empty).to_contain_text("baostock")
        expect(empty).to_contain_text("akshare")
        form = page.get_by_test_id("index-import-form")
        expect(form).to_be_visible()
        _shot(page, "40-data-indexes-empty")

        # -- preview: the report, nothing written
        form.get_by_test_id("index-import-file").set_input_files(_csv_file("hs300.csv", MEMBERSHIP))
        expect(form.get_by_test_id("index-import-file-name")).to_have_text("hs300.csv")
        expect(form.locator("input[name=strict]")).to_be_checked()
        form.get_by_test_id("index-import-preview").click()
        report = page.get_by_test_id("index-import-report")
        verdict = report.get_by_test_id("index-import-verdict")
        expect(verdict).to_contain_text("Preview: all 6 rows are valid")
        expect(verdict).to_contain_text("2 compositions of 1 index")
        expect(report.get_by_test_id("index-import-layout")).to_have_text("compositions")
        expect(report.get_by_test_id("index-rows-accepted")).to_have_text("6")
        expect(report.get_by_test_id("index-rows-rejected")).to_have_text("0")
        per_index = report.get_by_test_id("index-import-indexes").locator("tbody tr")
        expect(per_index).to_have_count(1)
        expect(per_index).to_contain_text(INDEX)
        expect(per_index).to_contain_text("2 new · 0 replaced")
        expect(per_index.locator("td").nth(2)).to_contain_text("2024-01-02")
        expect(per_index.locator("td").nth(2)).to_contain_text("→ 2024-06-03")
        expect(report).to_contain_text("con_code → order_book_id")
        report.scroll_into_view_if_needed()
        _shot(page, "41-data-indexes-preview")
        assert _indexes(http) == []
        expect(page.get_by_test_id("indexes-empty")).to_be_visible()

        # -- import: the index is listed
        form.get_by_test_id("index-import-commit").click()
        expect(verdict).to_contain_text("Imported 2 compositions of 1 index")
        table = page.get_by_test_id("indexes-table")
        row = table.get_by_test_id(f"index-{INDEX}")
        expect(row).to_be_visible()
        expect(page.get_by_test_id("indexes-empty")).to_have_count(0)
        expect(page.get_by_text("Pick an index")).to_be_visible()
        expect(row).to_contain_text("2024-01-02")
        expect(row).to_contain_text("2024-06-03")
        expect(row).to_contain_text("yes")  # weights
        expect(row).to_contain_text("upload")
        stored = _indexes(http)
        assert [(i["index_id"], i["compositions"], i["members"]) for i in stored] == [(INDEX, 2, 3)]

        # -- the members between the two compositions: the first one's, with weights
        row.click()
        expect(page).to_have_url(f"{server}/data?tab=indexes&index={INDEX}")
        detail = page.get_by_test_id("index-detail")
        expect(detail.get_by_role("heading", name=INDEX)).to_be_visible()
        date = detail.get_by_test_id("index-date")
        date.fill("2024-03-01")
        expect(detail.get_by_test_id("index-effective")).to_contain_text("2024-01-02")
        members = detail.get_by_test_id("index-members")
        expect(members.locator("li")).to_have_count(3)
        expect(members.locator("li[data-member='600000.XSHG']")).to_contain_text("2.50%")
        expect(members.locator("li[data-member='000001.XSHE']")).to_contain_text("1.50%")
        expect(members.locator("li[data-member='601988.XSHG']")).to_contain_text("3.00%")
        expect(members.locator("li.missing")).to_have_count(0)
        expect(detail.get_by_test_id("not-in-catalog")).to_have_count(0)
        # -- the history: the second composition swapped one member
        changes = detail.get_by_test_id("index-changes").locator("tbody tr")
        expect(changes).to_have_count(2)
        newest = changes.nth(0)
        expect(newest).to_contain_text("2024-06-03")
        expect(newest).to_contain_text("+1 600519.XSHG")
        expect(newest).to_contain_text("−1 601988.XSHG")
        expect(changes.nth(1)).to_contain_text("2024-01-02")
        expect(changes.nth(1)).to_contain_text("first composition")
        expect(changes.nth(1)).to_have_class("clickable selected")  # the one in effect
        _shot(page, "42-data-indexes-members")

        # -- a later day: the second composition, with a member the catalog lacks
        date.fill("2024-07-01")
        expect(detail.get_by_test_id("index-effective")).to_contain_text("2024-06-03")
        expect(members.locator("li")).to_have_count(3)
        expect(members.locator("li[data-member='600519.XSHG']")).to_contain_text("5.00%")
        expect(members.locator("li[data-member='601988.XSHG']")).to_have_count(0)
        expect(members.locator("li.missing")).to_have_count(1)
        expect(members.locator("li.missing")).to_contain_text("600519.XSHG")
        expect(detail.get_by_test_id("not-in-catalog")).to_contain_text("600519.XSHG")
        expect(newest).to_have_class("clickable selected")
        # A day before the first composition: nothing is known.
        date.fill("2023-06-30")
        expect(detail.get_by_test_id("index-before-first")).to_contain_text("2024-01-02")
        # A change's row shows its members.
        changes.nth(1).click()
        expect(date).to_have_value("2024-01-02")
        expect(members.locator("li[data-member='601988.XSHG']")).to_be_visible()
        # Each member's stays.
        detail.get_by_test_id("toggle-spells").click()
        spells = detail.get_by_test_id("index-spells").locator("tbody tr")
        expect(spells).to_have_count(4)
        expect(spells.filter(has_text="601988.XSHG")).to_contain_text("2024-06-02")
        expect(spells.filter(has_text="600519.XSHG")).to_contain_text("still in")
        date.fill("2024-07-01")
        detail.get_by_test_id("not-in-catalog").scroll_into_view_if_needed()
        _shot(page, "43-data-indexes-later")

        # -- a negative weight: refused with its line and reason, nothing changes
        form.get_by_test_id("index-import-file").set_input_files(_csv_file("bad.csv", BAD))
        expect(form.get_by_test_id("index-import-file-name")).to_have_text("bad.csv")
        form.get_by_test_id("index-import-commit").click()
        expect(verdict).to_contain_text("Refused: nothing was imported")
        expect(report.get_by_test_id("index-import-refused")).to_contain_text("line 3")
        rejected = report.get_by_test_id("index-import-rejected").locator("tbody tr")
        expect(rejected).to_have_count(1)
        expect(rejected).to_contain_text("line 3")
        expect(rejected).to_contain_text("not a percentage >= 0")
        expect(report.get_by_test_id("index-rows-rejected")).to_have_text("1")
        report.scroll_into_view_if_needed()
        _shot(page, "44-data-indexes-refused")
        assert _indexes(http) == stored
        expect(table.locator("tbody tr")).to_have_count(1)
        expect(row).to_contain_text("2024-06-03")
        expect(row.locator("td").nth(4)).to_have_text("2")  # compositions

        # -- a source update of an index's membership (baostock shown as installed: the job
        # then fails without it, or without a network, and says why)
        def baostock_installed(route: Any) -> None:
            res = route.fetch()
            body = res.json()
            for source in body["data"]["sources"]:
                if source["name"] == "baostock":
                    source["available"] = True
            route.fulfill(response=res, json=body)

        page.route("**/api/data/sources", baostock_installed)
        page.reload()
        page.get_by_role("tab", name="Sources").click()
        page.get_by_test_id("update-baostock").click()
        update_form = page.get_by_test_id("update-form")
        expect(update_form.locator("select[name=source]")).to_have_value("baostock")
        index_ids = update_form.locator("input[name=index_ids]")
        expect(index_ids).to_have_attribute("placeholder", "000300.XSHG, 000016.XSHG, 000905.XSHG")
        with_members = update_form.locator("input[name=with_members]")
        expect(with_members).to_be_disabled()
        index_ids.fill("000300.XSHG, 399006.XSHE")
        expect(update_form).to_contain_text("baostock has no membership of 399006.XSHE")
        expect(update_form.get_by_test_id("queue-update")).to_be_disabled()
        index_ids.fill("000300.XSHG")
        with_members.check()
        update_form.locator("input[name=start]").fill("2024-01-02")
        update_form.locator("input[name=end]").fill("2024-01-31")
        expect(update_form.get_by_test_id("queue-update")).to_be_enabled()  # no instrument id
        update_form.get_by_test_id("queue-update").click()
        followed = page.get_by_test_id("update-detail")
        expect(followed.get_by_test_id("update-indexes")).to_have_text(INDEX)
        expect(followed.get_by_test_id("status-badge")).to_have_text(
            re.compile("^(FINISHED|FAILED)$"), timeout=90_000
        )
        _shot(page, "45-data-sources-index-update")
        page.unroute("**/api/data/sources")

        # -- a researcher: the list, no import
        assert http.post("/api/admin/users", json=RESEARCHER).status_code == 200
        other = new_page()
        other.goto(f"{server}/login")
        other.fill("input[name=mobile]", RESEARCHER["mobile"])
        other.fill("input[name=password]", RESEARCHER["password"])
        other.click("button[type=submit]")
        other.get_by_role("heading", name="Strategies", exact=True).wait_for()
        other.goto(f"{server}/data?tab=indexes")
        expect(other.get_by_test_id(f"index-{INDEX}")).to_be_visible()
        expect(other.get_by_test_id("index-import-form")).to_have_count(0)
        other.get_by_test_id(f"index-{INDEX}").click()
        expect(other.get_by_test_id("index-members").locator("li")).to_have_count(3)
        _shot(other, "46-data-indexes-researcher")

        # The refused upload answers 400: the browser logs that.
        unexpected = [e for e in console_errors if "Failed to load" not in e]
        assert unexpected == [], unexpected
