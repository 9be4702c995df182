"""``POST /api/data/import``: upload, report, commit; bad files change nothing (HTTP, both DBs)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from quantdesk.services.platform import Platform
from tests.fixtures.platform import drain, logged_in, make_settings

#: Ten XSHG sessions of a made-up A-share stock (2024-01-02 .. 2024-01-15).
DAYS = pd.bdate_range("2024-01-02", "2024-01-15")


def bars(oid: str | None = None, *, scale: float = 1.0) -> pd.DataFrame:
    close = [10.0 + i * 0.1 for i in range(len(DAYS))]
    frame = pd.DataFrame(
        {
            "date": [d.date().isoformat() for d in DAYS],
            "open": [c * scale for c in close],
            "high": [(c + 0.2) * scale for c in close],
            "low": [(c - 0.2) * scale for c in close],
            "close": [c * scale for c in close],
            "volume": [1_000_000 + i for i in range(len(DAYS))],
        }
    )
    if oid is not None:
        frame.insert(0, "order_book_id", oid)
    return frame


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


@pytest.fixture
def admin(
    tmp_path: Path, database_url: str, catalog_copy: Path
) -> Iterator[tuple[TestClient, Platform]]:
    settings = make_settings(tmp_path, database_url, catalog_copy, data_upload_mb=1.0)
    with logged_in(settings) as session:
        yield session


def upload(client: TestClient, content: bytes, filename: str = "bars.csv", **fields: Any) -> Any:
    form = {k: (json.dumps(v) if isinstance(v, dict) else str(v).lower() if isinstance(v, bool)
                else str(v)) for k, v in fields.items()}  # fmt: skip
    return client.post("/api/data/import", files={"file": (filename, content)}, data=form)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_upload_previews_then_commits_and_a_backtest_trades_it(
    admin: tuple[TestClient, Platform], catalog_copy: Path
) -> None:
    client, platform = admin
    before = snapshot(catalog_copy)
    preview = upload(client, csv_bytes(bars()), order_book_id="600519.XSHG", dry_run=True)
    assert preview.status_code == 200, preview.text
    report = preview.json()["data"]
    assert report["dry_run"] is True and report["committed"] is False
    [item] = report["instruments"]
    assert (item["order_book_id"], item["rows_in"], item["rows_accepted"]) == (
        "600519.XSHG",
        10,
        10,
    )
    assert item["rejected"] == [] and item["first"] == "2024-01-02" and item["last"] == "2024-01-15"
    assert snapshot(catalog_copy) == before  # a preview writes nothing
    done = upload(client, csv_bytes(bars()), order_book_id="600519.XSHG", name="Moutai")
    assert done.status_code == 200, done.text
    assert done.json()["data"]["committed"] is True
    listed = client.get("/api/data/instruments").json()["data"]["instruments"]
    row = next(r for r in listed if r["order_book_id"] == "600519.XSHG")
    assert (row["market"], row["lot_size"], row["bar_count"], row["name"]) == (
        "cn",
        100,
        10,
        "Moutai",
    )
    got = client.get("/api/data/instruments/600519.XSHG/bars").json()["data"]
    assert got["close"][0] == pytest.approx(10.0)
    code = "def handle_bar(context, bar_dict):\n    order_shares('600519.XSHG', 100)\n"
    client.post("/api/backtest/strategies/buy", json={"code": code})
    job = client.post("/api/backtest/run", json={
        "strategy_id": "buy", "start_date": "2024-01-02", "end_date": "2024-01-15",
        "universe": ["600519.XSHG"], "benchmark": "none",
    }).json()["job_id"]  # fmt: skip
    drain(platform)
    result = client.get(f"/api/backtest/jobs/{job}/result").json()
    assert result["summary"]["market"] == "cn_stock" and result["trades_total"] > 0
    events = client.get("/api/events?kind=data.imported").json()["data"]["events"]
    assert any(e["subject"] == "600519.XSHG" for e in events)


def test_a_multi_instrument_parquet_file_with_a_column_mapping(
    admin: tuple[TestClient, Platform],
) -> None:
    client, _ = admin
    frame = pd.concat([bars("000001.XSHE"), bars("300750.XSHE", scale=3.0)])
    frame = frame.rename(columns={"date": "Day", "close": "Last"})
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    res = upload(client, buf.getvalue(), "many.parquet", mapping={"date": "Day", "close": "Last"})
    assert res.status_code == 200, res.text
    data = res.json()["data"]
    assert data["format"] == "parquet" and data["rows_accepted"] == 20
    assert data["mapping"]["date"] == "Day" and data["mapping"]["close"] == "Last"
    assert data["mapping"]["order_book_id"] == "order_book_id"
    assert [i["order_book_id"] for i in data["instruments"]] == ["000001.XSHE", "300750.XSHE"]
    listed = {
        r["order_book_id"]: r
        for r in client.get("/api/data/instruments").json()["data"]["instruments"]
    }
    assert listed["300750.XSHE"]["board_type"] == "GEM"  # read off the code


@pytest.mark.parametrize(
    ("content", "fields", "status", "message"),
    [
        (csv_bytes(bars().iloc[[5, 1, 8, 0, 3, 9, 2, 7, 6, 4]]), {}, 400, "not in order"),
        (csv_bytes(bars().assign(close=-1.0)), {}, 400, "non-positive price"),
        (csv_bytes(bars().drop(columns=["volume"])), {}, 400, "missing column(s) volume"),
        (b"\x00\xff" * 1000, {}, 400, "neither Parquet nor UTF-8"),
        (b"", {}, 400, "empty"),
        (csv_bytes(bars()), {"mapping": {"price": "close"}}, 400, "unknown column"),
        (csv_bytes(bars()), {"mapping": {"close": "Nope"}}, 400, "no column 'Nope'"),
        (csv_bytes(bars()), {"market": "mars"}, 400, "market must be one of"),
        (csv_bytes(bars()).replace(b"2024-01-03", b"2024-13-45"), {}, 400, "invalid rows"),
        (os.urandom(2 * 2**20), {}, 413, "DATA_UPLOAD_MB"),
    ],
)
def test_bad_files_get_a_report_or_a_clear_4xx_and_change_nothing(
    admin: tuple[TestClient, Platform],
    catalog_copy: Path,
    content: bytes,
    fields: dict[str, Any],
    status: int,
    message: str,
) -> None:
    client, _ = admin
    before = snapshot(catalog_copy)
    res = upload(client, content, order_book_id="600000.XSHG", **fields)
    assert res.status_code == status, res.text
    body = res.json()
    assert body["ok"] is False and message in body["error"]["message"]
    if status == 400 and "instruments" in (body.get("data") or {}):
        report = body["data"]
        assert (
            report["committed"] is False
            and report["instruments"][0]["order_book_id"] == "600000.XSHG"
        )
    assert snapshot(catalog_copy) == before


def test_lenient_uploads_keep_the_valid_rows_and_report_the_rest(
    admin: tuple[TestClient, Platform],
) -> None:
    client, _ = admin
    frame = bars()
    frame.loc[3, "close"] = -5.0
    res = upload(client, csv_bytes(frame), order_book_id="600000.XSHG", strict=False)
    assert res.status_code == 200, res.text
    [item] = res.json()["data"]["instruments"]
    assert item["rows_accepted"] == 9 and item["rejected_total"] == 1
    assert item["rejected"][0]["date"] == "2024-01-05" and "price" in item["rejected"][0]["reason"]


def test_only_admins_upload(admin: tuple[TestClient, Platform]) -> None:
    client, _ = admin
    client.post("/api/admin/users", json={"mobile": "139", "password": "password-1"})
    token = client.post("/api/login", data={"mobile": "139", "password": "password-1"}).json()[
        "token"
    ]
    res = client.post(
        "/api/data/import", files={"file": ("b.csv", csv_bytes(bars()))},
        data={"order_book_id": "600000.XSHG"}, headers={"Authorization": token},
    )  # fmt: skip
    assert res.status_code == 403 and res.json()["error"]["code"] == "FORBIDDEN"


def test_search_paging_and_downloads(admin: tuple[TestClient, Platform]) -> None:
    client, _ = admin
    everything = client.get("/api/data/instruments").json()["data"]
    found = client.get("/api/data/instruments?q=aPl").json()["data"]
    assert [i["order_book_id"] for i in found["instruments"]] == ["AAPL"] and found["total"] == 1
    cn = client.get("/api/data/instruments?market=cn").json()["data"]
    assert {i["market"] for i in cn["instruments"]} == {"cn"}
    page = client.get("/api/data/instruments?limit=2&offset=1").json()["data"]
    assert page["total"] == everything["total"] and len(page["instruments"]) == 2
    assert page["instruments"][0] == everything["instruments"][1]
    window = "start=2005-01-03&end=2005-03-31"
    full = client.get(f"/api/data/instruments/AAPL/bars?{window}").json()["data"]
    part = client.get(f"/api/data/instruments/AAPL/bars?{window}&limit=10&offset=5").json()["data"]
    assert part["total"] == full["total"] == len(full["dates"]) and part["offset"] == 5
    assert part["dates"] == full["dates"][5:15] and part["close"] == full["close"][5:15]
    csv = client.get(f"/api/data/instruments/AAPL/bars/download?{window}&format=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(csv.text))
    assert frame["date"].tolist() == full["dates"] and frame["close"].tolist() == full["close"]
    pq = client.get(f"/api/data/instruments/AAPL/bars/download?{window}&format=parquet&adjust=pre")
    assert pq.status_code == 200 and "AAPL-pre.parquet" in pq.headers["content-disposition"]
    assert len(pd.read_parquet(io.BytesIO(pq.content))) == full["total"]
    assert client.get("/api/data/instruments/AAPL/bars/download?format=xls").status_code == 400
    assert client.get("/api/data/instruments/NOPE/bars/download").status_code == 404


def test_a_suspended_day_in_uploaded_bars_is_not_tradable(
    admin: tuple[TestClient, Platform],
) -> None:
    client, platform = admin
    frame = bars()
    frame = frame[frame["date"] != "2024-01-05"]  # suspended: no bar that session
    res = upload(client, csv_bytes(frame), order_book_id="600000.XSHG")
    assert res.status_code == 200, res.text
    assert res.json()["data"]["instruments"][0]["missing_sessions"] == ["2024-01-05"]
    code = (
        "def handle_bar(context, bar_dict):\n"
        "    if context.now.date().isoformat() in ('2024-01-04', '2024-01-05', '2024-01-08'):\n"
        "        order_shares('600000.XSHG', 100)\n"
    )
    client.post("/api/backtest/strategies/susp", json={"code": code})
    job = client.post("/api/backtest/run", json={
        "strategy_id": "susp", "start_date": "2024-01-02", "end_date": "2024-01-15",
        "universe": ["600000.XSHG"], "benchmark": "none",
    }).json()["job_id"]  # fmt: skip
    drain(platform)
    full = client.get(f"/api/backtest/jobs/{job}/files/result.json").json()
    filled = [t["datetime"][:10] for t in full["trades"]]
    assert filled == ["2024-01-04", "2024-01-08"]
    refused = [o for o in full["orders"] if o["status"] == "REJECTED"]
    assert [o["datetime"][:10] for o in refused] == ["2024-01-05"]
    assert refused[0]["reject_reason"] == "suspended"


def test_a_file_missing_columns_says_which_and_lists_its_own(
    admin: tuple[TestClient, Platform],
) -> None:
    client, _ = admin
    frame = bars().rename(columns={"date": "Day", "volume": "Qty"})
    res = upload(client, csv_bytes(frame), order_book_id="600000.XSHG", dry_run=True)
    assert res.status_code == 400
    body = res.json()
    assert body["error"]["code"] == "DATA_INVALID"
    assert body["data"] == {
        "columns": ["Day", "open", "high", "low", "close", "Qty"], "missing": ["date", "volume"],
    }  # fmt: skip
    fixed = upload(
        client, csv_bytes(frame), order_book_id="600000.XSHG", dry_run=True,
        mapping={"date": "Day", "volume": "Qty"},
    )  # fmt: skip
    assert fixed.status_code == 200 and fixed.json()["data"]["rows_accepted"] == 10
