"""The Research page in real headless Chromium against ``quantdesk serve``: JupyterLab embedded.

A researcher creates a research item, starts its notebook session, and the page embeds their
own (sandboxed) JupyterLab through the same-origin proxy, let in by the session's cookie. In it
they run the notebook's first cell and a new one that backtests on the demo data and prints the
total return; they refresh the session (its expiry moves) and stop it: the page says it ended
and the server's kernels are gone. Another user reaches neither the item nor the proxy path.
Then an edit (title, archived) and a delete from the list.
Screenshots go where ``test_web_ui`` puts them (``out/web-ui/``, ``QUANTDESK_SCREENSHOTS``).

Needs Debian's ``chromium``, the built UI (``make web``) and the research extra (JupyterLab,
``make install``); skipped without them, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_web_ui import (
    DIST,
    _browser,
    _login,
    _require,
    _shot,
    _token,
    chromium,  # noqa: F401 (a fixture)
)
from tests.fixtures.server import start_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

OTHER = {"mobile": "13900000042", "password": "other-pass-123", "role": "researcher"}
#: A new cell: a year of buy-and-hold AAPL against SPX on the demo data.
CELL = (
    "import quantdesk\n"
    'r = quantdesk.run_backtest("def handle_bar(context, bar_dict):\\n'
    '    order_target_percent(\'AAPL\', 1.0)\\n", start="2010-01-04", end="2010-12-31",'
    ' universe="AAPL", benchmark="SPX")\n'
    'print("TOTAL_RETURN", round(r.summary["total_returns"], 4))'
)
LAB_MS = 60_000
OUTPUT_MS = 120_000


@pytest.fixture
def server(tmp_path: Path, demo_data_dir: Path) -> Iterator[str]:
    """``quantdesk serve`` with the UI; notebooks in a short folder of their own (the server's
    Unix socket lives there, and a socket path has at most 107 bytes)."""
    _require(
        importlib.util.find_spec("jupyterlab") is not None,
        "JupyterLab is not installed (the research extra: make install)",
    )
    notebooks = tempfile.mkdtemp(prefix="qdnb-")
    srv = start_server(
        tmp_path, demo_data_dir, QUANTDESK_WEB_DIST=str(DIST), RESEARCH_NOTEBOOK_ROOT_DIR=notebooks
    )
    try:
        yield srv.base
    finally:
        srv.stop()
        shutil.rmtree(notebooks, ignore_errors=True)


def _status(page: Any, url: str, **headers: str) -> int:
    """The status of ``GET url`` through ``page``'s context (its cookies, not its token)."""
    return int(page.request.get(url, headers=headers, fail_on_status_code=False).status)


