"""The job runtime below the HTTP layer: the fork server's template, the self-test's levels,
strict and ``off`` modes, and the control-group sweep — with real processes and kernel
features (root only, as in CI)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from quantdesk.core.jobs import JobStatus
from quantdesk.jobs.forkserver import ForkServer
from quantdesk.jobs.runner import JobRunner
from quantdesk.jobs.sandbox import (
    Launcher,
    Layer,
    Level,
    Sandbox,
    SandboxPolicy,
    SandboxRun,
    seccomp,
)
from quantdesk.jobs.sandbox import cgroups as cgroup_module
from quantdesk.jobs.sandbox.policy import level_of
from quantdesk.services.auth import Principal
from quantdesk.services.backtests import RunRequest
from quantdesk.services.platform import Platform, bootstrap
from quantdesk.storage import jobs as job_store
from tests.fixtures.platform import make_settings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (as CI runs)")
ADMIN = Principal(1, True, "admin")
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
QUICK = "def handle_bar(context, bar_dict):\n    pass\n"


def _submit(platform: Platform, end: str = "2010-02-26") -> str:
    platform.strategies.save(ADMIN, "q", QUICK)
    return platform.backtests.submit(
        ADMIN,
        RunRequest.model_validate(
            {"strategy_id": "q", "start_date": "2010-02-01", "end_date": end, "universe": ["IBM"]}
        ),
    )


def _run_all(platform: Platform, runner: JobRunner) -> None:
    while job := job_store.claim(platform.db, runner.worker_id, 30):
        runner.run(job)


def _row(platform: Platform, job_id: str) -> tuple[str, str | None, str | None, str | None]:
    with platform.db.read() as session:
        row = job_store.get(session, job_id)
    assert row is not None
    return row.status, row.error_code, row.error_message, row.sandbox_level


@sqlite_only
def test_the_template_holds_no_secret_and_is_restarted_when_it_dies(platform: Platform) -> None:
    server = ForkServer("test")
    runner = JobRunner(platform.db, platform.settings, "w", threading.Event(), forkserver=server)
    try:
        first = _submit(platform)
        _run_all(platform, runner)
        assert _row(platform, first)[0] == JobStatus.FINISHED
        template = psutil.Process(server.pid)
        assert template.environ() == {}  # nothing of the worker's environment
        assert template.net_connections() == []  # no database or other socket
        assert template.uids().real == 0 and "quantdesk.jobs.forkserver" in template.cmdline()
        os.kill(template.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while server.alive():  # (psutil's wait would reap our own child behind Popen's back)
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = _submit(platform, end="2010-02-25")
        _run_all(platform, runner)
        assert _row(platform, second)[:2] == (JobStatus.FINISHED, None)
        assert server.starts == 2
    finally:
        runner.close()


@sqlite_only
def test_strict_mode_refuses_jobs_when_a_core_layer_is_missing(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cgroup_module.Hierarchy, "find", classmethod(lambda _cls: None))
    runner = JobRunner(platform.db, platform.settings, "w", threading.Event(),
                       forkserver=ForkServer("weak"))  # fmt: skip
    try:
        job_id = _submit(platform)
        _run_all(platform, runner)
    finally:
        runner.close()
    status, code, message, level = _row(platform, job_id)
    assert (status, code, level) == (JobStatus.FAILED, "SANDBOX_UNAVAILABLE", "weak")
    assert message is not None and "memory/pids limits (cgroup)" in message


@sqlite_only
def test_off_mode_runs_without_isolation_in_development(
    tmp_path: Path, database_url: str, demo_data_dir: Path
) -> None:
    settings = make_settings(tmp_path, database_url, demo_data_dir, backtest_sandbox="off")
    platform = bootstrap(settings)
    runner = JobRunner(platform.db, settings, "w", threading.Event(), forkserver=ForkServer("off"))
    try:
        job_id = _submit(platform)
        _run_all(platform, runner)
        assert _row(platform, job_id)[0::3] == (JobStatus.FINISHED, "off")
        assert Sandbox(settings, Launcher()).detect().level is Level.OFF
    finally:
        runner.close()
        platform.close()


def test_the_template_pins_its_thread_pools_before_numpy_is_imported() -> None:
    """Regression: the template module imported numpy, pandas and pyarrow (through the sandbox
    modules) before ``THREAD_ENV`` was set, so OpenBLAS sized its pool to the machine."""
    code = (
        "import sys, quantdesk.jobs.forkserver\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules))"
    )
    imported = subprocess.run([sys.executable, "-I", "-c", code], env={}, capture_output=True,
                              text=True, check=True)  # fmt: skip
    assert imported.stdout.strip() == "[]", imported.stdout
    server = ForkServer("threads")
    server.start()
    try:
        pid = server.pid
        threads = {int(tid): Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
                   for tid in os.listdir(f"/proc/{pid}/task")}  # fmt: skip
        # Only the main thread (and jemalloc's purger, pyarrow's allocator): OpenBLAS starts
        # cpu_count - 1 workers when it is loaded without OPENBLAS_NUM_THREADS=1.
        extra = {tid: name for tid, name in threads.items()
                 if tid != pid and name != "jemalloc_bg_thd"}  # fmt: skip
        assert extra == {}, threads
    finally:
        server.close()


def _probe_report(run: SandboxRun, reports: list[dict[str, Any]]) -> Any:
    assert run.wait(30), run.output
    [report] = [r for r in reports if "uid" in r]
    return report


def test_without_the_pid_layer_proc_shows_no_other_process(
    tmp_path: Path, demo_data_dir: Path
) -> None:
    """Level ``standard`` without the pid namespace: ``/proc`` is the host's pid namespace,
    mounted with ``hidepid``: the probe sees itself, not the workers or the server."""
    sandbox = Sandbox(make_settings(tmp_path, "sqlite://", demo_data_dir), Launcher())
    layers = sandbox.detect().layers - {Layer.PID}
    assert level_of(layers) is Level.STANDARD
    others = ["/proc/1/environ", f"/proc/{os.getpid()}/environ", f"/proc/{os.getpid()}/cmdline"]
    reports: list[dict[str, Any]] = []
    run = sandbox.starter.spawn(sandbox.policy(None, layers=layers), "probe", {"paths": others},
                                on_event=reports.append)  # fmt: skip
    report = _probe_report(run, reports)
    assert report["hostname"] != "sandbox"  # no pid/UTS namespace: the host's pids
    assert report["paths"] == dict.fromkeys(others, False)
    assert report["visible_pids"] <= 2, report  # itself (its init and shell are not dumpable)
    assert len([p for p in os.listdir("/proc") if p.isdigit()]) > 10


def test_the_self_test_counts_the_network_layer_only_when_a_connection_fails(
    tmp_path: Path, demo_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, "sqlite://", demo_data_dir)
    detection = Sandbox(settings, Launcher()).detect()
    [refused] = detection.details["ports"].values()
    assert refused != "connected" and Layer.NETWORK in detection.layers
    real = Launcher.spawn

    def leaky(self: Launcher, policy: SandboxPolicy, target: str, *args: Any, **kw: Any) -> Any:
        """A machine where the network layer has no effect (nor Landlock, which would stop
        the connection too)."""
        layers = tuple(x for x in policy.layers if x not in (Layer.NETWORK, Layer.LANDLOCK))
        return real(self, dataclasses.replace(policy, layers=layers), target, *args, **kw)

    monkeypatch.setattr(Launcher, "spawn", leaky)
    leaked = Sandbox(settings, Launcher()).detect()
    [connected] = leaked.details["ports"].values()
    assert connected == "connected"  # the port the self-test listened on was reachable
    assert Layer.NETWORK not in leaked.layers
    assert leaked.level is Level.WEAK and "network" in leaked.missing


def test_the_self_test_finds_every_layer_as_root(tmp_path: Path, demo_data_dir: Path) -> None:
    settings = make_settings(tmp_path, "sqlite://", demo_data_dir)
    detection = Sandbox(settings, Launcher()).detect()
    assert detection.level is Level.STRONG, detection.describe()
    assert set(Layer) - {Layer.USERNS} <= detection.layers
    assert detection.details["uid"] == settings.sandbox_uids[-1]
    assert detection.details["cap_eff"] == 0 and detection.details["seccomp"] == 2


def test_the_sweep_kills_and_removes_leftover_control_groups(
    tmp_path: Path, demo_data_dir: Path
) -> None:
    sandbox = Sandbox(make_settings(tmp_path, "sqlite://", demo_data_dir), Launcher())
    group = sandbox.cgroup("s7-leftover")
    if group is None:
        pytest.skip("no writable cgroup hierarchy")
    group.create(memory_mb=64, max_procs=8, cpus=0.5)
    root = group.paths[0]
    assert (root / "memory.limit_in_bytes").read_text().strip() == str(64 * 2**20)
    cpu = group.hierarchy.cpu
    if cpu is not None:  # half a core: 50 ms of every 100 ms
        assert (
            cpu / "quantdesk" / group.instance / group.name / "cpu.cfs_quota_us"
        ).read_text().strip() == "50000"
    sleeper = subprocess.Popen(["sleep", "600"])
    group.add(sleeper.pid)
    assert sandbox.sweep(prefix="s8-") == []  # another slot's prefix: untouched
    assert group.pids() == [sleeper.pid]
    began = time.monotonic()
    assert sandbox.sweep(prefix="s7-") == ["s7-leftover"]
    assert sleeper.wait(2) == -signal.SIGKILL and time.monotonic() - began < 2
    assert not any(path.exists() for path in group.paths)


#: System calls of the issue's deny-list the probe makes (``probe._SYSCALLS``), each with
#: arguments that fail, unfiltered and unprivileged, with an error other than ``EPERM``.
UNPRIVILEGED_DISTINCT = (
    "ptrace", "keyctl", "unshare", "personality", "pidfd_getfd", "mount", "setns",
    "perf_event_open", "process_vm_readv", "process_vm_writev",
)  # fmt: skip
#: Those a kernel may refuse unprivileged before looking at the arguments (``EPERM``; ``bpf``
#: with ``unprivileged_bpf_disabled`` before Linux 6.x): told apart from the filter as root
#: with every capability (or ``ENOSYS``: not built in).
PRIVILEGED = ("bpf", "init_module", "kexec_load")


def test_the_seccomp_filter_refuses_what_it_lists(tmp_path: Path, demo_data_dir: Path) -> None:
    sandbox = Sandbox(make_settings(tmp_path, "sqlite://", demo_data_dir), Launcher())
    detection = sandbox.detect()
    seen: dict[str, dict[str, str]] = {}
    runs = {
        "filtered": detection.layers,
        "open": detection.layers - {Layer.SECCOMP},
        "root": detection.layers - {Layer.SECCOMP, Layer.IDENTITY},  # uid 0, every capability
    }
    for name, layers in runs.items():
        reports: list[dict[str, object]] = []
        run = sandbox.starter.spawn(sandbox.policy(None, layers=layers), "probe",
                                    {"syscalls": True}, on_event=reports.append)  # fmt: skip
        assert run.wait(30), run.output
        [report] = [r for r in reports if "syscalls" in r]
        seen[name] = report["syscalls"]  # type: ignore[assignment]
    filtered, open_, root = seen["filtered"], seen["open"], seen["root"]
    for name in (*UNPRIVILEGED_DISTINCT, "io_uring_setup", *PRIVILEGED):
        assert filtered[name] == "EPERM", (name, filtered)
        assert name in seccomp.DENIED, name
    for name in UNPRIVILEGED_DISTINCT:
        assert open_[name] not in ("EPERM", "?"), (name, open_[name])
    assert (open_["ptrace"], open_["unshare"], open_["personality"]) == ("ok", "ok", "ok")
    assert (open_["pidfd_getfd"], open_["setns"], open_["mount"]) == ("EBADF", "EBADF", "EFAULT")
    assert open_["process_vm_readv"] == open_["perf_event_open"] == "EINVAL"
    assert open_["io_uring_setup"] != "EPERM"
    for name in PRIVILEGED:
        assert root[name] not in ("EPERM", "?"), (name, root[name])  # EINVAL/ENOEXEC/ENOSYS
    for family in ("AF_INET", "AF_INET6", "AF_NETLINK"):
        assert filtered[family] == "EAFNOSUPPORT" and open_[family] == "ok", family
    assert filtered["AF_UNIX"] == "ok"


@sqlite_only
def test_the_compile_check_runs_in_the_same_sandbox(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[SandboxPolicy, str]] = []
    real = Launcher.spawn

    def recording(self: Launcher, policy: SandboxPolicy, target: str, *args: Any, **kw: Any) -> Any:
        started.append((policy, target))
        return real(self, policy, target, *args, **kw)

    monkeypatch.setattr(Launcher, "spawn", recording)
    status, body = platform.compiler.check(ADMIN, "c", "import os\nimport nothing_here\n")
    assert status == 422 and body.diagnostics[0].message.startswith("dependency 'nothing")
    compiles = [policy for policy, target in started if target == "compile"]
    assert len(compiles) == 1
    policy = compiles[0]
    assert set(policy.layers) == {str(layer) for layer in set(Layer) - {Layer.USERNS}}
    assert policy.uid == policy.gid == platform.settings.sandbox_uids[-1]
    assert policy.env.keys() <= {"PATH", "LANG", "LC_ALL", "PYTHONHASHSEED", "OMP_NUM_THREADS",
                                 "OPENBLAS_NUM_THREADS", "MPLBACKEND"}  # fmt: skip
    assert str(platform.settings.backtest_base_dir.resolve()) not in policy.read_only


def test_a_prepared_sandbox_inherits_nothing_of_the_previous_job(
    tmp_path: Path, demo_data_dir: Path
) -> None:
    """Regression: the spare sandbox was forked while the previous job's pipes were open and
    its request was in a frame above; its init and shell held the server's stdout/stderr."""
    settings = make_settings(tmp_path, "sqlite://", demo_data_dir)
    server = ForkServer("inherit")
    sandbox = Sandbox(settings, server)
    sandbox.detect(0)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    policy = sandbox.policy(0, work_dir=job_dir, cgroup="s0-")
    try:
        reports = []
        for _ in range(3):  # the first run is cold; the later ones use prepared sandboxes
            seen: list[dict[str, Any]] = []
            run = server.spawn(policy, "probe", {"inherited": True}, on_event=seen.append)
            assert run.wait(30), run.output
            reports += [r for r in seen if "frames" in r]
        for report in reports[1:]:
            for frame in report["frames"]:
                if frame[0] in ("_serve", "_handle", "refill", "take", "_monitor_main"):
                    assert not {"request", "message", "fds"} & set(frame[1:]), frame
            assert report["parent_fds"] == "PermissionError"  # the shell is not dumpable
            targets = set(report["fds"].values())
            assert {report["fds"]["0"]} == {"/dev/null"}
            allowed = ("pipe:", "/dev/null", "FileNotFoundError")  # (the listing fd)
            assert all(t.startswith(allowed) for t in targets), targets
        deadline = time.monotonic() + 5  # the next sandbox is prepared at idle priority
        while (problems := _inherited(psutil.Process(server.pid))) is None or problems:
            assert time.monotonic() < deadline, problems
            time.sleep(0.05)
    finally:
        server.close()


