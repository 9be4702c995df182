"""Benchmark: live push through a real ``quantdesk serve`` (``/api/ws``), against HTTP polling.

Starts the server (1 worker, SQLite, temp dirs; helpers from ``bench/jobs_http.py``) and
measures, in one run:

1. **Progress latency**: a job whose strategy sleeps per bar; a WebSocket client subscribed to
   its channel records, for every ``progress`` frame, receipt time minus the frame's ``ts``
   (stamped by the worker's runner when the engine's progress event reached it: bus + hub +
   WebSocket). The peer is the UI's old way: a client polling ``GET /api/backtest/jobs/{id}``
   every 2 s, whose latency is how long after a bar count was pushed the poll first showed it.
2. **Load**: ``--clients`` WebSocket clients (default 200) subscribed to ``system.status`` and
   to a running job's channel, while a thread times ``GET /api/backtest/jobs/{id}``; p50/p99
   compared with the same poll and no WebSocket client.
3. **Resume**: a client disconnects mid-job and resumes with ``after``+``epoch``: the merged
   sequence numbers must have no gap.

Run: uv run python bench/live.py [--clients 200] [--bars-sleep 0.01]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jobs_http import MOBILE, PASSWORD, free_port, pct, start_server, stop_server, wait_healthy

console = Console()
WINDOW = {"start_date": "2010-01-04", "end_date": "2010-12-31", "universe": ["IBM"]}


def strategy(sleep: float) -> str:
    return f"import time\n\ndef handle_bar(context, bar_dict):\n    time.sleep({sleep})\n"


def submit(http: httpx.Client, name: str, code: str) -> str:
    http.post(f"/api/backtest/strategies/{name}", json={"code": code}).raise_for_status()
    res = http.post("/api/backtest/run", json={"strategy_id": name, **WINDOW})
    res.raise_for_status()
    return str(res.json()["job_id"])


async def open_ws(url: str, token: str) -> Any:
    ws = await connect(url, subprotocols=["quantdesk", token], open_timeout=30)  # type: ignore[list-item]
    assert json.loads(await ws.recv())["event"] == "connected"
    return ws


async def subscribe(ws: Any, channel: str, **extra: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"action": "subscribe", "channel": channel, **extra}))
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("event") in ("subscribed", "error") and frame.get("channel") == channel:
            return frame


async def watch(
    ws: Any, channel: str, until_final: bool = True
) -> list[tuple[float, dict[str, Any]]]:
    """``(receipt time, frame)`` of ``channel`` until the job's final status."""
    got: list[tuple[float, dict[str, Any]]] = []
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("channel") != channel:
            continue
        got.append((time.time(), frame))
        if until_final and frame["event"] == "status" and frame["data"]["status"] in (
            "FINISHED", "FAILED",
        ):  # fmt: skip
            return got


def poll_status(http: httpx.Client, job_id: str, every: float, out: list[tuple[float, int]],
                stop: threading.Event) -> None:  # fmt: skip
    """``(time, current_bar)`` from ``GET /jobs/{id}`` every ``every`` seconds."""
    while not stop.is_set():
        body = http.get(f"/api/backtest/jobs/{job_id}").json()
        out.append((time.time(), int(body["current_bar"])))
        if body["status"] in ("FINISHED", "FAILED"):
            return
        stop.wait(every)


