"""A source update that succeeds, followed in real headless Chromium (no network).

The server's processes import ``tests/fixtures/offline_libs/akshare`` (recorded answers) as
``akshare``, so the whole path runs for real: the Sources tab shows akshare as installed, an
admin queues an update of the CSI 300's membership with its members' bars, the worker runs
it, the update is followed to FINISHED with its report, and the new stocks and the index
composition are in the catalog: on the Instruments tab, on the Indexes tab, and through the
API. Screenshots go where ``test_web_ui`` puts them (``out/web-ui/``).

Needs Debian's ``chromium`` and the built UI (``make web``); skipped without them, except under
CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_web_ui import (
    _browser,
    _login,
    _serve_copy,
    _shot,
    _token,
    chromium,  # noqa: F401 (a fixture)
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = ROOT / "tests" / "fixtures" / "offline_libs"
MEMBERS = ("000001.XSHE", "300750.XSHE", "600519.XSHG")


@pytest.fixture
def server(tmp_path: Path, demo_data_dir: Path) -> Iterator[str]:
    """``quantdesk serve`` whose processes import the recorded ``akshare``."""
    path = os.pathsep.join([str(OFFLINE), str(ROOT), os.environ.get("PYTHONPATH", "")])
    with _serve_copy(tmp_path, demo_data_dir, PYTHONPATH=path) as base:
        yield base


def test_an_index_update_with_its_members_finishes_and_fills_the_catalog(
    chromium: str,  # noqa: F811 (the fixture imported above, requested by name)
    server: str,
) -> None:
    from playwright.sync_api import expect

    with (
        _browser(chromium) as (_new_page, page, console_errors),
        httpx.Client(base_url=server, timeout=30) as http,
    ):
        _login(page, server)
        http.headers["Authorization"] = _token(page)
        page.get_by_role("link", name="Data", exact=True).click()
        page.get_by_role("tab", name="Sources").click()
        page.get_by_test_id("update-akshare").click()
        form = page.get_by_test_id("update-form")
        expect(form.locator("select[name=source]")).to_have_value("akshare")
        form.locator("input[name=index_ids]").fill("000300.XSHG")
        form.locator("input[name=with_members]").check()
        form.locator("input[name=start]").fill("2024-01-02")
        form.locator("input[name=end]").fill("2024-01-10")
        form.get_by_test_id("queue-update").click()
        followed = page.get_by_test_id("update-detail")
        expect(followed.get_by_test_id("status-badge")).to_have_text("FINISHED", timeout=90_000)
        report = followed.get_by_test_id("update-report")
        for oid in MEMBERS:
            expect(report).to_contain_text(oid)
        expect(followed.get_by_test_id("update-report-indexes")).to_contain_text("000300.XSHG")
        expect(followed.get_by_test_id("update-log")).to_contain_text("updated 3 instrument(s)")
        _shot(page, "47-data-sources-update-finished")

        # the catalog has the members' bars and the composition
        listed = http.get("/api/data/instruments?market=cn").json()["data"]["instruments"]
        assert set(MEMBERS) <= {row["order_book_id"] for row in listed}
        members = http.get("/api/data/indexes/000300.XSHG/components?date=2024-01-10")
        assert members.json()["data"]["order_book_ids"] == list(MEMBERS)
        page.get_by_role("tab", name="Instruments").click()
        expect(page.get_by_role("main")).to_contain_text("600519.XSHG")
        page.goto(f"{server}/data?tab=indexes&index=000300.XSHG")
        detail = page.get_by_test_id("index-detail")
        detail.locator("input[type=date]").fill("2024-01-10")
        expect(detail.get_by_test_id("index-members").locator("li")).to_have_count(3)
        expect(detail).to_contain_text("akshare")
        _shot(page, "48-data-indexes-from-akshare")
        assert console_errors == [], console_errors
