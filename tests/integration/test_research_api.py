"""The contract's Research API over HTTP, and the notebook proxy to a real, sandboxed JupyterLab.

Items: every field of the ``Research`` shape, the path rules, the research error format
``{"message"}`` and the framing headers. Sessions: a real JupyterLab started in the job
sandbox for the item's owner, reached through ``/jupyter/<session_id>/`` with the cookie the
session API sets (HTTP and the kernel WebSocket), refreshed, expired by its TTL and stopped
(its kernels gone); another user reaches neither the item nor the proxy path.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from quantdesk.api import create_app
from quantdesk.core.clock import utcnow
from quantdesk.services import research as research_service
from quantdesk.services.auth import hash_password
from quantdesk.services.platform import Platform, bootstrap
from quantdesk.storage import users as user_store
from tests.fixtures.platform import ADMIN_LOGIN, drain, make_settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OTHER = {"mobile": "13900000002", "password": "other-pass-123"}
BUY_AND_HOLD = "def handle_bar(context, bar_dict):\n    order_target_percent('AAPL', 1.0)\n"


def login(client: TestClient, who: dict[str, str] = ADMIN_LOGIN) -> dict[str, str]:
    res = client.post("/api/login", data=who)
    assert res.status_code == 200, res.text
    return {"Authorization": res.json()["token"]}


def add_user(platform: Platform, user_id: int, who: dict[str, str]) -> None:
    with platform.db.write() as session:
        user_store.upsert(session, user_id=user_id, mobile=who["mobile"],
                          password_hash=hash_password(who["password"]), is_admin=False,
                          role="researcher", now=utcnow())  # fmt: skip


def message(res: Any, status: int, fragment: str = "") -> None:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) == {"message"}, body  # the research error format, not {ok, error}
    assert fragment in body["message"]


# -- items -------------------------------------------------------------------------------------


def test_items_crud_with_every_field(client: TestClient) -> None:
    h = login(client)
    body = {"id": "factor_rotation_v1", "title": "因子轮动研究", "description": "...",
            "notebook_path": "factor_rotation_v1.ipynb", "kernel": "python3",
            "tags": ["alpha", "rqalpha"]}  # fmt: skip
    res = client.post("/api/research/items", headers=h, json=body)
    assert res.status_code == 201, res.text
    item = res.json()
    assert set(item) == {"id", "title", "description", "notebook_path", "kernel", "status",
                         "session_status", "tags", "created_at", "updated_at"}  # fmt: skip
    assert item["status"] == "ACTIVE" and item["session_status"] is None
    assert item["tags"] == ["alpha", "rqalpha"] and item["created_at"].endswith("+00:00")
    listed = client.get("/api/research/items", headers=h).json()
    assert listed["total"] == 1 and listed["items"][0]["session_status"] is None
    res = client.put("/api/research/items/factor_rotation_v1", headers=h,
                     json={"title": "v2", "status": "ARCHIVED", "tags": ["x"]})  # fmt: skip
    assert res.status_code == 200 and res.json()["title"] == "v2"
    assert res.json()["status"] == "ARCHIVED" and res.json()["id"] == "factor_rotation_v1"
    assert client.get("/api/research/items/factor_rotation_v1", headers=h).json()["tags"] == ["x"]
    message(client.post("/api/research/items", headers=h, json=body), 409, "already exists")
    res = client.delete("/api/research/items/factor_rotation_v1", headers=h)
    assert res.json() == {"id": "factor_rotation_v1", "deleted": True}
    message(client.get("/api/research/items/factor_rotation_v1", headers=h), 404, "not found")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, "nb1.ipynb"),
        ("research/notebooks/workbench.ipynb", "nb1.ipynb"),
        ("workbench.ipynb", "nb1.ipynb"),
        ("studies/momentum.ipynb", "studies/momentum.ipynb"),
    ],
)
def test_notebook_path_defaults(client: TestClient, given: str | None, stored: str) -> None:
    h = login(client)
    res = client.post("/api/research/items", headers=h,
                      json={"id": "nb1", "title": "t", "notebook_path": given})  # fmt: skip
    assert res.status_code == 201, res.text
    assert res.json()["notebook_path"] == stored


@pytest.mark.parametrize(
    "path",
    ["../x.ipynb", "/etc/x.ipynb", "a/../../x.ipynb", "x.py", ".hidden/x.ipynb", "a:b.ipynb"],
)
def test_unsafe_notebook_paths_are_400(client: TestClient, path: str) -> None:
    h = login(client)
    res = client.post("/api/research/items", headers=h, json={"id": "x", "notebook_path": path})
    message(res, 400, "notebook_path")


def test_research_errors_and_headers(client: TestClient) -> None:
    message(client.get("/api/research/items"), 401, "Authorization")
    h = login(client)
    message(client.post("/api/research/items", headers=h, json={"id": "bad id!"}), 400)
    message(client.post("/api/research/items", headers=h, json={"kernel": "julia"}), 400, "kernel")
    message(client.get("/api/research/items/nope", headers=h), 404)
    message(client.post("/api/research/items/nope/notebook/session/refresh", headers=h), 404)
    res = client.get("/api/research/items", headers=h)
    assert res.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert "x-frame-options" not in res.headers
    # the rest of the API keeps its own format and never frames
    other = client.get("/api/backtest/jobs/nope", headers=h)
    assert other.json()["ok"] is False and other.headers["x-frame-options"] == "DENY"


def test_items_belong_to_their_owner(client: TestClient, platform: Platform) -> None:
    add_user(platform, 2, OTHER)
    h1, h2 = login(client), login(client, OTHER)
    client.post("/api/research/items", headers=h1, json={"id": "mine", "title": "t"})
    assert client.get("/api/research/items", headers=h2).json()["total"] == 0
    message(client.get("/api/research/items/mine", headers=h2), 404)
    message(client.put("/api/research/items/mine", headers=h2, json={"title": "x"}), 404)
    message(client.delete("/api/research/items/mine", headers=h2), 404)
    message(client.post("/api/research/items/mine/notebook/session", headers=h2), 404)


# -- sessions on a real JupyterLab -------------------------------------------------------------


@pytest.fixture
def research_client(request: pytest.FixtureRequest, tmp_path: Path, demo_data_dir: Path) -> Any:
    """A client of a platform whose notebook sessions expire after ``ttl`` seconds.

    ``ttl`` comes from ``@pytest.mark.parametrize("research_client", [ttl], indirect=True)``
    (default 120).
    """
    ttl = float(getattr(request, "param", 120.0))
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", demo_data_dir,
                             research_session_ttl_seconds=ttl)  # fmt: skip
    platform = bootstrap(settings)
    with TestClient(create_app(settings, platform), raise_server_exceptions=False) as client:
        yield client, platform
    platform.close()


def run_cell(client: TestClient, session_id: str, code: str) -> str:
    """Execute ``code`` in a new kernel through the proxy; returns its stdout (and errors)."""
    base = f"/jupyter/{session_id}"
    kernel = client.post(f"{base}/api/kernels", json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    kid = kernel.json()["id"]
    out: list[str] = []
    with client.websocket_connect(f"{base}/api/kernels/{kid}/channels") as ws:
        msg_id = uuid.uuid4().hex
        ws.send_text(json.dumps({
            "header": {"msg_id": msg_id, "username": "t", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False},
        }))  # fmt: skip
        for _ in range(500):
            msg = json.loads(ws.receive_text())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg.get("msg_type"), msg.get("content", {})
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append(f"{content['ename']}: {content['evalue']}")
            elif kind == "execute_reply":
                break
    return "".join(out)


def test_a_session_runs_jupyterlab_for_its_owner_only(
    research_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, platform = research_client
    add_user(platform, 2, OTHER)
    h = login(client)
    client.post("/api/research/items", headers=h, json={"id": "study", "title": "Study"})
    assert client.get("/api/research/items/study/notebook/session", headers=h).json() == {
        "session": None
    }
    res = client.post("/api/research/items/study/notebook/session", headers=h)
    assert res.status_code == 200, res.text
    session = res.json()["session"]
    sid = session["session_id"]
    assert set(session) == {"session_id", "notebook_url", "embed_url", "status", "started_at",
                            "last_active_at", "expires_at"}  # fmt: skip
    assert session["status"] == "RUNNING" and sid.startswith("sess_")
    assert session["notebook_url"].endswith(f"/jupyter/{sid}/lab/tree/study.ipynb")
    assert "token" not in session["notebook_url"] and "token" not in res.headers.get("location", "")
    cookie = res.headers["set-cookie"]
    assert (
        f"Path=/jupyter/{sid}/" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    )
    assert client.get("/api/research/items", headers=h).json()["items"][0]["session_status"] == (
        "RUNNING"
    )
    # the notebook was created with a first cell that loads quantdesk
    nb = platform.research.files.notebook_dir(1) / "study.ipynb"
    assert "import quantdesk" in "".join(json.loads(nb.read_text())["cells"][1]["source"])
    # JupyterLab through the proxy (the cookie, no token in any URL)
    lab = client.get(session["embed_url"].split("testserver", 1)[1])
    assert lab.status_code == 200 and "JupyterLab" in lab.text
    assert "x-frame-options" not in lab.headers
    # a kernel runs quantdesk on the demo data, in the sandbox, without network or secrets,
    # and cannot see another user's notebooks (or the database)
    theirs = platform.research.files.notebook_dir(2) / "private.ipynb"
    theirs.write_text("{}")
    database = platform.settings.database_url.split("///")[1]
    out = run_cell(client, sid, (
        "import os\n"
        f"print('theirs', os.path.exists({str(theirs)!r}))\n"
        f"print('db', os.path.exists({database!r}))\n"
        "print('own', os.path.exists('study.ipynb'))\n"
    ))  # fmt: skip
    assert "theirs False" in out and "db False" in out and "own True" in out, out
    out = run_cell(client, sid, (
        "import quantdesk, socket, os\n"
        f"r = quantdesk.run_backtest({BUY_AND_HOLD!r}, start='2010-01-04', end='2010-12-31',"
        " universe='AAPL', benchmark='SPX')\n"
        "print('total_returns', round(r.summary['total_returns'], 6))\n"
        f"print('secret', os.path.exists({str(platform.settings.secret_key_path.resolve())!r}))\n"
        "print('uid', os.getuid())\n"
        "try:\n    socket.create_connection(('127.0.0.1', 54321), timeout=1)\n"
        "    print('net open')\nexcept OSError:\n    print('no net')\n"
    ))  # fmt: skip
    assert "total_returns " in out and "secret False" in out and "no net" in out, out
    assert "uid 0" not in out
    # another user: neither the proxy path (even with the owner's cookie copied)...
    h2 = login(client, OTHER)
    other = TestClient(client.app, raise_server_exceptions=False)
    message(other.get(f"/jupyter/{sid}/api/status", headers=h2), 404)
    message(other.get(f"/jupyter/{sid}/api/status"), 401)
    # refresh extends the session (on a clock moved on: its times have whole seconds); stop
    # ends it and its kernels
    before = session["expires_at"]
    with monkeypatch.context() as clock:
        clock.setattr(research_service, "utcnow", lambda: utcnow() + dt.timedelta(seconds=2))
        refreshed = client.post("/api/research/items/study/notebook/session/refresh", headers=h)
    assert refreshed.json()["session"]["expires_at"] > before
    stopped = client.delete(f"/api/research/items/study/notebook/session?session_id={sid}",
                            headers=h)  # fmt: skip
    assert stopped.json()["session"]["status"] == "STOPPED"
    message(client.get(f"/jupyter/{sid}/api/status"), 404)
    assert client.get("/api/research/items/study/notebook/session", headers=h).json() == {
        "session": None
    }


@pytest.mark.parametrize("research_client", [3.0], indirect=True)
def test_a_session_expires_after_its_ttl(research_client: Any) -> None:
    client, platform = research_client
    h = login(client)
    client.post("/api/research/items", headers=h, json={"id": "ttl", "title": "t"})
    # Regression: a TTL shorter than the server's start-up expired the session while it was
    # starting (a 500); the TTL now counts from when the server answers.
    res = client.post("/api/research/items/ttl/notebook/session", headers=h)
    assert res.status_code == 200, res.text
    session = res.json()["session"]
    sid = session["session_id"]
    assert session["status"] == "RUNNING" and session["expires_at"] > session["started_at"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = client.get("/api/research/items/ttl/notebook/session", headers=h).json()
        if found["session"] is None:
            break
        time.sleep(0.5)
    assert found == {"session": None}
    gone = client.get(f"/jupyter/{sid}/api/status")  # the cookie expired with the session
    assert gone.status_code in (401, 404) and set(gone.json()) == {"message"}
    with platform.db.read() as db:
        from quantdesk.storage import research as store

        row = store.get_session(db, sid)
        assert row is not None and row.status == "EXPIRED" and row.ended_at is not None
        launcher = row.pid
    from quantdesk.jobs.notebooks import is_launcher

    assert launcher is not None and not is_launcher(launcher)  # the server and kernels are gone


# -- an external Jupyter (RESEARCH_NOTEBOOK_API_BASE) ------------------------------------------


@pytest.fixture
def external_jupyter(tmp_path: Path) -> Any:
    """A real Jupyter server on a local TCP port, with a token: ``(api_base, token, root)``."""
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = tmp_path / "jupyter-root"
    root.mkdir()
    token = uuid.uuid4().hex
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "JUPYTER_TOKEN": token,
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
         f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/status", params={"token": token}).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield base, token, root
    finally:
        proc.terminate()
        proc.wait(10)


def test_sessions_in_an_external_jupyter(
    external_jupyter: Any, tmp_path: Path, demo_data_dir: Path
) -> None:
    import httpx

    base, token, root = external_jupyter
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", demo_data_dir,
                             research_notebook_api_base=base,
                             research_notebook_api_token=token)  # fmt: skip
    platform = bootstrap(settings)
    try:
        with TestClient(create_app(settings, platform), raise_server_exceptions=False) as client:
            h = login(client)
            client.post("/api/research/items", headers=h,
                        json={"id": "ext", "notebook_path": "a/ext.ipynb"})  # fmt: skip
            res = client.post("/api/research/items/ext/notebook/session", headers=h)
            assert res.status_code == 200, res.text
            session = res.json()["session"]
            assert session["status"] == "RUNNING"
            assert session["notebook_url"].endswith("/jupyter/lab/tree/users/1/a/ext.ipynb")
            notebook = json.loads((root / "users" / "1" / "a" / "ext.ipynb").read_text())
            assert "import quantdesk" in "".join(notebook["cells"][1]["source"])
            remote = httpx.get(f"{base}/api/sessions", params={"token": token}).json()
            assert [s["path"] for s in remote] == ["users/1/a/ext.ipynb"]
            again = client.post("/api/research/items/ext/notebook/session", headers=h).json()
            assert again["session"]["session_id"] == session["session_id"]  # the live one
            stopped = client.delete("/api/research/items/ext/notebook/session", headers=h)
            assert stopped.json()["session"]["status"] == "STOPPED"
            assert httpx.get(f"{base}/api/sessions", params={"token": token}).json() == []
    finally:
        platform.close()


def test_a_kernel_loads_the_owners_finished_jobs_only(research_client: Any) -> None:
    client, platform = research_client
    add_user(platform, 2, OTHER)
    h, h2 = login(client), login(client, OTHER)
    for headers in (h, h2):
        client.post("/api/backtest/strategies/bh", headers=headers, json={"code": BUY_AND_HOLD})
    run = {"strategy_id": "bh", "start_date": "2010-01-04", "end_date": "2010-06-30",
           "universe": ["AAPL"], "benchmark": "SPX"}  # fmt: skip
    mine = client.post("/api/backtest/run", headers=h, json=run).json()["job_id"]
    theirs = client.post("/api/backtest/run", headers=h2, json=run).json()["job_id"]
    assert drain(platform) == 2
    client.post("/api/research/items", headers=h, json={"id": "jobs"})
    sid = client.post("/api/research/items/jobs/notebook/session", headers=h).json()["session"][
        "session_id"
    ]
    out = run_cell(client, sid, (
        "import quantdesk\n"
        f"r = quantdesk.load_job({mine!r})\n"
        "print('mine', round(r.summary['total_returns'], 6), len(r.portfolio))\n"
        f"try:\n    quantdesk.load_job({theirs!r})\nexcept Exception as e:\n"
        "    print('theirs', type(e).__name__)\n"
    ))  # fmt: skip
    result = client.get(f"/api/backtest/jobs/{mine}/result", headers=h).json()
    expected = round(result["summary"]["total_returns"], 6)
    assert f"mine {expected} {len(result['equity']['dates'])}" in out, out
    assert "theirs NotFound" in out, out
