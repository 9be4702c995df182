"""Index membership over time through HTTP, and a backtest that trades an index's members.

Uploads (both layouts, previews, refusals that change nothing, admins only), the read routes,
and ``index_components`` / ``index_weights`` in a strategy run by a real worker path:
membership changes on the composition's date, never earlier.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from quantdesk.backtest.run import execute_backtest, prepare_backtest
from quantdesk.core.errors import DataUnavailable, InvalidArgument
from quantdesk.data import Catalog
from quantdesk.data.index_files import IndexUploadSpec, import_index_file
from quantdesk.data.uploads import UploadSpec, import_file
from quantdesk.services.platform import Platform
from tests.fixtures.platform import drain, logged_in, make_settings
from tests.fixtures.rqalpha import rqalpha_command
from tests.integration.test_data_upload import bars, csv_bytes, snapshot, upload

CSI = "000300.XSHG"
#: Tushare's index_weight export: two compositions of a made-up CSI 300.
WEIGHTS = b"""index_code,con_code,trade_date,weight
000300.SH,600000.SH,20240102,60
000300.SH,000001.SZ,20240102,40
000300.SH,000001.SZ,20240110,30
000300.SH,600519.SH,20240110,70
"""


@pytest.fixture
def admin(
    tmp_path: Path, database_url: str, catalog_copy: Path
) -> Iterator[tuple[TestClient, Platform]]:
    settings = make_settings(tmp_path, database_url, catalog_copy, data_upload_mb=1.0)
    with logged_in(settings) as session:
        yield session


def post_index(client: TestClient, content: bytes, filename: str = "m.csv", **fields: Any) -> Any:
    form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
    return client.post("/api/data/indexes/import", files={"file": (filename, content)}, data=form)


def test_upload_preview_commit_and_read_back(
    admin: tuple[TestClient, Platform], catalog_copy: Path
) -> None:
    client, _ = admin
    before = snapshot(catalog_copy)
    preview = post_index(client, WEIGHTS, dry_run=True)
    assert preview.status_code == 200, preview.text
    report = preview.json()["data"]
    assert (report["layout"], report["rows_accepted"], report["committed"]) == (
        "compositions", 4, False,
    )  # fmt: skip
    assert report["indexes"] == [{"index_id": CSI, "compositions": 2, "added": 2, "replaced": 0,
                                  "first": "2024-01-02", "last": "2024-01-10",
                                  "members_latest": 2}]  # fmt: skip
    assert snapshot(catalog_copy) == before
    assert post_index(client, WEIGHTS).json()["data"]["committed"] is True
    [summary] = client.get("/api/data/indexes").json()["data"]["indexes"]
    assert summary["index_id"] == CSI and summary["name"]  # the demo catalog has CSI 300 bars
    assert (summary["first_date"], summary["last_date"], summary["members"]) == (
        "2024-01-02", "2024-01-10", 2,
    )  # fmt: skip
    on = client.get(f"/api/data/indexes/{CSI}/components?date=2024-01-09").json()["data"]
    assert (on["effective_date"], on["order_book_ids"], on["weights"]) == (
        "2024-01-02", ["000001.XSHE", "600000.XSHG"], [40.0, 60.0],
    )  # fmt: skip
    assert set(on["not_in_catalog"]) == {"000001.XSHE", "600000.XSHG"}
    changes = client.get(f"/api/data/indexes/{CSI}/changes").json()["data"]["changes"]
    assert [(c["date"], c["added"], c["removed"]) for c in changes] == [
        ("2024-01-02", ["000001.XSHE", "600000.XSHG"], []),
        ("2024-01-10", ["600519.XSHG"], ["600000.XSHG"]),
    ]
    spells = client.get(f"/api/data/indexes/{CSI}/spells").json()["data"]["spells"]
    assert {"order_book_id": "600000.XSHG", "start": "2024-01-02", "end": "2024-01-09"} in spells
    early = client.get(f"/api/data/indexes/{CSI}/components?date=2023-12-29")
    assert early.status_code == 400 and early.json()["error"]["code"] == "DATA_UNAVAILABLE"
    assert early.json()["data"] == {"index_id": CSI, "first_date": "2024-01-02",
                                    "date": "2023-12-29"}  # fmt: skip
    unknown = client.get("/api/data/indexes/000905.XSHG/components")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NOT_FOUND"
    bad_date = client.get(f"/api/data/indexes/{CSI}/components?date=2024-13-01")
    assert bad_date.status_code == 400 and bad_date.json()["ok"] is False


def test_a_spells_file_as_parquet_with_a_mapping(admin: tuple[TestClient, Platform]) -> None:
    client, _ = admin
    frame = pd.DataFrame({"idx": ["000905", "000905", "000905"],
                          "con": ["600000", "000002", "600000"],
                          "in": ["2024-01-02", "2024-01-02", "2024-03-01"],
                          "out": ["2024-01-31", None, None]})  # fmt: skip
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    mapping = '{"index_id": "idx", "order_book_id": "con", "start_date": "in", "end_date": "out"}'
    res = post_index(client, buffer.getvalue(), "s.parquet", mapping=mapping)
    assert res.status_code == 200, res.text
    assert res.json()["data"]["layout"] == "spells"
    feb = client.get("/api/data/indexes/000905.XSHG/components?date=2024-02-15").json()["data"]
    assert (feb["effective_date"], feb["order_book_ids"]) == ("2024-02-01", ["000002.XSHE"])
    march = client.get("/api/data/indexes/000905.XSHG/components?date=2024-03-01").json()["data"]
    assert march["order_book_ids"] == ["000002.XSHE", "600000.XSHG"]


def test_a_one_composition_file_takes_its_index_and_date_as_fields(
    admin: tuple[TestClient, Platform],
) -> None:
    client, _ = admin
    res = post_index(client, "成分券代码\n600000\n000001\n".encode(), index_id="000016.XSHG",
                     date="2024-06-03")  # fmt: skip
    assert res.status_code == 200, res.text
    got = client.get("/api/data/indexes/000016.XSHG/components").json()["data"]
    assert got["order_book_ids"] == ["000001.XSHE", "600000.XSHG"] and got["weights"] is None


@pytest.mark.parametrize(
    ("content", "fields", "status", "message"),
    [
        (WEIGHTS.replace(b"600519.SH", b"60/519"), {}, 400, "line 5"),
        (WEIGHTS.replace(b",70", b",-70"), {}, 400, "weight"),
        (WEIGHTS.replace(b"20240110,30", b"2024-99-01,30"), {}, 400, "rejected"),
        (
            b"index_code,con_code,trade_date\n000300.SH,600000.SH,20240102\n"
            b"000300.SH,600000.SH,20240102\n",
            {},
            400,
            "listed twice",
        ),
        (b"foo,bar\n1,2\n", {}, 400, "missing column"),
        (b"", {}, 400, "empty"),
        (b"con_code\n600000\n", {"index_id": CSI}, 400, "date"),
        (WEIGHTS, {"mapping": "[1]"}, 400, "mapping"),
        (os.urandom(2 * 2**20), {}, 413, "DATA_UPLOAD_MB"),
    ],
)
def test_bad_membership_files_change_nothing(
    admin: tuple[TestClient, Platform],
    catalog_copy: Path,
    content: bytes,
    fields: dict[str, Any],
    status: int,
    message: str,
) -> None:
    client, _ = admin
    post_index(client, WEIGHTS)
    before = snapshot(catalog_copy)
    res = post_index(client, content, **fields)
    assert res.status_code == status, res.text
    body = res.json()
    assert body["ok"] is False and message in body["error"]["message"], body
    assert snapshot(catalog_copy) == before


def test_a_lenient_upload_keeps_the_valid_rows(admin: tuple[TestClient, Platform]) -> None:
    client, _ = admin
    res = post_index(client, WEIGHTS.replace(b"600519.SH", b"60/519"), strict=False)
    assert res.status_code == 200, res.text
    report = res.json()["data"]
    assert (report["rows_accepted"], report["rejected"][0]["line"]) == (3, 5)
    latest = client.get(f"/api/data/indexes/{CSI}/components").json()["data"]
    assert latest["order_book_ids"] == ["000001.XSHE"]


def test_only_admins_import_and_everyone_reads(admin: tuple[TestClient, Platform]) -> None:
    client, _ = admin
    post_index(client, WEIGHTS)
    client.post("/api/admin/users", json={"mobile": "139", "password": "password-1"})
    token = client.post("/api/login", data={"mobile": "139", "password": "password-1"}).json()[
        "token"
    ]
    h = {"Authorization": token}
    res = client.post("/api/data/indexes/import", files={"file": ("m.csv", WEIGHTS)}, headers=h)
    assert res.status_code == 403 and res.json()["error"]["code"] == "FORBIDDEN"
    listed = client.get("/api/data/indexes", headers=h).json()["data"]["indexes"]
    assert listed[0]["index_id"] == CSI


STRATEGY = """
def init(context):
    context.early = None

