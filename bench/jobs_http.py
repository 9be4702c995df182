"""Benchmark: backtest jobs end to end through a real ``quantdesk serve`` over HTTP.

Starts the server on a free loopback port with N local workers, temp dirs and SQLite (or a
fresh schema of a PostgreSQL database), logs in, saves a buy-and-hold strategy on IBM and
submits ``--jobs`` distinct one-month backtests of 2010 (``--days 3000``: eight-year jobs
from 2002). Measures the submit latency, the drain rate (first submit -> last
``finished_at``), the job start-up from each job's ``status.json`` (claim -> fork server reply
-> sandbox entered -> strategy ``init``) and, from a thread polling random job ids meanwhile,
the latency of ``GET /api/backtest/jobs/{id}`` under load; plus, for reference, the start-up
of a fresh interpreter importing ``quantdesk.jobs.child`` (what each job paid before the fork
server). Exits non-zero unless every job FINISHED and no process the server started (API,
workers, fork servers, sandboxes) is left 2 s after it stopped.

Run: uv run python bench/jobs_http.py [--jobs 200] [--workers 2] [--poll-interval 0.1]
         [--days 30] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from psycopg.sql import SQL, Identifier
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from quantdesk.core.settings import Settings

MOBILE, PASSWORD = "13800138000", "pass123456"
STRATEGY_ID = "bench_buy_and_hold"
STRATEGY = """from rqalpha.api import *
PARAMS = {"percent": 1.0}
def init(context):
    context.bought = False
def handle_bar(context, bar_dict):
    if not context.bought:
        order_target_percent("IBM", context.params["percent"])
        context.bought = True