def time_gets(http: httpx.Client, job_id: str, seconds: float) -> list[float]:
    """Latencies (ms) of ``GET /jobs/{id}`` back to back for ``seconds``."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        http.get(f"/api/backtest/jobs/{job_id}").raise_for_status()
        out.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.01)
    return out


async def latency_run(base: str, http: httpx.Client, token: str, sleep: float) -> dict[str, Any]:
    url = base.replace("http://", "ws://") + "/api/ws"
    job_id = submit(http, "bench_latency", strategy(sleep))
    ws = await open_ws(url, token)
    await subscribe(ws, f"job.{job_id}", after=0)
    polled: list[tuple[float, int]] = []
    stop = threading.Event()
    poller = threading.Thread(target=poll_status, args=(http, job_id, 2.0, polled, stop))
    poller.start()
    frames = await watch(ws, f"job.{job_id}")
    stop.set()
    poller.join()
    await ws.close()
    progress = [(t, f) for t, f in frames if f["event"] == "progress"]
    push_ms = [(t - f["ts"]) * 1000 for t, f in progress]
    poll_ms = []
    for _t, f in progress:  # when did a poll first show at least this bar count?
        seen = next((pt for pt, bar in polled if bar >= f["data"]["current_bar"]), None)
        if seen is not None and seen >= f["ts"]:
            poll_ms.append((seen - f["ts"]) * 1000)
    return {"push": push_ms, "poll": poll_ms, "frames": len(frames)}


async def load_run(base: str, http: httpx.Client, token: str, clients: int, sleep: float,
                   seconds: float) -> dict[str, Any]:  # fmt: skip
    url = base.replace("http://", "ws://") + "/api/ws"
    quiet_job = submit(http, "bench_quiet", strategy(0))
    time.sleep(2)
    baseline = await asyncio.to_thread(time_gets, http, quiet_job, seconds)
    job_id = submit(http, "bench_load", strategy(sleep))
    sockets = []
    for _ in range(clients):
        ws = await open_ws(url, token)
        await subscribe(ws, "system.status")
        await subscribe(ws, f"job.{job_id}", after=0)
        sockets.append(ws)
    received = [0]

    async def drain(ws: Any) -> None:
        async for _frame in ws:
            received[0] += 1

    readers = [asyncio.create_task(drain(ws)) for ws in sockets]
    loaded = await asyncio.to_thread(time_gets, http, job_id, seconds)
    for ws in sockets:
        await ws.close()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return {"baseline": baseline, "loaded": loaded, "frames": received[0]}


async def resume_run(base: str, http: httpx.Client, token: str, sleep: float) -> dict[str, Any]:
    url = base.replace("http://", "ws://") + "/api/ws"
    job_id = submit(http, "bench_resume", strategy(sleep))
    channel = f"job.{job_id}"
    ws = await open_ws(url, token)
    epoch = (await subscribe(ws, channel, after=0))["epoch"]
    seen: list[dict[str, Any]] = []
    while sum(f["event"] == "progress" for f in seen) < 3:
        frame = json.loads(await ws.recv())
        if frame.get("channel") == channel:
            seen.append(frame)
    await ws.close()
    await asyncio.sleep(1.0)
    ws = await open_ws(url, token)
    answer = await subscribe(ws, channel, after=seen[-1]["seq"], epoch=epoch)
    assert answer["event"] == "subscribed", answer
    seen += [f for _t, f in await watch(ws, channel)]
    await ws.close()
    seqs = [f["seq"] for f in seen]
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(seqs) if b > a + 1)
    return {"frames": len(seqs), "gaps": gaps, "resets": sum(f["event"] == "reset" for f in seen)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--bars-sleep", type=float, default=0.01, help="seconds per bar")
    parser.add_argument("--seconds", type=float, default=8.0, help="timed GETs per phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qd-live-") as tmp:
        port = free_port()
        proc = start_server(Path(tmp), f"sqlite:///{tmp}/q.db", port, workers=1)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=60) as http:
                wait_healthy(http, proc, 120)
                token = http.post(
                    "/api/login", data={"mobile": MOBILE, "password": PASSWORD}
                ).json()["token"]
                http.headers["Authorization"] = token
                lat = asyncio.run(latency_run(base, http, token, args.bars_sleep))
                load = asyncio.run(load_run(base, http, token, args.clients, args.bars_sleep,
                                            args.seconds))  # fmt: skip
                res = asyncio.run(resume_run(base, http, token, args.bars_sleep))
        finally:
            left = stop_server(proc)
    table = Table(title="live push vs polling (1 worker, SQLite, loopback)")
    table.add_column("measure")
    table.add_column("p50", justify="right")
    table.add_column("p99", justify="right")
    table.add_column("n", justify="right")
    table.add_column("ratio", justify="right")
    push, poll = lat["push"], lat["poll"]
    table.add_row("progress latency, WebSocket push (ms)", f"{pct(push, 50):.1f}",
                  f"{pct(push, 99):.1f}", str(len(push)), "1.0x")  # fmt: skip
    if poll:
        slower = statistics.median(poll) / max(statistics.median(push), 1e-9)
        table.add_row("progress latency, polling every 2 s (ms)", f"{pct(poll, 50):.0f}",
                      f"{pct(poll, 99):.0f}", str(len(poll)), f"{slower:.0f}x slower")  # fmt: skip
    base_ms, loaded_ms = load["baseline"], load["loaded"]
    table.add_row("GET /jobs/{id}, no WebSocket client (ms)", f"{pct(base_ms, 50):.1f}",
                  f"{pct(base_ms, 99):.1f}", str(len(base_ms)), "1.0x")  # fmt: skip
    table.add_row(f"GET /jobs/{{id}}, {args.clients} clients + running job (ms)",
                  f"{pct(loaded_ms, 50):.1f}", f"{pct(loaded_ms, 99):.1f}", str(len(loaded_ms)),
                  f"{pct(loaded_ms, 99) / max(pct(base_ms, 99), 1e-9):.2f}x p99")  # fmt: skip
    console.print(table)
    console.print(f"{args.clients} clients received {load['frames']} frames; resume: "
                  f"{res['frames']} frames, {res['gaps']} gaps, {res['resets']} resets; "
                  f"workers left behind: {len(left)}")  # fmt: skip
    ok = pct(push, 99) <= 250 and pct(loaded_ms, 99) <= 50 and res["gaps"] == 0 and not left
    console.print("targets (push p99 <= 250 ms, loaded GET p99 <= 50 ms, no gap): "
                  + ("[green]met[/]" if ok else "[red]missed[/]"))  # fmt: skip
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
