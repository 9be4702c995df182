"""Strategy rename (§2.1) and the rename map (§2.2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from quantdesk.services.platform import Platform
from tests.fixtures.platform import drain

SMA = (Path(__file__).resolve().parents[2] / "examples" / "sma_crossover.py").read_text()
RUN = {"start_date": "2010-01-04", "end_date": "2010-02-26", "universe": ["AAPL"]}


@pytest.fixture
def client(admin_client: TestClient) -> TestClient:
    """Every test here acts as the local admin."""
    return admin_client


def rename(client: TestClient, src: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    res = client.post(f"/api/backtest/strategies/{src}/rename", json=body)
    return res.status_code, res.json()


def test_rename_moves_code_jobs_and_keeps_old_ids_resolving(
    client: TestClient, platform: Platform
) -> None:
    client.post("/api/backtest/strategies/A", json={"code": SMA})
    created = client.get("/api/backtest/strategies/A").json()["created_at"]
    job = client.post("/api/backtest/run", json={**RUN, "strategy_id": "A"}).json()["job_id"]
    drain(platform)
    status, body = rename(client, "A", {"to_id": "B"})
    expected = {"from_id": "A", "to_id": "B", "deleted_old": True, "warning": ""}
    assert (status, body) == (200, {"ok": True, "data": expected})
    folder = platform.settings.backtest_base_dir / "strategies"
    assert not (folder / "A.py").exists() and (folder / "B.py").read_text() == SMA
    assert [s["id"] for s in client.get("/api/backtest/strategies").json()["strategies"]] == ["B"]
    old = client.get("/api/backtest/strategies/A").json()
    assert old["id"] == "B" and old["code"] == SMA and old["created_at"] == created
    history = client.get("/api/backtest/strategies/A/jobs").json()["data"]
    assert [j["job_id"] for j in history["jobs"]] == [job] and history["jobs"][0][
        "strategy_id"
    ] == "B"
    assert client.get(f"/api/backtest/jobs/{job}/result").status_code == 200
    rerun = client.post("/api/backtest/run", json={**RUN, "strategy_id": "A", "cash": 1e6})
    assert rerun.status_code == 200
    assert client.get(f"/api/backtest/jobs/{rerun.json()['job_id']}").json()["strategy_id"] == "B"
    # idempotent: the same rename again is a 200 noop
    status, body = rename(client, "A", {"to_id": "B"})
    assert status == 200 and body["data"]["warning"].startswith("noop")  # type: ignore[index]


def test_chains_are_compressed_and_code_can_be_replaced(client: TestClient) -> None:
    client.post("/api/backtest/strategies/A", json={"code": "# a\n"})
    rename(client, "A", {"to_id": "B"})
    status, _ = rename(client, "B", {"to_id": "C", "code": "# c\n"})
    assert status == 200
    assert client.get("/api/backtest/strategy-renames").json() == {
        "ok": True, "data": {"map": {"A": "C", "B": "C"}},
    }  # fmt: skip
    assert client.get("/api/backtest/strategies/A").json()["code"] == "# c\n"
    res = client.post("/api/backtest/strategy-renames", json={"from_id": "legacy", "to_id": "A"})
    assert res.json()["data"]["map"] == {"A": "C", "B": "C", "legacy": "C"}  # compressed
    rename(client, "C", {"to_id": "A"})  # A is live again: it stops being an old id
    assert client.get("/api/backtest/strategy-renames").json()["data"]["map"] == {
        "B": "A", "C": "A", "legacy": "A",
    }  # fmt: skip
    gone = client.delete("/api/backtest/strategies/A?cascade=true")
    assert gone.status_code == 200
    assert client.get("/api/backtest/strategy-renames").json()["data"]["map"] == {}


@pytest.mark.parametrize(
    ("src", "body", "status", "code", "fragment"),
    [
        ("A", {"to_id": "A"}, 200, None, "noop"),
        ("missing", {"to_id": "Z"}, 404, "NOT_FOUND", "missing"),
        ("A", {"to_id": "taken"}, 409, "CONFLICT", "taken"),
        (
            "A",
            {"to_id": "bad id"},
            422,
            "UNPROCESSABLE_ENTITY",
            "to_id contains invalid characters",
        ),
        (
            "bad%20id",
            {"to_id": "Z"},
            422,
            "UNPROCESSABLE_ENTITY",
            "from_id contains invalid characters",
        ),
        ("A", {}, 422, "UNPROCESSABLE_ENTITY", "to_id is required"),
        ("A", {"to_id": "Z", "code": 3}, 400, "INVALID_ARGUMENT", "code"),
    ],
)
def test_rename_errors(
    client: TestClient,
    src: str,
    body: dict[str, object],
    status: int,
    code: str | None,
    fragment: str,
) -> None:
    client.post("/api/backtest/strategies/A", json={"code": "# a\n"})
    client.post("/api/backtest/strategies/taken", json={"code": "# t\n"})
    got, payload = rename(client, src, body)
    assert got == status, payload
    if code is None:
        assert fragment in payload["data"]["warning"]  # type: ignore[index]
    else:
        assert payload["error"]["code"] == code  # type: ignore[index]
        assert fragment in payload["error"]["message"]  # type: ignore[index]
    bad_map = client.post("/api/backtest/strategy-renames", json={"from_id": "x y", "to_id": "A"})
    assert bad_map.status_code == 422 and "from_id" in bad_map.json()["error"]["message"]