"""


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_startup(repeat: int = 5) -> float:
    """Median seconds of ``python -I -c 'import quantdesk.jobs.child'`` (the job child's
    interpreter start-up and imports, without running a backtest)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "import quantdesk.jobs.child"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def pg_schema(url: str, verb: str, schema: str) -> None:
    """``CREATE``/``DROP`` ``schema`` in the PostgreSQL database of the SQLAlchemy ``url``."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        tail = " CASCADE" if verb == "DROP" else ""
        conn.execute(SQL(f"{verb} SCHEMA {{}}{tail}").format(Identifier(schema)))


def start_server(tmp: Path, database_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        CONFIG_ENV="development",
        DATA_DIR=str(tmp / "data"),  # empty: the demo data is imported on start
        BACKTEST_BASE_DIR=str(tmp / "backtest"),
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_urlsafe(48),
        BACKTEST_IDEMPOTENCY_WINDOW_SECONDS="0",
    )
    cmd = [sys.executable, "-m", "quantdesk.cli.main", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers)]
    with (tmp / "server.log").open("wb") as log:  # cwd=tmp: no stray .env is read
        return subprocess.Popen(
            cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_healthy(client: httpx.Client, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if client.get("/api/health").status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the server did not answer /api/health in time")


def stop_server(proc: subprocess.Popen[bytes]) -> list[str]:
    """SIGINT (uvicorn's graceful stop, then the supervisor SIGTERMs its workers), SIGTERM,
    SIGKILL; returns the processes the server had started (API, workers, fork servers,
    sandboxes) still alive afterwards (killed)."""
    started: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        started = psutil.Process(proc.pid).children(recursive=True)
    for sig, grace in ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0)):
        if proc.poll() is None:
            proc.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(2.0)  # what the server started has 2 s to go (parent-death signals, clean-up)
    leftovers = []
    for child in started:
        with contextlib.suppress(psutil.Error):
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                leftovers.append(f"{child.pid} {' '.join(child.cmdline())}")
                child.kill()
    return leftovers


#: Days each job spans (``--days``): 30 by default; 3000 (about eight years) for long jobs.
SPAN_DAYS = [30]


def run_request(i: int) -> dict[str, Any]:
    """Job ``i``: ``SPAN_DAYS`` days from a start date in 2002-2003 (long jobs) or 2010, a
    different one per job, with a different weight."""
    span = SPAN_DAYS[0]
    first = dt.date(2010, 1, 4) if span <= 300 else dt.date(2002, 1, 2)
    start = first + dt.timedelta(days=i % 330)
    return {
        "strategy_id": STRATEGY_ID,
        "start_date": start.isoformat(),
        "end_date": (start + dt.timedelta(days=span)).isoformat(),
        "universe": ["IBM"],
        "benchmark": "SPX",
        "params": {"percent": 0.5 + (i % 50) / 100},
    }


def bench(base: str, jobs: int, drain_timeout: float, poll_interval: float) -> dict[str, Any]:
    """Log in, save the strategy, submit ``jobs`` runs and wait for them to end, while a
    thread polls the status of random submitted jobs."""
    client = httpx.Client(base_url=base, timeout=60)
    token = client.post("/api/login", data={"mobile": MOBILE, "password": PASSWORD})
    token.raise_for_status()
    client.headers["Authorization"] = token.json()["token"]
    saved = client.post(f"/api/backtest/strategies/{STRATEGY_ID}", json={"code": STRATEGY})
    saved.raise_for_status()
    job_ids: list[str] = []
    gets: list[float] = []
    errors: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        rng = random.Random(0)
        with httpx.Client(base_url=base, headers=client.headers, timeout=60) as poller:
            while not stop.wait(poll_interval if job_ids else 0.01):
                if not job_ids:
                    continue
                t0 = time.perf_counter()
                try:
                    response = poller.get(f"/api/backtest/jobs/{rng.choice(job_ids)}")
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                gets.append(time.perf_counter() - t0)

    thread = threading.Thread(target=poll, name="poller", daemon=True)
    submit: list[float] = []
    first_submit = dt.datetime.now(dt.UTC)
    thread.start()
    t_submit = time.perf_counter()
    for i in range(jobs):
        t0 = time.perf_counter()
        response = client.post("/api/backtest/run", json=run_request(i))
        submit.append(time.perf_counter() - t0)
        response.raise_for_status()
        job_ids.append(response.json()["job_id"])
    submit_s = time.perf_counter() - t_submit
    deadline = time.monotonic() + drain_timeout
    while time.monotonic() < deadline:
        counts = client.get("/api/health").json()["data"]["jobs"]
        if not counts.get("QUEUED") and not counts.get("RUNNING"):
            break
        time.sleep(0.1)
    stop.set()
    thread.join()
    views = [client.get(f"/api/backtest/jobs/{j}").json() for j in job_ids]
    client.close()
    return {"submit": submit, "submit_s": submit_s, "first": first_submit, "views": views,
            "gets": gets, "errors": errors}  # fmt: skip


def job_startups(base_dir: Path) -> dict[str, list[float]]:
    """``startup_ms`` of every job's ``status.json``: claim -> fork server reply
    (``claim_to_spawned``), -> sandbox entered (``claim_to_ready``), -> strategy ``init``
    (``claim_to_init``), in milliseconds."""
    found: dict[str, list[float]] = {}
    for path in base_dir.glob("runs/*/*/status.json"):
        with contextlib.suppress(OSError, ValueError):
            for name, value in (json.loads(path.read_text()).get("startup_ms") or {}).items():
                found.setdefault(name, []).append(float(value))
    return found


def report(args: argparse.Namespace, backend: str, startup: float, out: dict[str, Any]) -> int:
    views: list[dict[str, Any]] = out["views"]
    statuses = [v["status"] for v in views]
    iso = dt.datetime.fromisoformat
    spans = [(iso(v["started_at"]), iso(v["finished_at"])) for v in views if v["finished_at"]]
    ends = [end for _, end in spans]
    runs = [(end - start).total_seconds() for start, end in spans]
    drain = (max(ends) - out["first"]).total_seconds() if ends else float("nan")
    ms = [x * 1000 for x in out["submit"]]
    gets = [x * 1000 for x in out["gets"]]
    n_fin, n_fail = statuses.count("FINISHED"), statuses.count("FAILED")
    rows = [
        ("jobs submitted", str(len(views))),
        ("submit latency p50 / p99 / max", f"{pct(ms, 50):.1f} / {pct(ms, 99):.1f} / "
         f"{max(ms):.1f} ms"),
        ("submit phase", f"{out['submit_s']:.2f} s ({len(ms) / out['submit_s']:.1f}/s)"),
        ("drain: first submit -> last FINISHED", f"{drain:.2f} s"),
        ("drain rate", f"{len(ends) / drain:.2f} jobs/s"),
        ("per-job run (started -> finished) p50 / p99",
         f"{pct(runs, 50):.3f} / {pct(runs, 99):.3f} s" if runs else "-"),
        *[(f"job start: {name.replace('_', ' ')} p50 / p99",
           f"{pct(values, 50):.1f} / {pct(values, 99):.1f} ms")
          for name, values in sorted(out.get("startups", {}).items())],
        ("fresh interpreter start-up, for reference (median)", f"{startup:.3f} s"),
        (f"GET job status under load ({len(gets)} req) p50 / p99 / max",
         f"{pct(gets, 50):.1f} / {pct(gets, 99):.1f} / {max(gets):.1f} ms" if gets else "-"),
        ("GET errors (non-200 or transport)", str(len(out["errors"]))),
        ("FINISHED / FAILED / other", f"{n_fin} / {n_fail} / {len(views) - n_fin - n_fail}"),
    ]  # fmt: skip
    table = Table("measure", "value", title=f"quantdesk jobs over HTTP: {backend}, "
                  f"{args.workers} workers, {args.days}-day jobs")  # fmt: skip
    for row in rows:
        table.add_row(*row)
    Console(width=100).print(table)
    for v in views:
        if v["status"] != "FINISHED":
            print(f"job {v['job_id']}: {v['status']} {v.get('error')}", file=sys.stderr)
    for error in out["errors"][:5]:
        print(f"GET error: {error}", file=sys.stderr)
    return 0 if n_fin == len(views) and not out["errors"] else 1


#: Seconds between two status GETs of the polling client (``--poll-interval``). 0.1 s, i.e.
#: 10 GET/s, is what about 20 open job pages polling every 2 s (the UI's interval before the
#: WebSocket push) send: a busy UI. With 0 the client sends the next GET as soon as the last
#: one answered (~200 GET/s on a 2-core machine): the API process then takes about a core
#: from the two workers and the drain rate measures that contention, not the job runtime.
POLL_INTERVAL = 0.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", help="PostgreSQL URL (a fresh schema is used)")
    parser.add_argument("--poll-interval", type=float, default=POLL_INTERVAL,
                        help="s between status GETs (0: back to back)")  # fmt: skip
    parser.add_argument("--drain-timeout", type=float, default=900.0, help="seconds")
    parser.add_argument("--days", type=int, default=30, help="days per job (3000: long jobs)")
    args = parser.parse_args()
    SPAN_DAYS[0] = args.days
    startup = child_startup()
    schema = f"qd_bench_{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory(prefix="qd-bench-") as name:
        tmp = Path(name)
        if args.database_url:
            backend = "postgresql"
            pg_schema(args.database_url, "CREATE", schema)
            sep = "&" if "?" in args.database_url else "?"
            url = f"{args.database_url}{sep}options=-csearch_path%3D{schema}"
        else:
            backend, url = "sqlite", f"sqlite:///{tmp / 'quantdesk.db'}"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(tmp, url, port, args.workers)
        leftovers: list[str] = []
        try:
            with httpx.Client(base_url=base, timeout=5) as probe:
                wait_healthy(probe, proc, timeout=120)
            out = bench(base, args.jobs, args.drain_timeout, args.poll_interval)
            out["startups"] = job_startups(tmp / "backtest")
        except BaseException:
            print((tmp / "server.log").read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            leftovers = stop_server(proc)
            if args.database_url:
                pg_schema(args.database_url, "DROP", schema)
        rc = report(args, backend, startup, out)
        print(f"server exit status {proc.returncode}; processes left behind: {len(leftovers)}")
        for line in leftovers:
            print(f"  left behind (killed): {line}", file=sys.stderr)
    return rc or (1 if leftovers else 0)


if __name__ == "__main__":
    sys.exit(main())
