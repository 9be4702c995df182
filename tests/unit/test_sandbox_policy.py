"""The sandbox's pure parts: levels, policies, the job's resource errors, worker ids."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import psutil
import pytest

from quantdesk.core.errors import ConfigurationError, StrategyError
from quantdesk.core.settings import Settings
from quantdesk.jobs.child import cap_logs, resource_error
from quantdesk.jobs.local import WORKER_SECRETS, settings_env
from quantdesk.jobs.reports import equity_points, error_event, progress_event
from quantdesk.jobs.sandbox import _confirmed, check_mode
from quantdesk.jobs.sandbox.inside import HIDE_OTHER_PROCESSES, proc_options
from quantdesk.jobs.sandbox.policy import (
    Layer,
    Level,
    SandboxPolicy,
    _dedupe,
    level_of,
    missing_core,
)  # fmt: skip
from quantdesk.jobs.sandbox.probe import network_namespace
from quantdesk.jobs.worker import owner_alive, process_start, without_secrets, worker_id

EVERYTHING = set(Layer) - {Layer.USERNS}


def test_levels_follow_the_layers_that_work() -> None:
    assert level_of(EVERYTHING) is Level.STRONG
    assert level_of(EVERYTHING - {Layer.LANDLOCK}) is Level.STANDARD
    assert level_of(EVERYTHING - {Layer.CGROUP}) is Level.WEAK  # no memory/pids limit
    # A user namespace (server not root): rlimits stand in for the control group.
    assert level_of((EVERYTHING - {Layer.CGROUP}) | {Layer.USERNS}) is Level.STANDARD
    for core in (Layer.IDENTITY, Layer.FILESYSTEM, Layer.NETWORK):
        assert level_of(EVERYTHING - {core}) is Level.WEAK
        assert str(core) in missing_core(EVERYTHING - {core})
    assert level_of(set(), enabled=False) is Level.OFF
    assert missing_core(EVERYTHING) == []


def test_a_prepared_sandbox_fits_any_job_of_the_same_template() -> None:
    base = SandboxPolicy(uid=60001, gid=60001, layers=("pid",), work_dir="/a", cgroup="s0-")
    other_job = SandboxPolicy(
        uid=60001, gid=60001, layers=("pid",), work_dir="/b", inputs=("x",), cgroup="s0-",
        env={"A": "1"},
    )  # fmt: skip
    assert base.template_key() == other_job.template_key()
    for changed in ({"uid": 60002}, {"memory_mb": 1}, {"layers": ()}, {"work_dir": None}):
        values = {**base.__dict__, **changed}
        assert SandboxPolicy(**values).template_key() != base.template_key()
    assert SandboxPolicy.from_dict({**base.__dict__, "unknown": 1}) == base


def test_runtime_paths_drop_nested_and_system_paths(tmp_path: os.PathLike[str]) -> None:
    root = os.fspath(tmp_path)
    os.makedirs(f"{root}/venv/lib")
    kept = _dedupe([f"{root}/venv/lib", f"{root}/venv", "/usr/lib", "/", f"{root}/missing"])
    assert kept == (f"{root}/venv",)


def test_a_job_reports_resource_errors_by_their_cause() -> None:
    def caused_by(exc: BaseException) -> StrategyError:
        try:
            raise StrategyError("boom") from exc
        except StrategyError as wrapped:
            return wrapped

    assert resource_error(caused_by(MemoryError()))[0] == "MEMORY_LIMIT"  # type: ignore[index]
    disk = OSError(errno.ENOSPC, "No space left on device")
    assert resource_error(caused_by(disk))[0] == "DISK_LIMIT"  # type: ignore[index]
    fork = BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
    assert resource_error(caused_by(fork))[0] == "PROCESS_LIMIT"  # type: ignore[index]
    assert resource_error(caused_by(ValueError("x"))) is None


def test_events_from_the_sandbox_are_validated() -> None:
    good = {"progress": 50.0, "current_bar": 5, "total_bars": 10}
    assert progress_event(good) == good
    bad: list[dict[str, object]] = [
        {"progress": float("nan"), "current_bar": 1, "total_bars": 2},
        {"progress": 50, "current_bar": 11, "total_bars": 10},
        {"progress": "x"},
        {"progress": 10**400, "current_bar": 1, "total_bars": 1},
    ]
    for message in bad:
        assert progress_event(message) is None
    assert error_event({"error": {"code": "STRATEGY_ERROR", "message": "m"}}) == {
        "code": "STRATEGY_ERROR", "message": "m",
    }  # fmt: skip
    # Only the runner decides that a worker was lost or the sandbox is missing.
    assert error_event({"error": {"code": "WORKER_LOST", "message": "forged"}}) is None
    assert error_event({"error": {"code": "lower", "message": "m"}}) is None
    equity = [
        ["2010-01-04", 1.0], ["2010-01-05", 1.01], ["bad", 1.0], ["2010-01-06", "x"],
        ["2010-01-07", float("inf")], ["2010-01-08", True], "junk", ["2010-01-11", 2],
    ]  # fmt: skip
    assert equity_points({"equity": equity}) == [
        ["2010-01-04", 1.0], ["2010-01-05", 1.01], ["2010-01-11", 2.0],
    ]  # fmt: skip
    assert equity_points({"equity": "nope"}) == []


def test_result_logs_are_cut_like_run_log() -> None:
    lines = [f"line {i}" for i in range(100)]
    kept = cap_logs(lines, 50)
    assert kept[:-1] == lines[: len(kept) - 1]
    assert sum(len(x) + 1 for x in kept[:-1]) <= 50
    assert kept[-1] == f"[{100 - len(kept) + 1} more log lines cut at 50 bytes]"
    assert cap_logs(lines, 10**6) == lines


def test_the_sandbox_can_be_switched_off_only_in_development() -> None:
    check_mode(Settings(_env_file=None, backtest_sandbox="off"))
    production = Settings(_env_file=None, backtest_sandbox="off", config_env="production")
    with pytest.raises(ConfigurationError, match="development"):
        check_mode(production)
    with pytest.raises(ValueError, match="backtest_sandbox"):
        Settings(_env_file=None, backtest_sandbox="sometimes")


def test_worker_ids_name_their_incarnation() -> None:
    me = worker_id(3)
    host, boot, pid, slot_start = me.split(":")
    slot, _, start = slot_start.partition("@")
    assert (int(pid), slot) == (os.getpid(), "w3") and len(boot) == 8
    # The start time is /proc/PID/stat's (clock ticks after boot): psutil's create_time.
    ticks = os.sysconf("SC_CLK_TCK")
    assert int(start) == process_start(os.getpid())
    assert abs(psutil.boot_time() + int(start) / ticks - psutil.Process().create_time()) < 1.5
    assert owner_alive(me)  # this very incarnation (with the start: no command-line check)
    assert not owner_alive(f"{host}:{boot}:{os.getpid()}:w0")  # pytest is not a worker
    assert not owner_alive(f"{host}:deadbeef:{os.getpid()}:w0")  # a previous boot
    assert not owner_alive(f"{host}:{boot}:999999999:w0")
    assert not owner_alive(f"{host}:{boot}:999999999:w0@12345")
    assert owner_alive("legacy-worker-id")  # not ours to judge: the lease decides


def test_a_reused_pid_is_not_taken_for_the_worker_that_had_it() -> None:
    code = "import time; print('ready', flush=True); time.sleep(60)  # quantdesk.jobs.worker"
    worker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"  # (exec done)
        me = worker_id(0, worker.pid)
        host, boot, pid, slot_start = me.split(":")
        start = int(slot_start.partition("@")[2])
        assert owner_alive(me)
        # An earlier incarnation whose pid this process now has (a restarted container):
        assert not owner_alive(f"{host}:{boot}:{pid}:w0@{start - 100}")
        assert owner_alive(f"{host}:{boot}:{pid}:w0")  # an id without the start: as before
    finally:
        worker.kill()
        worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()
    assert not owner_alive(me)
    assert worker_id(0, worker.pid) == me  # the id of a worker that exited can still be given


def test_workers_get_no_secret() -> None:
    settings = Settings(
        _env_file=None, secret_key="k" * 40, secret_key_previous="p" * 40,
        local_auth_password="admin-password", local_auth_password_hash="$argon2id$x",
        research_notebook_api_token="jupyter-token",
    )  # fmt: skip
    assert {"SECRET_KEY_PREVIOUS", "RESEARCH_NOTEBOOK_API_TOKEN"} <= WORKER_SECRETS
    env = settings_env(settings, secrets=False)
    assert not WORKER_SECRETS & env.keys()
    assert not {"k" * 40, "p" * 40, "admin-password", "jupyter-token"} & set(env.values())
    assert settings_env(settings).keys() >= WORKER_SECRETS  # the API process keeps them
    stripped = without_secrets(settings).model_dump()
    for name in WORKER_SECRETS:
        assert not stripped[name.lower()], name


def test_proc_hides_other_processes_without_the_pid_layer() -> None:
    with_pid = SandboxPolicy(uid=60001, gid=60001, layers=("filesystem", "pid"))
    assert proc_options(with_pid) is None  # its own pid namespace: nothing else to hide
    without = SandboxPolicy(uid=60001, gid=60001, layers=("filesystem",))
    assert proc_options(without) == HIDE_OTHER_PROCESSES == "hidepid=invisible"


def test_the_network_layer_counts_only_when_the_probe_could_not_connect() -> None:
    layers = {Layer.IDENTITY, Layer.NETWORK}
    seen = {"uid": 60001, "cap_eff": 0, "no_new_privs": 1, "netns": "net:[1]"}
    refused = {**seen, "ports": {"4242": "OSError: Network is unreachable"}}
    assert _confirmed(layers, refused, "i") == layers
    assert _confirmed(layers, {**refused, "netns": ""}, "i") == layers  # (unreadable)
    assert _confirmed(layers, {**seen, "ports": {"4242": "connected"}}, "i") == {Layer.IDENTITY}
    assert _confirmed(layers, {**seen, "ports": {}}, "i") == {Layer.IDENTITY}  # not tried
    host = {**refused, "netns": network_namespace()}  # (Landlock refused, in our namespace)
    assert network_namespace() and _confirmed(layers, host, "i") == {Layer.IDENTITY}


def test_sandbox_uids_are_an_unprivileged_range() -> None:
    assert Settings(_env_file=None).sandbox_uids == range(60001, 60065)
    for bad in ("0-10", "10-5", "x-y", "60001"):
        with pytest.raises(ValueError, match="backtest_sandbox_uids"):
            Settings(_env_file=None, backtest_sandbox_uids=bad)