def _inherited(template: psutil.Process) -> list[str] | None:
    """What the prepared sandbox's init, shell and code hold besides ``/dev/null`` on fds
    0-2 (and, for the code, on fd 3, kept for its events pipe) and the code's one socket to
    its monitor (``None`` until all three exist).

    Regression: the code held a catalog file at fd 3 after its warm-up backtest (Arrow's
    pool closed it later, after the events pipe had taken that number: the job then failed
    with EBADF), and all three held the monitor's control socket."""
    inside = [p for p in template.children(recursive=True) if p.uids().real != 0]
    if len(inside) < 3:
        return None
    problems = []
    for process in inside:
        fds = _open_files(process.pid)
        is_code = not process.children()
        null = {0, 1, 2, 3} if is_code else {0, 1, 2}
        problems += [f"{process.pid}: fd {fd} {fds.get(fd)}" for fd in sorted(null)
                     if fds.get(fd) != "/dev/null"]  # fmt: skip
        sockets = [fd for fd, target in fds.items() if target.startswith("socket:")]
        if len(sockets) != (1 if is_code else 0):
            problems.append(f"{process.pid}: sockets {sockets}")
        problems += [f"{process.pid}: fd {fd} {t}" for fd, t in fds.items()
                     if fd not in null and fd not in sockets]  # fmt: skip
    return problems


