"""The Data page in real headless Chromium against ``quantdesk serve``: import, catalog, sources.

An admin searches the catalog (server-side, paged) and reads an A-share's board and ST
periods, downloads its bars as CSV; then imports a file through the UI: a first CSV previews
clean (the report counts the accepted rows); a file whose date column is called ``Day`` fails
the preview and opens the column mapping, ``Day`` is mapped to ``date``, the preview passes and
the import commits; the new instrument is in the list. A file with negative prices under
``strict`` is refused with its rejected rows and reasons, and the catalog is unchanged (a
non-strict preview of it says what would be kept); a file over the size limit says so (413).
The Sources tab lists the sources and says no update is scheduled (no ``DATA_UPDATE_CRON``),
naming the settings that schedule them; an update queued from an available one is followed to its
end (without a network it fails, and says why) and retried. A researcher sees the import and
the updates are for admins.
Screenshots go where ``test_web_ui`` puts them (``out/web-ui/``, ``QUANTDESK_SCREENSHOTS``).

Needs Debian's ``chromium`` and the built UI (``make web``); skipped without them, except under
CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

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

RESEARCHER = {"mobile": "13900000077", "password": "viewer-pass-123", "role": "researcher"}
#: NYSE sessions of early January 2024 (the 1st is a holiday).
SESSIONS = [
    "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08",
    "2024-01-09", "2024-01-10", "2024-01-11", "2024-01-12",
]  # fmt: skip
#: The largest upload the test server takes (MiB): the files below are far smaller.
UPLOAD_MB = "0.05"


def _csv(header: str, closes: list[float]) -> bytes:
    lines = [header]
    for day, close in zip(SESSIONS, closes, strict=True):
        low = min(close, 10.0) - 0.5
        lines.append(f"{day},10.0,{max(close, 10.0) + 0.5},{low},{close},{1000 + len(lines)}")
    return ("\n".join(lines) + "\n").encode()


CLOSES = [10.2, 10.4, 10.1, 10.6, 10.9, 11.0, 10.8, 11.2, 11.4]
GOOD = _csv("Date,Open,High,Low,Close,Volume", CLOSES)
#: The same bars with the date column under a name the server does not know.
RENAMED = _csv("Day,Open,High,Low,Close,Volume", CLOSES)
#: Two negative closes (rows 3 and 6).
BAD = _csv(
    "Date,Open,High,Low,Close,Volume", [10.2, 10.4, -10.1, 10.6, 10.9, -11.0, 10.8, 11.2, 11.4]
)


@pytest.fixture
def server(tmp_path: Path, a_share_catalog: Catalog) -> Iterator[str]:
    """``quantdesk serve`` with the UI over a copy of the A-share catalog (imports change it)."""
    with _serve_copy(tmp_path, a_share_catalog.root, DATA_UPLOAD_MB=UPLOAD_MB) as base:
        yield base


def _total(http: httpx.Client) -> int:
    res = http.get("/api/data/instruments", params={"limit": 1})
    assert res.status_code == 200, res.text
    return int(res.json()["data"]["total"])


def test_an_admin_imports_a_file_and_reads_the_catalog_in_the_browser(
    chromium: str,  # noqa: F811 (the fixture imported above, requested by name)
    server: str,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    with (
        _browser(chromium) as (new_page, page, console_errors),
        httpx.Client(base_url=server, timeout=30) as http,
    ):
        _login(page, server)
        http.headers["Authorization"] = _token(page)
        before = _total(http)

        # -- the catalog: server-side search, A-share board and ST periods, download
        page.get_by_role("link", name="Data", exact=True).click()
        expect(page.get_by_role("heading", name="Data", exact=True)).to_be_visible()
        expect(page.get_by_text(f"{before} instruments, daily bars")).to_be_visible()
        table = page.get_by_test_id("instruments-table")
        page.get_by_test_id("instrument-search").fill("XSHG")
        expect(table.locator("tbody tr").first).to_contain_text("XSHG")
        for row in table.locator("tbody tr").all():
            expect(row.locator("td").first).to_contain_text("XSHG")
        expect(table.locator("tr", has_text="688001.XSHG")).to_contain_text("STAR (KSH)")
        st_row = table.locator("tr", has_text="600001.XSHG")
        expect(st_row).to_contain_text("Main board")
        expect(st_row.get_by_test_id("st-tag")).to_have_text("ST 2009–2010")
        st_row.click()
        expect(page).to_have_url(f"{server}/data/600001.XSHG")
        detail = page.get_by_test_id("instrument-detail")
        expect(detail.get_by_test_id("st-periods")).to_contain_text("2009-01-05 → 2010-12-31")
        expect(detail).to_contain_text("100")  # the lot
        expect(detail.locator("canvas").first).to_be_visible()
        _shot(page, "30-data-instruments")
        with page.expect_download() as info:
            detail.get_by_test_id("download-csv").click()
        download = info.value
        assert download.suggested_filename == "600001.XSHG-none.csv"
        saved = tmp_path / "bars.csv"
        download.save_as(str(saved))
        head = saved.read_text().splitlines()
        assert head[0].startswith("date,open,high,low,close,volume"), head[0]
        assert len(head) > 100
        # The search starts over on a new term; a filter narrows it (market).
        page.get_by_test_id("instrument-search").fill("")
        page.get_by_label("market").select_option("us")
        expect(table.locator("tbody tr", has_text="AAPL")).to_be_visible()
        expect(table.locator("tbody tr", has_text="XSHG")).to_have_count(0)
        page.get_by_label("market").select_option("")

        # -- import: a clean file previews with its accepted rows
        page.get_by_role("tab", name="Import").click()
        expect(page).to_have_url(f"{server}/data?tab=import")
        form = page.get_by_test_id("import-form")
        expect(page.get_by_text("No file yet")).to_be_visible()
        form.get_by_test_id("import-file").set_input_files(_csv_file("acme.csv", GOOD))
        expect(form.get_by_test_id("import-file-name")).to_have_text("acme.csv")
        form.locator("input[name=order_book_id]").fill("ACME")
        form.locator("input[name=name]").fill("Acme Corp.")
        form.get_by_test_id("import-preview").click()
        report = page.get_by_test_id("import-report")
        expect(report.get_by_test_id("rows-accepted")).to_have_text("9")
        expect(report.get_by_test_id("import-verdict")).to_contain_text(
            "all 9 rows of 1 instrument are valid"
        )
        expect(report.get_by_test_id("import-instruments")).to_contain_text("ACME")
        expect(report.get_by_test_id("import-instruments")).to_contain_text("2024-01-12")
        # The preview wrote nothing.
        assert _total(http) == before
        # The mapping shows the matches by name.
        mapping = page.get_by_test_id("column-mapping")
        expect(mapping.locator("select[name=map-date]")).to_have_value("Date")
        expect(mapping.locator("select[name=map-close]")).to_have_value("Close")
        _shot(page, "31-data-import-preview")

        # -- a file with "Day" for its dates: the preview asks for the mapping
        form.get_by_test_id("import-file").set_input_files(_csv_file("acme-day.csv", RENAMED))
        expect(form.get_by_test_id("import-file-name")).to_have_text("acme-day.csv")
        expect(mapping).to_have_count(0)  # a new file starts over
        form.get_by_test_id("import-preview").click()
        error = report.get_by_test_id("import-error")
        expect(error).to_contain_text("missing column(s) date")
        expect(error).to_contain_text("Map the file's columns")
        expect(mapping).to_be_visible()
        expect(mapping.locator("select[name=map-date]")).to_have_value("")
        expect(mapping.locator("select[name=map-date]")).to_have_class("invalid")
        expect(mapping.locator("select[name=map-open]")).to_have_value("Open")
        expect(mapping.get_by_test_id("mapping-missing")).to_contain_text("date")
        _shot(page, "32-data-import-mapping")
        mapping.locator("select[name=map-date]").select_option("Day")
        expect(mapping.get_by_test_id("mapping-missing")).to_have_count(0)
        form.get_by_test_id("import-preview").click()
        expect(report.get_by_test_id("import-error")).to_have_count(0)
        expect(report.get_by_test_id("rows-accepted")).to_have_text("9")

        # -- commit: the instrument is in the catalog
        form.get_by_test_id("import-commit").click()
        verdict = report.get_by_test_id("import-verdict")
        expect(verdict).to_contain_text("Imported 9 rows into 1 instrument")
        expect(report.get_by_test_id("rows-accepted")).to_have_text("9")
        expect(page.get_by_text(f"{before + 1} instruments, daily bars")).to_be_visible()
        _shot(page, "33-data-import-committed")
        assert _total(http) == before + 1
        verdict.get_by_role("button", name="Open ACME →").click()
        expect(page).to_have_url(f"{server}/data/ACME")
        expect(page.get_by_test_id("instrument-detail")).to_contain_text("Acme Corp.")
        page.get_by_test_id("instrument-search").fill("acme")
        expect(table.locator("tbody tr")).to_have_count(1)
        expect(table.locator("tbody tr")).to_contain_text("ACME")
        expect(table.locator("tbody tr")).to_contain_text("9")
        # Paged on the server; a new search starts on its first page.
        now = before + 1
        page.get_by_test_id("instrument-search").fill("")
        pager = page.locator(".pager")
        expect(pager).to_contain_text(f"1–{min(now, 50)} of {now}")
        page.get_by_label("rows per page").select_option("10")
        expect(pager).to_contain_text(f"1–10 of {now}")
        expect(table.locator("tbody tr")).to_have_count(10)
        page.get_by_label("next page").click()
        expect(pager).to_contain_text(f"11–{min(now, 20)} of {now}")
        expect(table.locator("tbody tr")).to_have_count(min(now, 20) - 10)
        xshe = http.get("/api/data/instruments", params={"q": "XSHE"}).json()["data"]["total"]
        page.get_by_test_id("instrument-search").fill("XSHE")
        expect(pager).to_contain_text(f"1–{xshe} of {xshe}")

        # -- a bad file under strict: refused with its rejected rows, nothing changes
        page.get_by_role("tab", name="Import").click()
        expect(report).to_be_visible()  # the last report is still there
        form.get_by_test_id("import-file").set_input_files(_csv_file("badco.csv", BAD))
        form.locator("input[name=order_book_id]").fill("BADCO")
        form.locator("input[name=name]").fill("")
        expect(form.locator("input[name=strict]")).to_be_checked()
        form.get_by_test_id("import-commit").click()
        verdict = report.get_by_test_id("import-verdict")
        expect(verdict).to_contain_text("Refused: nothing was imported")
        expect(verdict).to_contain_text("BADCO: 2 invalid rows")
        rejected = report.get_by_test_id("rejected-rows")
        expect(rejected.locator("tbody tr")).to_have_count(2)
        expect(rejected).to_contain_text("2024-01-04")
        expect(rejected).to_contain_text("2024-01-09")
        expect(rejected).to_contain_text("non-positive price")
        expect(report.get_by_test_id("rows-accepted")).to_have_text("7")
        _shot(page, "34-data-import-refused")
        assert _total(http) == before + 1
        assert http.get("/api/data/instruments", params={"q": "BADCO"}).json()["data"] == {
            "instruments": [],
            "total": 0,
        }
        # Not strict: the preview says the valid rows would be kept (still nothing written).
        form.locator("input[name=strict]").uncheck()
        expect(report.get_by_text("out of date: preview again")).to_be_visible()
        form.get_by_test_id("import-preview").click()
        expect(report.get_by_test_id("import-verdict")).to_contain_text(
            "7 of 9 rows would be imported"
        )
        expect(report.get_by_text("out of date: preview again")).to_have_count(0)
        assert _total(http) == before + 1
        # The instruments list (a fresh look) has no BADCO.
        page.get_by_role("tab", name="Instruments").click()
        page.get_by_test_id("instrument-search").fill("BADCO")
        expect(table).to_contain_text("No instrument matches “BADCO”")

        # -- a file over the server's limit: 413, said plainly
        page.get_by_role("tab", name="Import").click()
        big = b"Date,Open,High,Low,Close,Volume\n" + b"2024-01-02,1,1,1,1,1\n" * 4000
        form.get_by_test_id("import-file").set_input_files(_csv_file("big.csv", big))
        form.get_by_test_id("import-preview").click()
        expect(report.get_by_test_id("import-error")).to_contain_text("too large")
        expect(report.get_by_test_id("import-error")).to_contain_text("HTTP 413")

        # -- sources, and an update followed to its end
        page.get_by_role("tab", name="Sources").click()
        expect(page).to_have_url(f"{server}/data?tab=sources")
        sources = page.get_by_test_id("sources")
        listed = http.get("/api/data/sources").json()["data"]["sources"]
        for s in listed:
            expect(sources.get_by_test_id(f"source-{s['name']}")).to_contain_text(s["title"])
        expect(sources.get_by_test_id("source-upload")).to_contain_text("Import tab")
        schedule = page.get_by_role("region", name="Scheduled updates")
        expect(schedule).to_contain_text("No updates are scheduled.")
        expect(schedule).to_contain_text("DATA_UPDATE_CRON")
        expect(schedule).to_contain_text("30 17 * * 1-5")
        ready = [s for s in listed if s["updatable"] and s["available"]]
        if ready:
            name = ready[0]["name"]
            sources.get_by_test_id(f"update-{name}").click()
            update_form = page.get_by_test_id("update-form")
            expect(update_form.locator("select[name=source]")).to_have_value(name)
            update_form.locator("input[name=ids]").fill("AAPL")
            update_form.locator("input[name=start]").fill("2024-01-02")
            update_form.locator("input[name=end]").fill("2024-01-31")
            update_form.get_by_test_id("queue-update").click()
            followed = page.get_by_test_id("update-detail")
            expect(followed).to_contain_text("AAPL")
            badge = followed.get_by_test_id("status-badge")
            expect(badge).to_have_text(re.compile("^(FINISHED|FAILED)$"), timeout=90_000)
            final = badge.inner_text()
            if final == "FAILED":
                expect(followed.get_by_test_id("update-error")).to_be_visible()
            else:
                expect(followed.get_by_test_id("update-report")).to_contain_text("AAPL")
            expect(followed.get_by_test_id("update-log")).to_contain_text("updating 1 instrument")
            recent = page.get_by_test_id("recent-updates")
            expect(recent.locator("tbody tr")).to_have_count(1)
            expect(recent.get_by_test_id("update-targets")).to_have_text("AAPL")
            _shot(page, "35-data-sources")
            first_id = followed.locator(".mono").first.inner_text()
            followed.get_by_test_id("retry-update").click()
            expect(recent.locator("tbody tr")).to_have_count(2)
            expect(followed.locator(".mono").first).not_to_have_text(first_id)
        else:
            _shot(page, "35-data-sources")
        page.get_by_test_id("recent-updates").scroll_into_view_if_needed()
        _shot(page, "35-data-sources-schedule")

        # -- a researcher: no import, no updates
        assert http.post("/api/admin/users", json=RESEARCHER).status_code == 200
        other = new_page()
        other.goto(f"{server}/login")
        other.fill("input[name=mobile]", RESEARCHER["mobile"])
        other.fill("input[name=password]", RESEARCHER["password"])
        other.click("button[type=submit]")
        other.get_by_role("heading", name="Strategies", exact=True).wait_for()
        other.goto(f"{server}/data?tab=import")
        expect(other.get_by_text("Importing data is for admins")).to_be_visible()
        expect(other.get_by_test_id("import-form")).to_have_count(0)
        other.get_by_role("tab", name="Sources").click()
        expect(other.get_by_text("Updates are for admins")).to_be_visible()
        expect(other.get_by_role("region", name="Scheduled updates")).to_have_count(0)
        expect(other.get_by_test_id("source-yfinance")).to_be_visible()
        expect(other.get_by_test_id("update-yfinance")).to_be_disabled()
        _shot(other, "36-data-sources-researcher")

        # The refused, unmapped and too-large uploads answer 400/413: the browser logs those.
        unexpected = [e for e in console_errors if "Failed to load" not in e]
        assert unexpected == [], unexpected