def handle_bar(context, bar_dict):
    members = index_components("000300.XSHG")
    weights = index_weights("000300.XSHG")
    logger.info("members " + ",".join(members) + " " + ",".join(f"{w:.2f}" for w in weights))
    if context.early is None:
        try:
            index_components("000300.XSHG", "2024-01-12")
        except Exception as exc:
            context.early = type(exc).__name__
            logger.info("look-ahead refused: " + context.early)
    for oid in list(context.portfolio.positions):
        if oid not in members:
            order_target_percent(oid, 0)
    for oid, weight in weights.items():
        order_target_percent(oid, 0.9 * weight)
"""


def test_a_backtest_follows_the_index_as_of_each_day(admin: tuple[TestClient, Platform]) -> None:
    client, platform = admin
    for oid, scale in (("600000.XSHG", 1.0), ("000001.XSHE", 0.8), ("600519.XSHG", 2.0)):
        res = upload(client, csv_bytes(bars(oid, scale=scale)))
        assert res.status_code == 200, res.text
    post_index(client, WEIGHTS)
    client.post("/api/backtest/strategies/follow", json={"code": STRATEGY})
    job = client.post("/api/backtest/run", json={
        "strategy_id": "follow", "start_date": "2024-01-02", "end_date": "2024-01-15",
        "universe": ["600000.XSHG", "000001.XSHE", "600519.XSHG"], "benchmark": "none",
    }).json()["job_id"]  # fmt: skip
    drain(platform)
    status = client.get(f"/api/backtest/jobs/{job}").json()
    assert status["status"] == "FINISHED", status
    log = client.get(f"/api/backtest/jobs/{job}/log").text
    members = [line.split("members ", 1)[1] for line in log.splitlines() if "members " in line]
    assert members[:6] == ["000001.XSHE,600000.XSHG 0.40,0.60"] * 6  # 2024-01-02 .. 01-09
    assert members[6:] == ["000001.XSHE,600519.XSHG 0.30,0.70"] * 4  # from 2024-01-10 on
    assert "look-ahead refused: InvalidArgument" in log
    trades = client.get(f"/api/backtest/jobs/{job}/result").json()["trades"]
    moutai = [t for t in trades if t["order_book_id"] == "600519.XSHG"]
    pufa = [t for t in trades if t["order_book_id"] == "600000.XSHG"]
    assert moutai and min(t["datetime"][:10] for t in moutai) == "2024-01-10"
    assert pufa[-1]["side"] == "SELL" and pufa[-1]["datetime"][:10] == "2024-01-10"


def test_rqalpha_reads_the_same_membership_as_the_native_engine(tmp_path: Path) -> None:
    """RQAlpha's ``index_components`` (rqdatac's, offline) is replaced by the catalog's."""
    command = rqalpha_command()
    catalog = Catalog(tmp_path / "data")
    for oid, scale in (("600000.XSHG", 1.0), ("000001.XSHE", 0.8), ("600519.XSHG", 2.0)):
        import_file(catalog, "b.csv", csv_bytes(bars(oid, scale=scale)), UploadSpec())
    import_index_file(catalog, "m.csv", WEIGHTS, IndexUploadSpec())
    runs = {}
    for engine in ("native", "rqalpha"):
        prepared = prepare_backtest(
            STRATEGY, catalog=catalog, engine=engine, cash=1_000_000, benchmark="none",
            universe="600000.XSHG,000001.XSHE,600519.XSHG", start="2024-01-02",
            end="2024-01-15",
        )  # fmt: skip
        runs[engine] = execute_backtest(dataclasses.replace(prepared, rqalpha_command=command))
    members = {
        engine: [line.split("members ", 1)[1] for line in r.logs if "members " in line]
        for engine, r in runs.items()
    }
    assert members["rqalpha"] == members["native"] and len(members["native"]) == 10
    assert any("look-ahead refused" in line for line in runs["rqalpha"].logs)
    trades = {
        engine: sorted(zip(r.trades.order_book_id, r.trades.side, r.trades.quantity, strict=True))
        for engine, r in runs.items()
    }
    assert trades["rqalpha"] == trades["native"]