def test_a_prepared_monitor_keeps_none_of_its_callers_descriptors(
    tmp_path: Path, demo_data_dir: Path
) -> None:
    """Regression: ``prepare`` forked with the caller's descriptors (a previous job's pipes,
    the server's stdout) open, and the sandbox below the monitor inherited them."""
    from quantdesk.jobs.sandbox.enter import prepare

    sandbox = Sandbox(make_settings(tmp_path, "sqlite://", demo_data_dir), Launcher())
    policy = sandbox.policy(None, layers=sandbox.detect().layers)
    read_end, write_end = os.pipe()
    prepared = prepare(policy)
    mine = os.readlink(f"/proc/self/fd/{write_end}")
    try:
        deadline = time.monotonic() + 5  # (right after the fork it still has them all)
        while True:
            fds = _open_files(prepared.pid)  # (it may be closing them while we look)
            if mine not in fds.values() and {fds.get(0), fds.get(1), fds.get(2)} == {"/dev/null"}:
                break
            assert time.monotonic() < deadline, fds
            time.sleep(0.01)
    finally:
        prepared.discard()
        os.waitpid(prepared.pid, 0)
        os.close(read_end)
        os.close(write_end)


def _open_files(pid: int) -> dict[int, str]:
    """``{fd: target}`` of process ``pid`` (descriptors closed while reading are left out)."""
    found: dict[int, str] = {}
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                found[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
    return found
