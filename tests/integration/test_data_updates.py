"""Catalog updates from a source as jobs on the worker pool: progress, report, cancel, retry,
and failures that leave the catalog as it was (HTTP, SQLite and PostgreSQL).

The adapters' library is a stand-in module with recorded responses (``tests/unit/
test_sources.py``), put in ``sys.modules`` so the real import path runs without a network.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quantdesk.services.platform import Platform
from quantdesk.storage import jobs as job_store
from tests.fixtures.platform import drain, logged_in, make_settings
from tests.unit.test_sources import akshare_client

UPDATE = {"order_book_ids": ["600519.XSHG", "000001.XSHE"], "start_date": "2024-01-02",
          "end_date": "2024-01-10"}  # fmt: skip


@pytest.fixture
def admin(
    tmp_path: Path, database_url: str, demo_data_dir: Path
) -> Iterator[tuple[TestClient, Platform]]:
    data = tmp_path / "data"
    shutil.copytree(demo_data_dir, data)
    settings = make_settings(tmp_path, database_url, data)
    with logged_in(settings) as session:
        yield session


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def test_sources_say_what_they_provide(admin: tuple[TestClient, Platform]) -> None:
    client, _ = admin
    data = client.get("/api/data/sources").json()["data"]["sources"]
    by_name = {s["name"]: s for s in data}
    assert set(by_name) == {"demo", "upload", "akshare", "baostock", "yfinance"}
    assert by_name["demo"]["available"] and not by_name["demo"]["updatable"]
    assert "st_status" in by_name["baostock"]["provides"] and by_name["baostock"]["extra"]
    assert by_name["yfinance"]["markets"] == ["us"]


def test_an_update_runs_as_a_job_and_reports(
    admin: tuple[TestClient, Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, platform = admin
    monkeypatch.setitem(sys.modules, "akshare", akshare_client())
    res = client.post("/api/data/sources/akshare/update", json=UPDATE)
    assert res.status_code == 200, res.text
    job_id = res.json()["data"]["job_id"]
    queued = client.get(f"/api/data/updates/{job_id}").json()["data"]
    assert queued["status"] == "QUEUED" and queued["kind"] == "data_update"
    assert queued["total_bars"] == 2 and queued["source"] == "akshare"
    drain(platform)
    done = client.get(f"/api/data/updates/{job_id}").json()["data"]
    assert done["status"] == "FINISHED", done
    assert (done["current_bar"], done["progress"]) == (2, 100.0)
    assert [i["rows_accepted"] for i in done["report"]["instruments"]] == [7, 7]
    bars = client.get("/api/data/instruments/600519.XSHG/bars").json()["data"]
    assert len(bars["close"]) == 7 and bars["volume"][0] == 2_500_000
    listed = client.get("/api/data/updates").json()["data"]
    assert [j["job_id"] for j in listed["jobs"]] == [job_id]
    assert client.get("/api/backtest/jobs").json()["data"]["total"] == 0  # not a backtest
    log = client.get(f"/api/backtest/jobs/{job_id}/log").text
    assert "600519.XSHG: 7 bars" in log and "updated 2 instrument(s)" in log


def test_a_failing_source_fails_the_update_and_changes_nothing_then_retry(
    admin: tuple[TestClient, Platform], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client, platform = admin
    before = snapshot(tmp_path / "data")
    monkeypatch.setitem(
        sys.modules, "akshare", akshare_client(fail=ConnectionError("Eastmoney timed out"))
    )
    job_id = client.post("/api/data/sources/akshare/update", json=UPDATE).json()["data"]["job_id"]
    drain(platform)
    failed = client.get(f"/api/data/updates/{job_id}").json()["data"]
    assert failed["status"] == "FAILED" and failed["error"]["code"] == "SOURCE_ERROR"
    assert "Eastmoney timed out" in failed["error"]["message"]
    assert failed["attempts"] == 1  # a source error is final, never retried by the pool
    assert snapshot(tmp_path / "data") == before
    monkeypatch.setitem(sys.modules, "akshare", akshare_client())
    again = client.post(f"/api/data/updates/{job_id}/retry")
    assert again.status_code == 200, again.text
    drain(platform)
    retried = client.get(f"/api/data/updates/{again.json()['data']['job_id']}").json()["data"]
    assert retried["status"] == "FINISHED"


def test_a_cancelled_update_writes_nothing(
    admin: tuple[TestClient, Platform], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client, platform = admin
    before = snapshot(tmp_path / "data")
    job_id = ""
    recorded = akshare_client()

    def hist(**kw: Any) -> Any:  # the user cancels while the first instrument downloads
        job_store.request_cancel(platform.db, job_id, platform.settings.local_auth_user_id)
        return recorded.stock_zh_a_hist(**kw)

    stand_in = type(sys)("akshare")
    stand_in.stock_zh_a_hist = hist  # type: ignore[attr-defined]
    stand_in.stock_info_a_code_name = recorded.stock_info_a_code_name  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "akshare", stand_in)
    job_id = client.post("/api/data/sources/akshare/update", json=UPDATE).json()["data"]["job_id"]
    drain(platform)
    status = client.get(f"/api/data/updates/{job_id}").json()["data"]
    assert status["status"] == "CANCELLED", status
    assert snapshot(tmp_path / "data") == before
    queued = client.post("/api/data/sources/akshare/update", json=UPDATE).json()["data"]["job_id"]
    assert client.post(f"/api/data/updates/{queued}/cancel").json()["status"] == "CANCELLED"


def test_updates_are_for_admins_and_check_their_inputs(admin: tuple[TestClient, Platform]) -> None:
    client, _ = admin
    assert client.post("/api/data/sources/bloomberg/update", json=UPDATE).status_code == 404
    assert client.post("/api/data/sources/demo/update", json=UPDATE).status_code == 400
    assert client.post("/api/data/demo/update", json=UPDATE).status_code == 400  # seed's path
    assert client.post("/api/data/bloomberg/update", json=UPDATE).status_code == 404
    bad_bodies = [
        {**UPDATE, "order_book_ids": []},
        {**UPDATE, "order_book_ids": ["../etc"]},
        {**UPDATE, "end_date": "2023-01-01"},
        {**UPDATE, "start_date": "soon"},
        {**UPDATE, "with_members": True},
        {**UPDATE, "index_ids": ["../x"]},
    ]
    for bad in bad_bodies:
        res = client.post("/api/data/sources/akshare/update", json=bad)
        assert res.status_code == 400, (bad, res.text)
    lacking = client.post("/api/data/sources/baostock/update",
                          json={**UPDATE, "index_ids": ["399006.XSHE"]})  # fmt: skip
    assert lacking.status_code == 400 and "000300.XSHG" in lacking.json()["error"]["message"]
    not_cn = client.post("/api/data/sources/akshare/update",
                         json={"index_ids": ["AAPL"], "start_date": "2024-01-02"})  # fmt: skip
    assert not_cn.status_code == 400 and "AAPL" in not_cn.json()["error"]["message"]
    ancient = client.post("/api/data/sources/akshare/update",
                          json={**UPDATE, "start_date": "0001-01-01"})  # fmt: skip
    assert ancient.status_code == 400
    body = {"index_ids": ["000300.SH"], "start_date": "2024-01-02"}
    spelled = client.post("/api/data/sources/baostock/update", json=body)
    assert spelled.status_code == 200, spelled.text
    job = client.get(f"/api/data/updates/{spelled.json()['data']['job_id']}").json()["data"]
    assert job["index_ids"] == ["000300.XSHG"]
    no_index = client.post("/api/data/sources/yfinance/update",
                           json={"index_ids": ["^GSPC"], "start_date": "2024-01-02"})  # fmt: skip
    assert no_index.status_code == 400 and "none" in no_index.json()["error"]["message"]
    client.post("/api/admin/users", json={"mobile": "139", "password": "password-1"})
    token = client.post("/api/login", data={"mobile": "139", "password": "password-1"}).json()[
        "token"
    ]
    res = client.post(
        "/api/data/sources/akshare/update", json=UPDATE, headers={"Authorization": token}
    )
    assert res.status_code == 403


def test_an_index_update_with_its_members_runs_as_a_job(
    admin: tuple[TestClient, Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, platform = admin
    monkeypatch.setitem(sys.modules, "akshare", akshare_client())
    sources = client.get("/api/data/sources").json()["data"]["sources"]
    assert next(s for s in sources if s["name"] == "akshare")["indexes"] == ["*"]
    body = {"index_ids": ["000300.XSHG"], "with_members": True, "start_date": "2024-01-02",
            "end_date": "2024-01-10"}  # fmt: skip
    job_id = client.post("/api/data/sources/akshare/update", json=body).json()["data"]["job_id"]
    queued = client.get(f"/api/data/updates/{job_id}").json()["data"]
    assert queued["index_ids"] == ["000300.XSHG"] and queued["total_bars"] == 1
    assert queued["with_members"] is True and queued["scheduled"] is False
    [listed] = client.get("/api/data/updates").json()["data"]["jobs"]
    assert (listed["index_ids"], listed["with_members"]) == (["000300.XSHG"], True)
    drain(platform)
    done = client.get(f"/api/data/updates/{job_id}").json()["data"]
    assert done["status"] == "FINISHED", done
    assert done["total_bars"] == 4 and done["progress"] == 100.0  # the index, then 3 members
    assert done["report"]["indexes"][0]["index_id"] == "000300.XSHG"
    assert {i["order_book_id"] for i in done["report"]["instruments"]} == {
        "600519.XSHG", "000001.XSHE", "300750.XSHE",
    }  # fmt: skip
    members = client.get("/api/data/indexes/000300.XSHG/components").json()["data"]
    assert members["effective_date"] == "2024-01-05" and members["not_in_catalog"] == []
    assert members["weights"] == [0.93, 3.02, 5.61]  # sorted by member id


def test_seed_paths_list_a_sources_symbols_and_read_history(
    admin: tuple[TestClient, Platform],
) -> None:
    client, _ = admin
    demo = client.get("/api/data/demo/symbols").json()["data"]
    assert {r["order_book_id"] for r in demo["instruments"]} == {
        "AAPL", "FB", "GOOG", "IBM", "MSFT", "SPX", "IXIC", "000300.XSHG",
    }  # fmt: skip
    cn = client.get("/api/data/baostock/symbols").json()["data"]["instruments"]
    assert [r["order_book_id"] for r in cn] == ["000300.XSHG"]
    paged = client.get("/api/data/upload/symbols?limit=2&offset=1").json()["data"]
    assert len(paged["instruments"]) == 2 and paged["total"] == 8
    history = client.get("/api/data/demo/AAPL?start=2005-02-24&end=2005-03-01").json()["data"]
    same = client.get("/api/data/instruments/AAPL/bars?start=2005-02-24&end=2005-03-01")
    assert history == same.json()["data"] and len(history["close"]) == 4
    for path, status in (("/api/data/bloomberg/symbols", 404), ("/api/data/demo/NOPE", 404),
                         ("/api/data/bloomberg/AAPL", 404)):  # fmt: skip
        res = client.get(path)
        assert res.status_code == status and res.json()["ok"] is False, (path, res.text)
    # quantdesk's own two-segment paths still win over the seed's {source}/{symbol}
    own = client.get("/api/data/updates/0123456789abcdef").json()
    assert "not found" in own["error"]["message"] and "order_book_id" not in own["error"]["message"]


def test_an_update_without_a_start_continues_from_the_last_stored_bar(
    admin: tuple[TestClient, Platform],
) -> None:
    client, _ = admin
    res = client.post("/api/data/sources/yfinance/update",
                      json={"symbols": ["AAPL", "NEWCO"], "end": "2013-06-28"})  # fmt: skip
    assert res.status_code == 200, res.text
    job = client.get(f"/api/data/updates/{res.json()['data']['job_id']}").json()["data"]
    assert job["order_book_ids"] == ["AAPL", "NEWCO"]
    # AAPL's bars end on 2013-03-01: the window starts there (NEWCO is new)
    assert (job["start_date"], job["end_date"]) == ("2013-03-01", "2013-06-28")
    fresh = client.post("/api/data/sources/yfinance/update",
                        json={"ids": ["NEWCO"], "end_date": "2013-06-28"}).json()  # fmt: skip
    job = client.get(f"/api/data/updates/{fresh['data']['job_id']}").json()["data"]
    assert job["start_date"] == "2012-06-28"  # nothing stored: a year
