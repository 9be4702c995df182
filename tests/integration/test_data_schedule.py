"""``DATA_UPDATE_CRON``: scheduled data updates are queued once per scheduled time, in the
market's zone, even by several API processes, and run like any update (SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from quantdesk.core.settings import Settings
from quantdesk.services.data_schedule import UpdateScheduler
from quantdesk.services.platform import Platform
from tests.fixtures.platform import drain, logged_in, make_settings
from tests.unit.test_sources import akshare_client

UTC = dt.UTC
#: Wednesday 2024-01-10 17:30 in Shanghai.
DUE = dt.datetime(2024, 1, 10, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_background_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's own ticking runs on the wall clock; these tests tick on a fixed one."""

    async def idle(*_: Any) -> None:
        return None

    monkeypatch.setattr("quantdesk.api.app._scheduled_updates", idle)


def session(tmp_path: Path, database_url: str, demo_data_dir: Path, **overrides: Any) -> Any:
    data = tmp_path / "data"
    if not data.exists():
        shutil.copytree(demo_data_dir, data)
    settings = make_settings(tmp_path, database_url, data, **overrides)
    return logged_in(settings)


@pytest.fixture
def scheduled(
    tmp_path: Path, database_url: str, demo_data_dir: Path
) -> Iterator[tuple[TestClient, Platform]]:
    with session(tmp_path, database_url, demo_data_dir, data_update_cron="30 17 * * 1-5",
                 data_update_source="akshare", data_update_ids="600519.XSHG,000001.XSHE",
                 data_update_days=7) as pair:  # fmt: skip
        yield pair


def test_a_scheduled_time_is_queued_once_and_runs(
    scheduled: tuple[TestClient, Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, platform = scheduled
    first = UpdateScheduler(platform.db, platform.settings, platform.catalog)
    other = UpdateScheduler(platform.db, platform.settings, platform.catalog)  # another API
    assert str(first.zone) == "Asia/Shanghai"
    assert first.tick(DUE - dt.timedelta(minutes=1)) is None  # 17:29: not yet
    job_id = first.tick(DUE + dt.timedelta(seconds=20))
    assert job_id is not None
    with monkeypatch.context() as m:  # and the grace period's ticks no longer scan the catalog
        m.setattr(platform.catalog, "stats", lambda: pytest.fail("catalog scanned again"))
        assert first.tick(DUE + dt.timedelta(minutes=1)) is None  # the same time: once
    assert other.tick(DUE + dt.timedelta(minutes=2)) is None
    assert first.tick(DUE + dt.timedelta(minutes=16)) is None  # past the grace: nothing new
    assert first.tick(dt.datetime(2024, 1, 13, 9, 31, tzinfo=UTC)) is None  # a Saturday
    queued = client.get(f"/api/data/updates/{job_id}").json()["data"]
    assert queued["scheduled"] is True and queued["end_date"] == "2024-01-10"
    assert queued["source"] == "akshare" and queued["order_book_ids"] == [
        "600519.XSHG",
        "000001.XSHE",
    ]
    monkeypatch.setitem(sys.modules, "akshare", akshare_client())
    drain(platform)
    done = client.get(f"/api/data/updates/{job_id}").json()["data"]
    assert done["status"] == "FINISHED", done
    assert (done["report"]["start_date"], done["report"]["end_date"]) == (
        "2024-01-03",
        "2024-01-10",
    )
    assert [i["rows_accepted"] for i in done["report"]["instruments"]] == [6, 6]
    # the next day's run reaches back to the oldest last bar it knows
    thursday = first.request(dt.date(2024, 1, 30))
    assert (thursday["start_date"], thursday["end_date"]) == ("2024-01-10", "2024-01-30")
    # another admin sees, and may cancel or retry, the scheduled update: the catalog is shared
    client.post("/api/admin/users", json={"mobile": "138", "password": "password-1",
                                          "role": "admin"})  # fmt: skip
    token = client.post("/api/login", data={"mobile": "138", "password": "password-1"}).json()
    h = {"Authorization": token["token"]}
    listed = client.get("/api/data/updates", headers=h).json()["data"]["jobs"]
    assert [(j["job_id"], j["source"], j["report"]) for j in listed] == [(job_id, "akshare", None)]
    retried = client.post(f"/api/data/updates/{job_id}/retry", headers=h)
    assert retried.status_code == 200, retried.text
    again = retried.json()["data"]["job_id"]
    cancelled = client.post(f"/api/data/updates/{again}/cancel", headers=h)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    view = client.get("/api/data/schedule").json()["data"]
    assert view["enabled"] is True and view["cron"] == "30 17 * * 1-5"
    assert view["timezone"] == "Asia/Shanghai" and view["next_run"].endswith(":30:00Z")


def test_a_schedule_that_cannot_run_says_why(
    tmp_path: Path, database_url: str, demo_data_dir: Path
) -> None:
    with session(tmp_path, database_url, demo_data_dir, data_update_cron="0 18 * * *",
                 data_update_source="baostock",
                 data_update_indexes="399006.XSHE") as (client, platform):  # fmt: skip
        view = client.get("/api/data/schedule").json()["data"]
        assert view["enabled"] is False and "399006.XSHE" in view["problem"]
        off = UpdateScheduler(platform.db, platform.settings, platform.catalog)
        assert off.tick(dt.datetime(2024, 1, 10, 10, 0, tzinfo=UTC)) is None


def test_no_schedule_by_default_and_a_bad_expression_is_refused(
    tmp_path: Path, database_url: str, demo_data_dir: Path
) -> None:
    with session(tmp_path, database_url, demo_data_dir) as (client, _):
        view = client.get("/api/data/schedule").json()["data"]
        assert (view["enabled"], view["cron"], view["next_run"]) == (False, None, None)
    with pytest.raises(ValidationError, match="not a 5-field cron expression"):
        Settings(data_update_cron="every day")
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        Settings(data_update_tz="Mars/Olympus")