def test_research_helpers_read_membership_as_of_a_day(tmp_path: Path) -> None:
    import quantdesk

    catalog = Catalog(tmp_path / "data")
    import_index_file(catalog, "m.csv", WEIGHTS, IndexUploadSpec())
    assert quantdesk.index_components(CSI, "2024-01-09", catalog=catalog) == [
        "000001.XSHE", "600000.XSHG",
    ]  # fmt: skip
    weights = quantdesk.index_weights(CSI, dt.date(2024, 1, 10), catalog=catalog)
    assert weights.to_dict() == {"000001.XSHE": 0.3, "600519.XSHG": 0.7}
    with pytest.raises(DataUnavailable, match="known from 2024-01-02"):
        quantdesk.index_components(CSI, "2023-06-30", catalog=catalog)
    with pytest.raises(InvalidArgument):
        quantdesk.index_components(CSI, "someday", catalog=catalog)


def test_empty_timestamps_float_codes_and_far_future_ends_are_read_as_meant(
    admin: tuple[TestClient, Platform],
) -> None:
    """Regressions: NaT (pandas' empty timestamp) and 9999-12-31 ends answered 500 or were
    rejected, float code columns were stored as ``600000.0``."""
    client, _ = admin
    spells = pd.DataFrame({
        "index_id": [300.0, 300.0, 300.0],
        "order_book_id": [600000.0, 1.0, 600519.0],
        "start_date": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-02"]),
        "end_date": pd.to_datetime(pd.Series([None, "2024-03-01", "9999-12-31"])),
    })  # fmt: skip
    buffer = io.BytesIO()
    spells.to_parquet(buffer)
    res = post_index(client, buffer.getvalue(), "spells.parquet")
    assert res.status_code == 200, res.text
    later = client.get(f"/api/data/indexes/{CSI}/components?date=2030-01-01").json()["data"]
    assert later["order_book_ids"] == ["600000.XSHG", "600519.XSHG"]
    csv = b"index_id,order_book_id,start_date,end_date\n000905,600000,20240102,99991231\n"
    assert post_index(client, csv).status_code == 200
    dated = pd.DataFrame({"index_id": [CSI, CSI], "order_book_id": ["600000.XSHG", "1"],
                          "date": pd.to_datetime(pd.Series(["2024-01-02", None]))})  # fmt: skip
    buffer = io.BytesIO()
    dated.to_parquet(buffer)
    refused = post_index(client, buffer.getvalue(), "dated.parquet")
    assert refused.status_code == 400 and "line 3: no date" in refused.json()["error"]["message"]


def test_the_default_day_is_today_where_the_index_trades(
    admin: tuple[TestClient, Platform], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 02:00 UTC it is already 10:00 in Beijing: a composition of that day is in effect."""
    client, _ = admin
    post_index(client, WEIGHTS)
    moment = dt.datetime(2024, 1, 9, 18, 0, tzinfo=dt.UTC)  # 2024-01-10 02:00 in Beijing
    monkeypatch.setattr("quantdesk.data.ids._now", lambda: moment)
    today = client.get(f"/api/data/indexes/{CSI}/components").json()["data"]
    assert (today["date"], today["effective_date"]) == ("2024-01-10", "2024-01-10")
    spelled = client.get("/api/data/indexes/000300.SH/components?date=2024-01-05").json()
    assert spelled["data"]["index_id"] == CSI  # other tools' spellings are the catalog's ids
