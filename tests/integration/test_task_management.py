"""Task management over HTTP: listing, history, cancel (queued and running), retry, delete."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from quantdesk.api import create_app
from quantdesk.jobs.runner import JobRunner
from quantdesk.jobs.sandbox.cgroups import Hierarchy
from quantdesk.services.platform import Platform, bootstrap
from quantdesk.storage import jobs as job_store
from tests.fixtures.platform import drain, make_settings

SMA = (Path(__file__).resolve().parents[2] / "examples" / "sma_crossover.py").read_text()
SLOW = "import time\n\ndef handle_bar(context, bar_dict):\n    time.sleep(0.05)\n"
RUN = {"strategy_id": "sma", "start_date": "2010-01-04", "end_date": "2010-03-31",
       "universe": ["AAPL"], "benchmark": "SPX"}  # fmt: skip


@pytest.fixture
def platform(tmp_path: Path, database_url: str, demo_data_dir: Path) -> Iterator[Platform]:
    p = bootstrap(make_settings(tmp_path, database_url, demo_data_dir,
                                backtest_idempotency_window_seconds=0))  # fmt: skip
    yield p
    p.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    app = create_app(platform.settings, platform)
    with TestClient(app, raise_server_exceptions=False) as c:
        token = c.post("/api/login", data={"mobile": "13800138000", "password": "pass123456"})
        c.headers["Authorization"] = token.json()["token"]
        for sid, code in (("sma", SMA), ("slow", SLOW)):
            c.post(f"/api/backtest/strategies/{sid}", json={"code": code})
        yield c


def submit(client: TestClient, **change: object) -> str:
    res = client.post("/api/backtest/run", json={**RUN, **change})
    assert res.status_code == 200, res.text
    return str(res.json()["job_id"])


@pytest.mark.usefixtures("platform")
def test_listing_filters_sorts_and_pages(client: TestClient) -> None:
    ids = [submit(client, cash=c) for c in (1e5, 2e5, 3e5)]
    slow = submit(client, strategy_id="slow")
    data = client.get("/api/backtest/jobs").json()["data"]
    assert data["total"] == 4 and [j["job_id"] for j in data["jobs"]] == [slow, *ids[::-1]]
    asc = client.get("/api/backtest/jobs?order_by=created_at&order=asc&limit=2&offset=1").json()
    assert [j["job_id"] for j in asc["data"]["jobs"]] == ids[1:3]
    weird = client.get("/api/backtest/jobs?order_by=drop table&order=asc").json()["data"]
    assert [j["job_id"] for j in weird["jobs"]] == [slow, *ids[::-1]]  # created_at desc
    by_strategy = client.get("/api/backtest/jobs?strategy_id=slow").json()["data"]
    assert [j["job_id"] for j in by_strategy["jobs"]] == [slow]
    assert client.get("/api/backtest/jobs?status=FINISHED").json()["data"]["total"] == 0
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert (
        client.get(f"/api/backtest/jobs?date_from={today}&date_to={today}").json()["data"]["total"]
        == 4
    )
    assert client.get("/api/backtest/jobs?date_to=2000-01-01").json()["data"]["total"] == 0
    bad = client.get("/api/backtest/jobs?status=DONE")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_ARGUMENT"
    history = client.get("/api/backtest/strategies/sma/jobs?limit=2").json()
    assert history["ok"] is True and history["data"]["strategy_id"] == "sma"
    assert history["data"]["total"] == 3 and len(history["data"]["jobs"]) == 2
    first = history["data"]["jobs"][0]
    assert set(first) == {
        "job_id",
        "strategy_id",
        "status",
        "error",
        "created_at",
        "updated_at",
        "params",
    }
    assert first["params"] == {"start_date": "2010-01-04", "end_date": "2010-03-31",
                               "cash": 3e5, "benchmark": "SPX", "frequency": "1d"}  # fmt: skip


def test_cancel_a_queued_job_at_once_and_idempotently(client: TestClient) -> None:
    job_id = submit(client)
    for _ in range(2):
        res = client.post(f"/api/backtest/jobs/{job_id}/cancel")
        assert res.status_code == 200 and res.json()["status"] == "CANCELLED"
    assert client.post("/api/backtest/jobs/nope/cancel").status_code == 404


def test_cancel_a_running_job_kills_it_within_two_seconds(
    client: TestClient, platform: Platform
) -> None:
    job_id = submit(client, strategy_id="slow", end_date="2010-12-31")
    claimed = job_store.claim(platform.db, "t", platform.settings.job_lease_seconds)
    assert claimed is not None
    runner = JobRunner(platform.db, platform.settings, "t", threading.Event())
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(runner.run(claimed)))
    thread.start()
    deadline = time.monotonic() + 30
    while client.get(f"/api/backtest/jobs/{job_id}").json()["current_bar"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    asked = time.monotonic()
    assert client.post(f"/api/backtest/jobs/{job_id}/cancel").status_code == 200
    while client.get(f"/api/backtest/jobs/{job_id}").json()["status"] != "CANCELLED":
        assert time.monotonic() - asked < 2.0, "not cancelled within 2 s"
        time.sleep(0.02)
    thread.join(timeout=10)
    status = client.get(f"/api/backtest/jobs/{job_id}").json()
    assert status["error"] is None and status["finished_at"]
    assert "CANCELLED" in client.get(f"/api/backtest/jobs/{job_id}/log").text
    again = client.post(f"/api/backtest/jobs/{job_id}/cancel").json()
    assert again["status"] == "CANCELLED"
    # Regression: a second SIGTERM cut the monitor's clean-up and left the control group.
    runner.close()
    hierarchy = Hierarchy.find()
    if hierarchy is not None:
        folder = hierarchy.memory / "quantdesk" / runner.sandbox.instance
        deadline = time.monotonic() + 3
        while folder.is_dir() and [p for p in folder.iterdir() if p.is_dir()]:
            assert time.monotonic() < deadline, list(folder.iterdir())
            time.sleep(0.05)


def test_retry_makes_a_new_job_with_the_same_inputs(client: TestClient, platform: Platform) -> None:
    job_id = submit(client)
    res = client.post(f"/api/backtest/jobs/{job_id}/retry")
    assert res.status_code == 409 and res.json()["error"]["code"] == "CONFLICT"
    drain(platform)
    client.post("/api/backtest/strategies/sma", json={"code": "# changed later\n"})
    retried = client.post(f"/api/backtest/jobs/{job_id}/retry").json()["job_id"]
    assert retried != job_id
    drain(platform)
    first = client.get(f"/api/backtest/jobs/{job_id}/result").json()
    second = client.get(f"/api/backtest/jobs/{retried}/result").json()
    assert second["summary"] == first["summary"]  # the code snapshot, not today's code


def test_delete_job_and_strategy_with_cascade(client: TestClient, platform: Platform) -> None:
    done = submit(client)
    drain(platform)
    queued = submit(client, cash=5e4)
    res = client.delete(f"/api/backtest/jobs/{done}")
    assert res.json() == {"ok": True, "data": {"job_id": done, "deleted": True}}
    assert client.delete(f"/api/backtest/jobs/{done}").status_code == 404
    assert client.get(f"/api/backtest/jobs/{done}").status_code == 404
    blocked = client.delete("/api/backtest/strategies/sma")
    assert blocked.status_code == 409
    assert blocked.json()["data"]["job_ids"] == [queued]
    assert blocked.json()["error"]["code"] == "CONFLICT"
    gone = client.delete("/api/backtest/strategies/sma?cascade=true").json()
    assert gone == {"ok": True, "data": {"strategy_id": "sma", "deleted_jobs": 1}}
    assert client.get("/api/backtest/strategies/sma").status_code == 404
    assert client.get(f"/api/backtest/jobs/{queued}").status_code == 404
    base = platform.settings.backtest_base_dir
    assert (
        not list((base / "runs").glob(f"*/{queued}"))
        and not (base / "strategies" / "sma.py").exists()
    )
    assert client.delete("/api/backtest/strategies/sma").status_code == 404


def test_idempotency_key(client: TestClient) -> None:
    first = client.post("/api/backtest/run", json=RUN, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 200 and first.json()["jobId"] == first.json()["job_id"]
    again = client.post("/api/backtest/run", json=RUN, headers={"Idempotency-Key": "k-1"})
    assert again.json()["job_id"] == first.json()["job_id"]  # even with the window at 0
    other = client.post(
        "/api/backtest/run", json={**RUN, "cash": 1.0}, headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["error"]["message"]
    fresh = client.post("/api/backtest/run", json=RUN, headers={"Idempotency-Key": "k-2"})
    assert fresh.json()["job_id"] != first.json()["job_id"]


def test_performance_report(client: TestClient, platform: Platform) -> None:
    job_id = submit(client)
    assert client.get(f"/api/backtest/jobs/{job_id}/performance").status_code == 409
    drain(platform)
    report = client.get(f"/api/backtest/jobs/{job_id}/performance").json()
    assert set(report["metrics"]) == {"total_return", "annual_return", "max_drawdown",
                                      "sharpe_ratio", "win_rate", "profit_loss_ratio",
                                      "alpha", "beta"}  # fmt: skip
    assert report["metrics"]["total_return"] == report["summary"]["total_returns"]
    assert len(report["trades"]) == report["summary"]["trade_count"]
    assert report["portfolio"] and {"date", "order_book_id", "quantity"} <= set(
        report["portfolio"][0]
    )


def _age_job(platform: Platform, job_id: str, bucket: str) -> None:
    """Move a job's folder (and row) into the date bucket ``bucket``."""
    base = platform.settings.backtest_base_dir
    with platform.db.write() as session:
        row = job_store.get(session, job_id)
        assert row is not None
        old_dir = base / row.run_dir
        row.run_dir = f"runs/{bucket}/{job_id}"
        (base / "runs" / bucket).mkdir(parents=True, exist_ok=True)
        old_dir.rename(base / row.run_dir)