def test_a_researcher_runs_a_backtest_in_the_embedded_jupyterlab(
    chromium: str,  # noqa: F811 (the fixture imported above, requested by name)
    server: str,
) -> None:
    from playwright.sync_api import ConsoleMessage, expect

    with (
        _browser(chromium) as (new_page, page, _console_errors),
        httpx.Client(base_url=server, timeout=30) as http,
    ):
        # The UI's own console errors (JupyterLab's, in the frame, are its business).
        ui_errors: list[str] = []

        def record(message: ConsoleMessage) -> None:
            if message.type == "error" and "/jupyter/" not in message.location.get("url", ""):
                ui_errors.append(message.text)

        page.on("console", record)
        _login(page, server)
        http.headers["Authorization"] = _token(page)

        # The Research page from the nav: empty, then a new item from the form.
        page.get_by_role("link", name="Research", exact=True).click()
        expect(page.get_by_role("heading", name="Research", exact=True)).to_be_visible()
        expect(page.get_by_text("No research yet")).to_be_visible()
        page.get_by_test_id("new-research").click()
        dialog = page.get_by_role("dialog")
        dialog.locator("input[name=title]").fill("Momentum across sectors")
        dialog.locator("input[name=id]").fill("momentum_study")
        dialog.locator("textarea[name=description]").fill("Does last year's winner keep winning?")
        dialog.locator("input[name=tags]").fill("momentum, us_stock")
        _shot(page, "21-research-new")
        dialog.get_by_test_id("research-save").click()
        expect(page).to_have_url(f"{server}/research/momentum_study")
        expect(page.get_by_test_id("session-none")).to_contain_text("momentum_study.ipynb")
        # a second, archived item (over the API) for the list
        made = http.post("/api/research/items", json={
            "title": "Pairs trading notes", "tags": ["pairs", "cointegration"],
            "status": "ARCHIVED",
        })  # fmt: skip
        assert made.status_code == 201, made.text

        # Start: the page waits for the server, then embeds JupyterLab.
        page.get_by_test_id("session-start").click()
        frame_el = page.get_by_test_id("notebook-frame")
        expect(frame_el).to_be_visible(timeout=LAB_MS)
        expect(page.get_by_test_id("session-badge")).to_have_text("RUNNING")
        expect(page.get_by_test_id("session-expiry")).to_contain_text(
            re.compile(r"expires at [\d\- ]*\d\d:\d\d \(in (1h 59m|2h 00m)\)")
        )
        sid = frame_el.get_attribute("data-session")
        assert sid and sid.startswith("sess_"), sid
        assert (frame_el.get_attribute("src") or "").endswith(
            f"/jupyter/{sid}/lab/tree/momentum_study.ipynb"
        )

        # The list shows both, this one with its running session.
        page.get_by_role("link", name="Research", exact=True).first.click()
        table = page.get_by_test_id("research-table")
        expect(table.locator("tbody tr")).to_have_count(2)
        row = table.locator("tr", has_text="momentum_study")
        expect(row).to_contain_text("Momentum across sectors")
        expect(row).to_contain_text("RUNNING")
        expect(row).to_contain_text("us_stock")
        expect(table.locator("tr", has_text="Pairs trading notes")).to_contain_text("ARCHIVED")
        _shot(page, "22-research-list")

        # Open it again: the running session, JupyterLab on the notebook.
        row.get_by_role("link", name="Momentum across sectors").click()
        expect(page.get_by_test_id("notebook-frame")).to_be_visible()
        lab = page.frame_locator("[data-testid=notebook-frame]")
        notebook = lab.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
        expect(notebook).to_be_visible(timeout=LAB_MS)
        cells = notebook.locator(".jp-Cell")
        expect(cells).to_have_count(2, timeout=LAB_MS)
        first = notebook.locator(".jp-CodeCell").first
        expect(first).to_contain_text("import quantdesk", timeout=LAB_MS)
        # A cell run before the notebook has its kernel is dropped (JupyterLab clears it): wait
        # for the kernel's state in the status bar.
        status = lab.locator(".jp-StatusBar-Widget", has_text="Python 3 (ipykernel) | Idle")
        expect(status).to_be_visible(timeout=LAB_MS)

        # Run the first cell (the catalog's head): Shift+Enter adds a cell below, then ours.
        first.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        expect(first.locator(".jp-OutputArea-output")).to_contain_text("AAPL", timeout=OUTPUT_MS)
        expect(cells).to_have_count(3)
        # (by index: running it adds yet another cell at the end)
        last = notebook.locator(".jp-CodeCell").nth(1)
        last.locator(".cm-content").click()
        page.keyboard.insert_text(CELL)
        expect(last.locator(".cm-content")).to_contain_text("TOTAL_RETURN")
        page.keyboard.press("Shift+Enter")
        output = last.locator(".jp-OutputArea-output")
        expect(output).to_contain_text("TOTAL_RETURN", timeout=OUTPUT_MS)
        text = output.inner_text()
        assert re.search(r"TOTAL_RETURN -?\d+\.\d+", text), text
        assert "Error" not in text, text
        # the kernel that ran it, through the proxy with the page's cookie
        kernels = page.request.get(f"{server}/jupyter/{sid}/api/kernels")
        assert kernels.status == 200 and len(kernels.json()) >= 1, kernels.text()
        last.scroll_into_view_if_needed()
        _shot(page, "23-research-jupyterlab")
        page.set_viewport_size({"width": 1920, "height": 1080})
        _shot(page, "24-research-jupyterlab-1920")
        page.set_viewport_size({"width": 1280, "height": 800})

        # Refresh extends the session: a later expiry.
        expiry = page.get_by_test_id("session-expiry")
        before = expiry.get_attribute("title")
        page.get_by_test_id("session-refresh").click()
        expect(expiry).not_to_have_attribute("title", before or "")
        expect(page.get_by_test_id("session-refresh")).to_be_enabled()

        # Another user: no item, no proxy (with their token or none), even while it runs.
        assert http.post("/api/admin/users", json=OTHER).status_code == 200
        other = new_page()
        other.goto(f"{server}/login")
        other.fill("input[name=mobile]", OTHER["mobile"])
        other.fill("input[name=password]", OTHER["password"])
        other.click("button[type=submit]")
        other.get_by_role("heading", name="Strategies", exact=True).wait_for()
        theirs = {"Authorization": _token(other)}
        assert _status(other, f"{server}/api/research/items/momentum_study", **theirs) == 404
        assert _status(other, f"{server}/jupyter/{sid}/api/status", **theirs) == 404
        assert _status(other, f"{server}/jupyter/{sid}/api/status") == 401
        other.goto(f"{server}/research/momentum_study")
        expect(other.get_by_role("alert")).to_contain_text("not found")
        expect(other.get_by_test_id("notebook-frame")).to_have_count(0)
        other.get_by_role("link", name="Research", exact=True).first.click()
        expect(other.get_by_text("No research yet")).to_be_visible()
        assert _status(page, f"{server}/jupyter/{sid}/api/status") == 200  # still the owner's

        # Stop: the page says it ended and offers a new start; the server and kernels are gone.
        page.get_by_test_id("session-stop").click()
        ended = page.get_by_test_id("session-ended")
        expect(ended).to_contain_text("was stopped")
        expect(ended.get_by_test_id("session-badge")).to_have_text("STOPPED")
        expect(page.get_by_test_id("notebook-frame")).to_have_count(0)
        expect(page.get_by_test_id("session-start")).to_have_text("Start again")
        assert _status(page, f"{server}/jupyter/{sid}/api/kernels") == 404
        assert http.get("/api/research/items/momentum_study/notebook/session").json() == {
            "session": None
        }
        _shot(page, "25-research-stopped")
        # Edit the item here (a server error would show in the dialog), then the list.
        page.get_by_test_id("research-edit").click()
        dialog = page.get_by_role("dialog")
        dialog.locator("input[name=title]").fill("Momentum, sector by sector")
        dialog.locator("select[name=status]").select_option("ARCHIVED")
        dialog.get_by_test_id("research-save").click()
        expect(page.get_by_role("heading", name="Momentum, sector by sector")).to_be_visible()
        page.get_by_role("link", name="Research", exact=True).first.click()
        table = page.get_by_test_id("research-table")
        row = table.locator("tr", has_text="momentum_study")
        expect(row).to_contain_text("no session")
        expect(row).to_contain_text("ARCHIVED")
        # Delete the other one from the list.
        table.locator("tr", has_text="Pairs trading notes").get_by_role(
            "button", name="Delete"
        ).click()
        page.get_by_test_id("research-delete-submit").click()
        expect(table.locator("tbody tr")).to_have_count(1)
        assert http.get("/api/research/items").json()["total"] == 1
    unexpected = [e for e in ui_errors if "Failed to load" not in e]
    assert not unexpected, unexpected
