"""Logs and results are read as streams, never whole: log slices (offset / tail / the 1 MiB
cap / UTF-8 boundaries), the streamed plain-text log and downloads, pages of trades, positions
and the result against the whole-file answer, corrupt / missing / symlinked files, and a
memory bound while paging a large result."""

from __future__ import annotations

import csv
import io
import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from quantdesk.jobs.artifacts import RunFolder, iter_file, open_regular
from quantdesk.jobs.logs import LOG_CHUNK, LogChunk, read_log_chunk
from quantdesk.jobs.results import read_positions_page, read_result_page, read_trades_page
from quantdesk.services.platform import Platform
from tests.fixtures.platform import drain

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RUN = {
    "strategy_id": "sma", "start_date": "2010-01-04", "end_date": "2011-12-30",
    "universe": ["AAPL", "MSFT", "IBM"], "benchmark": "SPX", "params": {"fast": 5, "slow": 20},
}  # fmt: skip
#: Text with 1-, 2-, 3- and 4-byte characters.
MIXED = "a ¢ € 价格 😀 ✓\n"


def _job(client: Any, platform: Platform, *, run: bool) -> tuple[str, Path]:
    """A job of ``RUN`` (FINISHED when ``run``, else QUEUED) and its folder."""
    code = (EXAMPLES / "sma_crossover.py").read_text()
    assert client.post("/api/backtest/strategies/sma", json={"code": code}).status_code == 200
    job_id: str = client.post("/api/backtest/run", json=RUN).json()["job_id"]
    if run:
        assert drain(platform) == 1
        assert client.get(f"/api/backtest/jobs/{job_id}").json()["status"] == "FINISHED"
    folder = next((platform.settings.backtest_base_dir / "runs").glob(f"*/{job_id}"))
    return job_id, folder


def _assert_error(res: Any, status: int, code: str) -> None:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) == {"ok", "error"} and body["ok"] is False
    assert body["error"]["code"] == code and body["error"]["message"]


# -- log slices ----------------------------------------------------------------------------------


def _fetch_all(path: Path, limit: int, *, final: bool) -> tuple[str, list[Any]]:
    """Fetch ``path`` from offset 0, each time from the previous ``next_offset``."""
    chunks = []
    offset = 0
    while True:
        chunk = read_log_chunk(path, offset=offset, limit=limit, final=final)
        assert chunk.offset == offset and chunk.next_offset - chunk.offset <= limit
        chunks.append(chunk)
        if chunk.next_offset in (chunk.size, offset):
            return "".join(c.content for c in chunks), chunks
        offset = chunk.next_offset


@pytest.mark.parametrize("limit", [4, 5, 6, 7, 9, 64])
def test_successive_log_slices_concatenate_to_the_text(tmp_path: Path, limit: int) -> None:
    path = tmp_path / "run.log"
    data = (MIXED * 5).encode()
    path.write_bytes(data)
    text, chunks = _fetch_all(path, limit, final=False)
    assert text == data.decode()
    for chunk in chunks:  # every slice is exactly its bytes: no character split or dropped
        assert chunk.content.encode() == data[chunk.offset : chunk.next_offset]
    if limit < len(data):
        assert chunks[0].next_offset < chunks[0].size  # capped: fetch again
        assert len(chunks) >= len(data) // limit


@pytest.mark.parametrize("limit", [4, 5, 7, 11])
def test_broken_utf8_reads_like_a_whole_decode_and_an_unfinished_end_waits(
    tmp_path: Path, limit: int
) -> None:
    path = tmp_path / "run.log"
    # stray continuation bytes, a character cut by the next one, an invalid lead, and an
    # unfinished 4-byte character at the very end (a writer in the middle of it)
    data = MIXED.encode() + b"\x80\x80\x80\x80x\xe4\xb8y\xffz" + MIXED.encode() + b"\xf0\x9f\x98"
    path.write_bytes(data)
    growing, chunks = _fetch_all(path, limit, final=False)
    assert growing == data[:-3].decode("utf-8", errors="replace")
    assert chunks[-1].next_offset == len(data) - 3 < chunks[-1].size  # held back
    with path.open("ab") as fh:
        fh.write(b"\x80 done\n")  # the writer finishes the character
    again = read_log_chunk(path, offset=chunks[-1].next_offset, limit=limit)
    assert again.content.startswith("😀")
    final, _ = _fetch_all(path, limit, final=True)
    assert final == (data + b"\x80 done\n").decode("utf-8", errors="replace")
    path.write_bytes(data)  # a job that ended mid-character: the bytes read as U+FFFD
    final, chunks = _fetch_all(path, limit, final=True)
    assert final == data.decode("utf-8", errors="replace") and final.endswith("\ufffd")
    assert chunks[-1].next_offset == len(data)