def test_cleanup_removes_old_buckets_but_never_one_with_a_live_job(
    client: TestClient, platform: Platform
) -> None:
    base = platform.settings.backtest_base_dir
    old_done = submit(client)
    lone_done = submit(client, cash=8e4)
    drain(platform)
    old_queued = submit(client, cash=7e4)
    _age_job(platform, old_done, "2000-01-01")
    _age_job(platform, old_queued, "2000-01-01")
    _age_job(platform, lone_done, "2000-01-02")
    stray = base / "runs" / "2000-01-03" / "leftover"
    stray.mkdir(parents=True)

    submit(client, cash=9e4)  # creating a job runs the cleanup, not only every 600 s

    assert client.get(f"/api/backtest/jobs/{lone_done}").status_code == 404
    assert not (base / "runs" / "2000-01-02").exists()
    assert not (base / "runs" / "2000-01-03").exists()
    # the bucket that holds a queued job is left whole: its finished job too
    assert client.get(f"/api/backtest/jobs/{old_queued}").json()["status"] == "QUEUED"
    assert client.get(f"/api/backtest/jobs/{old_done}").json()["status"] == "FINISHED"
    assert (base / "runs" / "2000-01-01" / old_queued / "strategy.py").is_file()
    assert (base / "runs" / "2000-01-01" / old_done / "extracted.json").is_file()

    assert client.post(f"/api/backtest/jobs/{old_queued}/cancel").status_code == 200
    submit(client, cash=9.5e4)
    assert not (base / "runs" / "2000-01-01").exists()
    assert client.get(f"/api/backtest/jobs/{old_done}").status_code == 404
