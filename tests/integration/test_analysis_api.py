"""Round trips, period tables and run comparison over HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quantdesk.backtest.result import BacktestResult
from quantdesk.services.platform import Platform
from tests.fixtures.platform import drain

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMA = (EXAMPLES / "sma_crossover.py").read_text()
RUN = {"strategy_id": "sma", "start_date": "2008-01-02", "end_date": "2011-12-30",
       "universe": ["AAPL", "MSFT"], "benchmark": "SPX"}  # fmt: skip


def finished(client: TestClient, platform: Platform, **change: Any) -> str:
    res = client.post("/api/backtest/run", json={**RUN, **change})
    assert res.status_code == 200, res.text
    drain(platform)
    job_id: str = res.json()["job_id"]
    assert client.get(f"/api/backtest/jobs/{job_id}").json()["status"] == "FINISHED"
    return job_id


def result_of(platform: Platform, job_id: str) -> BacktestResult:
    base = platform.settings.backtest_base_dir.resolve()
    return BacktestResult.read(next(base.glob(f"runs/*/{job_id}")))


@pytest.fixture
def saved(admin_client: TestClient) -> TestClient:
    assert admin_client.post("/api/backtest/strategies/sma", json={"code": SMA}).status_code == 200
    return admin_client


def test_round_trips_are_paged_filtered_and_match_the_result(
    saved: TestClient, platform: Platform
) -> None:
    job_id = finished(saved, platform)
    expected = result_of(platform, job_id).round_trips()
    assert len(expected) > 10 and {"mae", "mfe"} <= set(expected.columns)
    first = saved.get(f"/api/backtest/jobs/{job_id}/round-trips?page=1&page_size=5").json()
    assert first["ok"] is True
    data = first["data"]
    assert data["total"] == len(expected) and len(data["round_trips"]) == 5
    trip = data["round_trips"][0]
    assert {"order_book_id", "direction", "quantity", "entry_datetime", "exit_datetime",
            "entry_price", "exit_price", "pnl", "return", "holding_sessions", "holding_days",
            "mae", "mfe"} <= set(trip)  # fmt: skip
    assert trip["pnl"] == pytest.approx(expected["pnl"].iloc[0])
    assert trip["mae"] <= 0 <= trip["mfe"]
    every = saved.get(f"/api/backtest/jobs/{job_id}/round-trips?page_size=10000").json()["data"]
    assert [t["pnl"] for t in every["round_trips"]] == pytest.approx(expected["pnl"].tolist())
    msft = saved.get(f"/api/backtest/jobs/{job_id}/round-trips?symbol=MSFT").json()["data"]
    assert msft["total"] == int((expected["order_book_id"] == "MSFT").sum()) > 0
    assert {t["order_book_id"] for t in msft["round_trips"]} == {"MSFT"}
    summary = saved.get(f"/api/backtest/jobs/{job_id}/result").json()["summary"]
    assert summary["round_trips"] == len(expected)
    wins = (expected["pnl"] > 0).sum()
    assert summary["win_rate"] == pytest.approx(wins / len(expected))
    bad = saved.get(f"/api/backtest/jobs/{job_id}/round-trips?page=0")
    assert bad.status_code == 400


def test_period_tables_over_http(saved: TestClient, platform: Platform) -> None:
    job_id = finished(saved, platform)
    res = saved.get(f"/api/backtest/jobs/{job_id}/analysis")
    assert res.status_code == 200, res.text
    data = res.json()["data"]
    assert [y["year"] for y in data["yearly"]] == [2008, 2009, 2010, 2011]
    assert len(data["monthly"]) == 48
    assert data["rolling"]["window"] == 63 and len(data["rolling"]["dates"]) > 900
    assert 1 <= len(data["drawdowns"]) <= 5
    summary = saved.get(f"/api/backtest/jobs/{job_id}/result").json()["summary"]
    assert data["drawdowns"][0]["depth"] == pytest.approx(summary["max_drawdown"])
    growth = 1.0
    for year in data["yearly"]:
        growth *= 1 + year["returns"]
    assert growth - 1 == pytest.approx(summary["total_returns"], rel=1e-9)


def test_compare_lines_up_runs_with_the_numbers_of_their_single_results(
    saved: TestClient, platform: Platform
) -> None:
    a = finished(saved, platform)
    b = finished(saved, platform, params={"fast": 5, "slow": 20}, start_date="2009-01-02")
    saved.post("/api/backtest/strategies/sma", json={"code": SMA.replace("30", "40")})
    c = finished(saved, platform, cash=2e5)
    res = saved.get(f"/api/backtest/compare?job_ids={a},{b},{c}")
    assert res.status_code == 200, res.text
    data = res.json()["data"]
    assert [r["job_id"] for r in data["runs"]] == [a, b, c]
    singles = {j: saved.get(f"/api/backtest/jobs/{j}/result").json()["summary"] for j in (a, b, c)}
    metrics = {row["metric"]: row for row in data["metrics"]}
    for job in (a, b, c):
        assert metrics["sharpe"]["values"][job] == pytest.approx(singles[job]["sharpe"])
        assert metrics["total_returns"]["values"][job] == pytest.approx(
            singles[job]["total_returns"]
        )
    best = max((a, b, c), key=lambda j: singles[j]["sharpe"])
    assert metrics["sharpe"]["best"] == best
    assert metrics["max_drawdown"]["best"] == min(
        (a, b, c), key=lambda j: singles[j]["max_drawdown"]
    )
    equity = data["equity"]
    first_common = equity["dates"].index("2009-01-02")
    for job in (a, b, c):
        assert equity["series"][job][first_common] == pytest.approx(1.0)
    assert equity["series"][b][0] is None  # b starts a year later
    corr = data["correlation"]
    assert corr["job_ids"] == [a, b, c]
    assert [corr["matrix"][i][i] for i in range(3)] == pytest.approx([1.0, 1.0, 1.0])
    inputs = {row["field"]: row for row in data["inputs"]}
    assert inputs["params"]["differs"] and inputs["start_date"]["differs"]
    assert inputs["cash"]["values"][c] == 2e5 and inputs["cash"]["differs"]
    assert not inputs["universe"]["differs"]
    assert inputs["version"]["values"] == {a: 1, b: 1, c: 2}  # the versions that ran
    assert [r["strategy_version"] for r in data["runs"]] == [1, 1, 2]
    code = {d["job_id"]: d for d in data["code"]}
    assert code[b]["identical"] and code[b]["diff"] == ""
    assert not code[c]["identical"] and "-" in code[c]["diff"] and "40" in code[c]["diff"]


def test_compare_refuses_bad_sets(saved: TestClient, platform: Platform) -> None:
    a = finished(saved, platform)
    assert saved.get(f"/api/backtest/compare?job_ids={a}").status_code == 400
    assert saved.get(f"/api/backtest/compare?job_ids={a},{a}").status_code == 400
    many = ",".join([a] + [f"x{i}" for i in range(10)])
    assert saved.get(f"/api/backtest/compare?job_ids={many}").status_code == 400
    missing = saved.get(f"/api/backtest/compare?job_ids={a},{'0' * 32}")
    assert missing.status_code == 404
    queued = saved.post("/api/backtest/run", json={**RUN, "cash": 3e5}).json()["job_id"]
    not_ready = saved.get(f"/api/backtest/compare?job_ids={a},{queued}")
    assert not_ready.status_code == 409 and not_ready.json()["error"]["code"] == "RESULT_NOT_READY"


def test_jobs_list_shows_and_sorts_by_the_run_columns(
    saved: TestClient, platform: Platform
) -> None:
    a = finished(saved, platform)
    b = finished(saved, platform, params={"fast": 5, "slow": 20})
    c = finished(saved, platform, universe=["MSFT"])
    queued = saved.post("/api/backtest/run", json={**RUN, "cash": 3e5}).json()["job_id"]
    jobs = saved.get("/api/backtest/jobs?order_by=sharpe&order=desc").json()["data"]["jobs"]
    sharpes = {j: saved.get(f"/api/backtest/jobs/{j}/result").json()["summary"]["sharpe"]
               for j in (a, b, c)}  # fmt: skip
    assert [j["job_id"] for j in jobs] == [*sorted(sharpes, key=lambda j: -sharpes[j]), queued]
    row = next(j for j in jobs if j["job_id"] == c)
    assert row["sharpe"] == pytest.approx(sharpes[c])
    assert row["universe"] == ["MSFT"] and row["engine"] == "native"
    assert (row["start_date"], row["end_date"]) == ("2008-01-02", "2011-12-30")
    assert row["strategy_version"] == 1 and row["duration_seconds"] > 0
    assert row["total_returns"] is not None and row["max_drawdown"] is not None
    asc = saved.get("/api/backtest/jobs?order_by=max_drawdown&order=asc").json()["data"]["jobs"]
    assert asc[-1]["job_id"] == queued  # blanks last both ways
    drawdowns = [j["max_drawdown"] for j in asc[:-1]]
    assert drawdowns == sorted(drawdowns)
    by_time = saved.get("/api/backtest/jobs?order_by=duration").json()["data"]["jobs"]
    assert by_time[-1]["job_id"] == queued
    saved.post("/api/backtest/strategies/other", json={"code": SMA, "name": "Momentum Alpha"})
    other = saved.post("/api/backtest/run", json={**RUN, "strategy_id": "other"}).json()["job_id"]
    found = saved.get("/api/backtest/jobs?strategy=mENTUM").json()["data"]
    assert [j["job_id"] for j in found["jobs"]] == [other] and found["total"] == 1
    assert saved.get("/api/backtest/jobs?strategy=sm").json()["data"]["total"] == 4
    assert saved.get("/api/backtest/jobs?strategy=%25").json()["data"]["total"] == 0


def test_title_and_notes_are_editable_and_listed(saved: TestClient, platform: Platform) -> None:
    job = finished(saved, platform)
    res = saved.patch(f"/api/backtest/jobs/{job}", json={"title": " baseline ", "notes": "a\nb"})
    assert res.status_code == 200, res.text
    assert (res.json()["title"], res.json()["notes"]) == ("baseline", "a\nb")
    assert saved.patch(f"/api/backtest/jobs/{job}", json={"notes": "only notes"}).status_code == 200
    got = saved.get(f"/api/backtest/jobs/{job}").json()
    assert (got["title"], got["notes"]) == ("baseline", "only notes")
    listed = saved.get("/api/backtest/jobs?strategy=baseline").json()["data"]["jobs"]
    assert [j["job_id"] for j in listed] == [job]
    for bad in ({"title": "x" * 201}, {"title": "two\nlines"}, {"title": 5}, {"owner": 2}):
        answer = saved.patch(f"/api/backtest/jobs/{job}", json=bad)
        assert answer.status_code == 400, (bad, answer.text)
    assert saved.patch(f"/api/backtest/jobs/{'0' * 32}", json={"title": "x"}).status_code == 404


def test_retry_keeps_the_snapshot_and_rerun_takes_the_current_code(
    saved: TestClient, platform: Platform
) -> None:
    broken = SMA.replace(
        "def handle_bar(context, bar_dict):", "def handle_bar(context, bar_dict):\n    1 / 0", 1
    )
    saved.post("/api/backtest/strategies/sma", json={"code": broken})
    res = saved.post("/api/backtest/run", json=RUN)
    drain(platform)
    failed = res.json()["job_id"]
    assert saved.get(f"/api/backtest/jobs/{failed}").json()["status"] == "FAILED"
    saved.post("/api/backtest/strategies/sma", json={"code": SMA})  # the fix: version 3
    retried = saved.post(f"/api/backtest/jobs/{failed}/retry").json()["job_id"]
    drain(platform)
    retry = saved.get(f"/api/backtest/jobs/{retried}").json()
    assert retry["status"] == "FAILED" and retry["strategy_version"] == 2  # the old snapshot
    rerun = saved.post(f"/api/backtest/jobs/{failed}/rerun")
    assert rerun.status_code == 200, rerun.text
    drain(platform)
    fixed = saved.get(f"/api/backtest/jobs/{rerun.json()['job_id']}").json()
    assert fixed["status"] == "FINISHED" and fixed["strategy_version"] == 3
    inline = saved.post(
        "/api/backtest/run",
        json={**{k: v for k, v in RUN.items() if k != "strategy_id"}, "strategy_code": SMA},
    ).json()["job_id"]
    drain(platform)
    assert saved.post(f"/api/backtest/jobs/{inline}/rerun").status_code == 409


def test_report_and_plots_over_http(saved: TestClient, platform: Platform) -> None:
    plotting = SMA.replace(
        "def handle_bar(context, bar_dict):",
        "def handle_bar(context, bar_dict):\n    plot('cash_k', context.portfolio.cash / 1000)",
        1,
    )
    saved.post("/api/backtest/strategies/sma", json={"code": plotting})
    job = finished(saved, platform)
    saved.patch(f"/api/backtest/jobs/{job}", json={"title": "<b>baseline</b>", "notes": "n1"})
    res = saved.get(f"/api/backtest/jobs/{job}/report")
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/html")
    assert f'filename="{job}-report.html"' in res.headers["content-disposition"]
    html = res.text
    assert "&lt;b&gt;baseline&lt;/b&gt;" in html and "<b>baseline</b>" not in html
    assert "n1" in html and job in html
    for section in ("header", "metrics", "equity", "drawdown", "monthly", "yearly", "rolling",
                    "distribution", "round-trips", "exposure", "plots"):  # fmt: skip
        assert f'id="{section}"' in html, section
    assert "<script src=" not in html
    plots = saved.get(f"/api/backtest/jobs/{job}/plots").json()["data"]
    line = plots["series"]["cash_k"]
    days = saved.get(f"/api/backtest/jobs/{job}/result").json()["summary"]["trading_days"]
    assert len(line["dates"]) == len(line["values"]) == days
    assert all(v is not None and v >= 0 for v in line["values"])
    running = saved.post("/api/backtest/run", json={**RUN, "cash": 4e5}).json()["job_id"]
    assert saved.get(f"/api/backtest/jobs/{running}/report").status_code == 409
    assert saved.get(f"/api/backtest/jobs/{'0' * 32}/report").status_code == 404