def test_log_tail_starts_at_a_character_and_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    data = (MIXED * 4).encode()
    path.write_bytes(data)
    size = len(data)
    for limit in (4, 6, 1024):
        for tail in range(size + 3):
            chunk = read_log_chunk(path, tail=tail, limit=limit)
            want = max(0, size - min(tail, limit))
            assert want <= chunk.offset <= want + 3 and chunk.next_offset == size
            assert chunk.offset == size or (data[chunk.offset] & 0xC0) != 0x80
            assert chunk.content.encode() == data[chunk.offset :]
            assert data.decode().endswith(chunk.content)
    at_end = LogChunk(content="", offset=size, next_offset=size, size=size)
    assert read_log_chunk(path, tail=0) == read_log_chunk(path, offset=10**9) == at_end
    with pytest.raises(ValueError, match="offset"):
        read_log_chunk(path, offset=-1)
    with pytest.raises(ValueError, match="tail"):
        read_log_chunk(path, tail=-1)


def test_a_streamed_file_stops_at_the_size_it_had(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    data = os.urandom(200_000)
    path.write_bytes(data)
    chunks = iter_file(path, chunk_size=65536)
    with path.open("ab") as fh:
        fh.write(b"appended later")
    got = list(chunks)
    assert b"".join(got) == data and max(len(c) for c in got) <= 65536


def _big_log(folder: Path) -> bytes:
    """Grow ``run.log`` past 2 MiB of multi-byte text, with a 4-byte character straddling
    the first ``LOG_CHUNK`` boundary."""
    path = folder / "run.log"
    head = path.read_bytes()
    filler = b"x" * (LOG_CHUNK - 1 - len(head))
    body = (MIXED * 60_000).encode()
    with path.open("ab") as fh:
        fh.write(filler + "😀".encode() + body)
    data = path.read_bytes()
    assert data[LOG_CHUNK - 1 : LOG_CHUNK + 3] == "😀".encode() and len(data) > 2 * LOG_CHUNK
    return data


def test_the_log_route_streams_text_and_caps_slices(admin_client: Any, platform: Platform) -> None:
    job_id, folder = _job(admin_client, platform, run=False)  # QUEUED: its log may still grow
    data = _big_log(folder)
    size = len(data)
    url = f"/api/backtest/jobs/{job_id}/log"

    res = admin_client.get(url)
    assert res.status_code == 200 and res.headers["content-type"] == "text/plain; charset=utf-8"
    assert "content-length" not in res.headers  # streamed: the file may grow meanwhile
    assert res.content == data

    texts, offset, answers = [], 0, 0
    while True:
        body = admin_client.get(url, params={"offset": offset}).json()
        answers += 1
        assert body["offset"] == offset and body["size"] == size
        assert body["content"].encode() == data[offset : body["next_offset"]]
        assert body["next_offset"] - offset <= LOG_CHUNK
        texts.append(body["content"])
        if answers == 1:  # capped before the character that straddles the boundary
            assert body["next_offset"] == LOG_CHUNK - 1 < size
        if body["next_offset"] == size:
            break
        offset = body["next_offset"]
    assert answers == 3 and "".join(texts) == data.decode()

    whole = admin_client.get(url, params={"tail": size}).json()  # more than a chunk
    assert whole["offset"] >= size - LOG_CHUNK and whole["next_offset"] == size
    assert whole["content"].encode() == data[whole["offset"] :]
    inside = data.rindex("😀".encode()) + 2  # the tail begins inside that character
    tail = admin_client.get(url, params={"tail": size - inside}).json()
    assert tail["offset"] == inside + 2 and tail["content"] == data[inside + 2 :].decode()
    for bad in ({"offset": -1}, {"tail": -1}):
        _assert_error(admin_client.get(url, params=bad), 400, "INVALID_ARGUMENT")

    (folder / "run.log").unlink()  # no log yet reads as empty
    assert admin_client.get(url).text == ""
    empty = admin_client.get(url, params={"tail": 10}).json()
    assert empty == {"content": "", "offset": 0, "next_offset": 0, "size": 0}


# -- results -------------------------------------------------------------------------------------


def _positions_whole(full: dict[str, Any], date: str | None) -> tuple[list[str], list[Any]]:
    """What reading ``result.json`` whole gives: every row, newest first."""
    table = full.get("positions") or {}
    columns = list(table)
    rows = [dict(zip(columns, r, strict=True)) for r in zip(*table.values(), strict=True)]
    if date is not None:
        rows = [r for r in rows if r.get("date") == date]
    return columns, rows[::-1]


def _pages(client: Any, url: str, key: str, page_size: int, **params: Any) -> list[Any]:
    """Every page of ``url`` (and one past the end, empty) concatenated."""
    out: list[Any] = []
    page = 1
    while True:
        res = client.get(url, params={**params, "page": page, "page_size": page_size})
        assert res.status_code == 200, res.text
        body = res.json()
        data = body.get("data", body)
        assert data["page"] == page and data["page_size"] == page_size
        if not data[key]:
            return out
        assert len(data[key]) <= page_size
        out.extend(data[key])
        page += 1


def test_pages_of_trades_positions_and_result_match_the_whole_file(
    admin_client: Any, platform: Platform
) -> None:
    job_id, folder = _job(admin_client, platform, run=True)
    extracted = json.loads((folder / "extracted.json").read_bytes())
    full = json.loads((folder / "result.json").read_bytes())
    trades = extracted["trades"]
    assert len(trades) > 20 and len({t["order_book_id"] for t in trades}) == 3
    jobs = f"/api/backtest/jobs/{job_id}"

    result = admin_client.get(f"{jobs}/result").json()
    equity = extracted["equity"]
    assert result == {
        "job_id": job_id, "summary": extracted["summary"],
        "equity": {k: equity[k] for k in ("dates", "nav", "returns", "benchmark_nav")},
        "trades": trades, "trade_columns": extracted["trade_columns"],
        "trades_total": len(trades), "raw_keys": extracted["raw_keys"],
        "page": None, "page_size": None,
    }  # fmt: skip
    for size in (1, 7, 1000):
        assert _pages(admin_client, f"{jobs}/result", "trades", size) == trades
    page = admin_client.get(f"{jobs}/result", params={"page": 3, "page_size": 4}).json()
    assert page == {**result, "trades": trades[8:12], "page": 3, "page_size": 4}

    for symbol in (None, "AAPL", "MSFT", "NOPE"):
        want = [t for t in trades if symbol is None or t["order_book_id"] == symbol]
        params = {"symbol": symbol} if symbol else {}
        assert _pages(admin_client, f"{jobs}/trades", "trades", 5, **params) == want
        body = admin_client.get(f"{jobs}/trades", params={**params, "page_size": 2}).json()
        assert body["data"]["total"] == len(want)

    columns, rows = _positions_whole(full, None)
    assert len(rows) > 600 and columns[:2] == ["date", "order_book_id"]
    for size in (37, 10_000):
        assert _pages(admin_client, f"{jobs}/positions", "positions", size) == rows
    first = admin_client.get(f"{jobs}/positions", params={"page_size": 3}).json()["data"]
    assert first["columns"] == columns and first["total"] == len(rows)
    assert first["positions"] == rows[:3]
    dates = sorted({r["date"] for r in rows})
    for day in (dates[0], dates[len(dates) // 2], dates[-1], "2010-01-02"):  # 01-02: a Saturday
        _, held = _positions_whole(full, day)
        assert _pages(admin_client, f"{jobs}/positions", "positions", 2, date=day) == held
        body = admin_client.get(f"{jobs}/positions", params={"date": day}).json()["data"]
        assert body["total"] == len(held) and body["positions"] == held
    assert max(len(_positions_whole(full, d)[1]) for d in dates) == 3

    info = admin_client.get(f"{jobs}/run-info").json()["data"]
    assert info["symbols"] == ["AAPL", "IBM", "MSFT"]
    assert info["config"] == full["config"] and info["conventions"] == full["conventions"]

    res = admin_client.get(f"{jobs}/files/result.json")
    assert res.status_code == 200 and res.content == (folder / "result.json").read_bytes()
    assert res.headers["content-type"] == "application/json"
    assert "attachment" in res.headers["content-disposition"]
    res = admin_client.get(f"{jobs}/files/trades.csv")
    assert res.content == (folder / "trades.csv").read_bytes()
    assert res.headers["content-type"].startswith("text/csv")
    (folder / "trades.csv").unlink()  # rebuilt from result.json, one trade at a time
    rebuilt = admin_client.get(f"{jobs}/files/trades.csv")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=full["trade_columns"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(full["trades"])
    assert rebuilt.status_code == 200 and rebuilt.text == buf.getvalue()


def test_corrupt_missing_and_symlinked_result_files(
    admin_client: Any, platform: Platform, tmp_path: Path
) -> None:
    job_id, folder = _job(admin_client, platform, run=True)
    jobs = f"/api/backtest/jobs/{job_id}"
    reads = {
        "extracted.json": ["result", "result?page=1&page_size=2", "trades", "trades?symbol=AAPL"],
        "result.json": ["positions", "positions?date=2010-06-01", "run-info", "files/result.json"],
    }
    saved = {name: (folder / name).read_bytes() for name in reads}

    def broken(name: str) -> None:
        for path in reads[name]:
            _assert_error(admin_client.get(f"{jobs}/{path}"), 500, "INTERNAL_ERROR")

    def healthy() -> None:
        for name, paths in reads.items():
            (folder / name).unlink(missing_ok=True)
            (folder / name).write_bytes(saved[name])
            for path in paths:
                assert admin_client.get(f"{jobs}/{path}").status_code == 200, path

    body = admin_client.get(f"{jobs}/result").json()
    healthy()
    for name, paths in reads.items():
        truncated = saved[name][: saved[name].index(b'"trades"') + 30]  # inside the trades
        for content in (truncated, b"", b"{not json", b'{"a": NaN}', b"\xff\xfe"):
            (folder / name).write_bytes(content)
            for path in paths:
                if path == "files/result.json":
                    continue  # downloaded as stored, not parsed
                res = admin_client.get(f"{jobs}/{path}")
                _assert_error(res, 500, "INTERNAL_ERROR")
                assert "missing or corrupt" in res.json()["error"]["message"]
        (folder / name).unlink()
        broken(name)
        healthy()
    # lacking fields: empty structures (the contract), never a 500
    (folder / "extracted.json").write_bytes(b'{"summary": {}, "trades": null}')
    for path in reads["extracted.json"]:
        answer = admin_client.get(f"{jobs}/{path}")
        assert answer.status_code == 200, (path, answer.text)
        data = answer.json().get("data", answer.json())
        assert data["trades"] == [] and data.get("total", data.get("trades_total")) == 0
    (folder / "extracted.json").write_bytes(b"[]")
    broken("extracted.json")
    (folder / "result.json").write_bytes(b'{"positions": {"date": [1, 2], "x": [1]}}')
    _assert_error(admin_client.get(f"{jobs}/positions"), 500, "INTERNAL_ERROR")
    healthy()
    assert admin_client.get(f"{jobs}/result").json() == body

    # A job could plant symlinks in its own folder: never followed, never leaked.
    secret = tmp_path / "secret.json"
    marker = "SECRET-MARKER-4711"
    secret.write_text(json.dumps({**json.loads(saved["extracted.json"]), "summary": marker}))
    for name in ("extracted.json", "result.json", "trades.csv", "run.log"):
        (folder / name).unlink()
        (folder / name).symlink_to(secret)
    for path in reads["extracted.json"] + reads["result.json"] + ["files/trades.csv"]:
        res = admin_client.get(f"{jobs}/{path}")
        assert res.status_code in (404, 500) and marker not in res.text, path
    log = admin_client.get(f"{jobs}/log")
    assert log.status_code == 200 and marker not in log.text
    assert marker not in admin_client.get(f"{jobs}/log", params={"tail": 100}).text
    (folder / "result.json").unlink()
    (folder / "result.json").write_bytes(saved["result.json"])
    csv_res = admin_client.get(f"{jobs}/files/trades.csv")  # the symlink is not trades.csv
    assert csv_res.status_code == 200 and marker not in csv_res.text


def test_run_folder_files_are_regular_files_inside_the_folder(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path, "runs/2024-01-02/job")
    folder.path.mkdir(parents=True)
    (folder.path / "extracted.json").write_text("{}")
    assert folder.file("extracted.json") == folder.path / "extracted.json"
    (tmp_path / "outside.json").write_text("{}")
    (folder.path / "link.json").symlink_to(tmp_path / "outside.json")
    (folder.path / "inner.json").symlink_to(folder.path / "extracted.json")
    (folder.path / "sub").mkdir()
    (folder.path / "sub" / "x.json").write_text("{}")
    os.mkfifo(folder.path / "fifo")
    for name in ("missing.json", "link.json", "inner.json", "sub", "sub/x.json", "../job/x",
                 "..", "", "fifo"):  # fmt: skip
        with pytest.raises(FileNotFoundError):
            folder.file(name)
    for name in ("link.json", "fifo"):  # opened without following or blocking
        with pytest.raises(FileNotFoundError):
            open_regular(folder.path / name)
    assert folder.read_json("link.json") is None and folder.read_json("extracted.json") == {}
    moved = RunFolder(tmp_path, "runs/2024-01-03/job")  # the folder itself a symlink
    moved.path.parent.mkdir(parents=True)
    moved.path.symlink_to(folder.path)
    with pytest.raises(FileNotFoundError):
        moved.file("extracted.json")


# -- memory ----------------------------------------------------------------------------------


def _synthetic(tmp_path: Path, trades: int, rows: int) -> tuple[Path, Path]:
    symbols = [f"S{i:03d}" for i in range(50)]
    trade_list = [
        {"datetime": f"2010-01-01T{i % 24:02d}:00:00", "order_id": i,
         "order_book_id": symbols[i % 50], "side": "BUY" if i % 2 else "SELL",
         "quantity": 100 + i, "price": 10.0 + i / 7, "commission": 1.25, "tax": 0.0,
         "reason": "价格" if i % 3 else None, "realized_pnl": i / 3}
        for i in range(trades)
    ]  # fmt: skip
    extracted = tmp_path / "extracted.json"
    extracted.write_text(json.dumps({
        "summary": {"trade_count": trades}, "equity": {"dates": ["2010-01-04"], "nav": [1.0]},
        "trades": trade_list, "trade_columns": list(trade_list[0]), "trades_total": trades,
        "raw_keys": ["equity", "trades"],
    }))  # fmt: skip
    days = [f"{2000 + i // 12}-{i % 12 + 1:02d}-01" for i in range(rows // 50 + 1)]
    positions = {
        "date": [days[i // 50] for i in range(rows)],
        "order_book_id": [symbols[i % 50] for i in range(rows)],
        "quantity": list(range(rows)),
        "market_value": [i * 1.5 for i in range(rows)],
    }
    result = tmp_path / "result.json"
    result.write_text(
        json.dumps({"summary": {}, "trades": trade_list[:100], "positions": positions})
    )
    return extracted, result


def _peak(call: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        out = call()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_paging_a_large_result_keeps_memory_far_below_the_file_size(tmp_path: Path) -> None:
    extracted, result = _synthetic(tmp_path, trades=50_000, rows=260_000)
    trades_size, result_size = extracted.stat().st_size, result.stat().st_size
    assert min(trades_size, result_size) > 10_000_000
    whole = json.loads(extracted.read_bytes())
    full = json.loads(result.read_bytes())

    # The parser's own buffers and one page: a few hundred KB, whatever the file size.
    page, peak = _peak(lambda: read_result_page(extracted, 20_000, 20_100))
    assert peak < trades_size / 20
    assert page["trades"] == whole["trades"][20_000:20_100] and page["trades_total"] == 50_000
    assert page["summary"] == whole["summary"] and page["raw_keys"] == whole["raw_keys"]

    (found, total), peak = _peak(lambda: read_trades_page(extracted, 100, 150, "S007"))
    assert peak < trades_size / 20
    want = [t for t in whole["trades"] if t["order_book_id"] == "S007"]
    assert found == want[100:150] and total == len(want)

    (columns, rows, total), peak = _peak(lambda: read_positions_page(result, 500, 600))
    assert peak < result_size / 20
    assert columns == list(full["positions"]) and total == 260_000
    assert rows == _positions_whole(full, None)[1][500:600]
    day = full["positions"]["date"][123_456]
    columns, rows, total = read_positions_page(result, 0, 10, day)
    held = _positions_whole(full, day)[1]
    assert rows == held[:10] and total == len(held) == 50
