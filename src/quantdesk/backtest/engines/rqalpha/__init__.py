"""The RQAlpha engine: RQAlpha-style code on real RQAlpha, as an external command.

Like the contract, RQAlpha runs as ``RQALPHA_COMMAND`` (e.g. ``.venv-rqalpha/bin/rqalpha``
from ``make rqalpha``, or ``python -m rqalpha``): it pins numpy < 2 on Python 3.11, so it
never runs in our interpreter. For one run the adapter

1. builds a data bundle from our bars (``bundle.build_bundle``: instruments, trading dates,
   daily bars of the universe and benchmark, the ``000001.XSHG`` range anchor, a yield
   curve at the run's risk-free rate) in ``<work>/rqalpha/bundle`` -- or, with
   ``RQALPHA_BUNDLE_PATH`` set, uses that bundle as it is (``rqalpha download-bundle``'s);
   the result's ``summary.rqalpha_bundle`` says which (the path, or ``"catalog"``);
2. writes ``<work>/rqalpha/rqalpha.yml`` mapping our profile onto RQAlpha's mods
   (``config.rqalpha_config``) and copies ``quantdesk_mod.py`` beside it;
3. runs ``RQALPHA_COMMAND run --config rqalpha.yml`` with ``<work>/rqalpha`` as the working
   directory and ``HOME`` (RQAlpha merges ``./config.yml`` and ``~/.rqalpha``), streaming
   its output to the log and its progress lines to ``progress``;
4. reads ``<work>/result.pkl`` with an allow-list unpickler and converts it to our columns
   (``convert.engine_result``). The API process never unpickles: in the platform this runs
   inside the job's subprocess.

Rules that cannot be mapped are refused up front: RQAlpha fills daily orders at the bar's
close only (``matching: next_bar`` is ``InvalidArgument``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from quantdesk.backtest.engines.rqalpha.bundle import build_bundle
from quantdesk.backtest.engines.rqalpha.config import rqalpha_config, rqalpha_flags
from quantdesk.backtest.engines.rqalpha.convert import clean_summary, engine_result, load_result
from quantdesk.backtest.spec import EngineRun, LogSink, ProgressCallback
from quantdesk.core.errors import EngineFailed, EngineUnavailable, InvalidArgument, StrategyError
from quantdesk.core.instruments import MARKET_CALENDAR
from quantdesk.engine import Matching

if TYPE_CHECKING:
    from quantdesk.backtest.spec import PreparedBacktest

#: Name of RQAlpha's pickled result in the work (job) folder, as in the contract.
RESULT_PICKLE = "result.pkl"
#: The mod that runs inside RQAlpha (copied into the work directory, never imported here).
_MOD_FILE = Path(__file__).with_name("quantdesk_mod.py")
#: Appended to the strategy file RQAlpha runs (see ``_run``): the last assignment wins.
NEUTRAL_CONFIG = "\n\n__config__ = {}  # quantdesk: applied to the run already\n"
#: Line prefixes the mod prints (the same literals are in quantdesk_mod.py).
PROGRESS_PREFIX = "QUANTDESK_PROGRESS"
VERSION_PREFIX = "QUANTDESK_RQALPHA_VERSION"


def rqalpha_argv(command: str | None) -> list[str]:
    """``RQALPHA_COMMAND`` split into argv, checked to exist.

    Raises:
        EngineUnavailable: not configured, or the program is not found.
    """
    if not command or not command.strip():
        raise EngineUnavailable(
            "engine rqalpha is not configured: set RQALPHA_COMMAND to an RQAlpha executable "
            "(`make rqalpha` creates .venv-rqalpha/bin/rqalpha)"
        )
    argv = shlex.split(command)
    program = argv[0]
    found = shutil.which(program) if os.sep not in program else program
    if not found or not os.access(found, os.X_OK):
        raise EngineUnavailable(
            f"engine rqalpha is not installed: RQALPHA_COMMAND program {program!r} was not "
            "found or is not executable (`make rqalpha` creates .venv-rqalpha/bin/rqalpha)"
        )
    return [os.path.abspath(found) if os.sep in found else found, *argv[1:]]


def run_rqalpha(
    prepared: PreparedBacktest,
    *,
    work_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    log_sink: LogSink | None = None,
) -> EngineRun:
    """Run ``prepared`` on RQAlpha (see the module docstring and ``run_engine``).

    Raises:
        EngineUnavailable: ``RQALPHA_COMMAND`` unset or not installed.
        InvalidArgument: a rule RQAlpha cannot apply (``matching: next_bar``).
        StrategyError: the strategy raised inside RQAlpha (RQAlpha's traceback as message).
        EngineFailed: RQAlpha exited with an error that is not the strategy's, or wrote no
            result.
    """
    argv = rqalpha_argv(prepared.rqalpha_command)
    config = prepared.config
    if config.matching is not Matching.CURRENT_BAR:
        raise InvalidArgument(
            "RQAlpha fills daily orders at the bar's close only: use matching current_bar "
            "with engine rqalpha (or engine native for next_bar)"
        )
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="quantdesk-rqalpha-") as tmp:
            return _run(prepared, argv, Path(tmp), progress, log_sink)
    return _run(prepared, argv, Path(work_dir), progress, log_sink)


def _run(
    prepared: PreparedBacktest,
    argv: list[str],
    work: Path,
    progress: ProgressCallback | None,
    log_sink: LogSink | None,
) -> EngineRun:
    config = prepared.config
    source = prepared.bar_source()
    rq = work / "rqalpha"
    if rq.exists():
        shutil.rmtree(rq)
    rq.mkdir(parents=True)
    bundle = external_bundle(prepared.rqalpha_bundle)
    if bundle is None:
        bundle = rq / "bundle"
        ids = [*config.universe, *([config.benchmark] if config.benchmark else [])]
        build_bundle(bundle, source, config, ids)
    if log_sink is not None:
        log_sink(f"rqalpha data bundle: {prepared.rqalpha_bundle or 'built from the catalog'}")
    sessions = source.sessions(MARKET_CALENDAR[config.profile.market], config.start, config.end)
    # RQAlpha would merge the file's __config__ over our configuration; prepare() has
    # applied its run keys (or refused the run) already, so RQAlpha runs it empty.
    (rq / "strategy.py").write_text(prepared.source + NEUTRAL_CONFIG, encoding="utf-8")
    shutil.copyfile(_MOD_FILE, rq / "quantdesk_mod.py")
    result_path = (work / RESULT_PICKLE).resolve()
    result_path.unlink(missing_ok=True)
    settings = rqalpha_config(
        prepared.source,
        config,
        bundle=bundle,
        strategy_file=rq / "strategy.py",
        result_file=result_path,
        orders_file=rq / "orders.json",
        total_sessions=len(sessions),
        index_file=write_index_file(source, rq / "index_components.json"),
    )
    (rq / "rqalpha.yml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    if progress is not None:
        progress(0, len(sessions))
    code, output, version = _execute(
        [*argv, "run", "--config", "rqalpha.yml", *rqalpha_flags(config)], rq, progress, log_sink
    )
    if code != 0 or not result_path.exists():
        _raise_failure(code, output)
    result = load_result(result_path)
    raw = engine_result(result, rq / "orders.json", source, config, logs=output)
    shutil.rmtree(rq / "bundle", ignore_errors=True)  # rebuilt from the catalog on demand
    return EngineRun(
        raw=raw,
        engine="rqalpha",
        engine_version=version,
        reference=clean_summary(result.get("summary") or {}),
        artifacts=[RESULT_PICKLE],
        data_bundle=prepared.rqalpha_bundle or "catalog",
    )


def write_index_file(source: object, path: Path) -> Path | None:
    """The index compositions of ``source``'s catalog, for the mod.

    All of them, as the native engine sees them: the mod refuses a day after the current
    one, so a later composition is never read, and an early day's error can say from when
    the membership is known.

    ``{index_id: [[date, [members], [weights] | null], ...]}`` oldest first (the mod's
    ``index_file``); ``None`` (and no file) when the source has no catalog or no membership.
    """
    catalog = getattr(source, "catalog", None)
    if catalog is None:
        return None
    table: dict[str, list[list[object]]] = {}
    for summary in catalog.memberships.indexes():
        table[summary.index_id] = [
            [c.date.isoformat(), list(c.order_book_ids),
             None if c.weights is None else list(c.weights)]
            for c in catalog.memberships.compositions(summary.index_id)
        ]  # fmt: skip
    if not table:
        return None
    path.write_text(json.dumps(table), encoding="utf-8")
    return path


def external_bundle(path: str | None) -> Path | None:
    """``RQALPHA_BUNDLE_PATH`` checked to be a bundle folder; ``None`` when unset.

    Raises:
        EngineUnavailable: the path is not a folder holding RQAlpha's bundle files.
    """
    if not path:
        return None
    bundle = Path(path)
    if not (bundle / "instruments.pk").is_file() or not (bundle / "trading_dates.npy").is_file():
        raise EngineUnavailable(
            f"RQALPHA_BUNDLE_PATH {path!r} is not an RQAlpha data bundle (no instruments.pk "
            "and trading_dates.npy there); unset it to build the bundle from the catalog"
        )
    return bundle


def _execute(
    argv: list[str], cwd: Path, progress: ProgressCallback | None, log_sink: LogSink | None
) -> tuple[int, list[str], str]:
    """Run RQAlpha, streaming its output; returns (exit code, log lines, RQAlpha version)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd),  # no ~/.rqalpha of the server's user
        "PYTHONPATH": str(cwd),  # quantdesk_mod.py
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    logs: list[str] = []
    version = "unknown"
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for raw_line in proc.stdout:
            line = raw_line.rstrip("\n")
            if line.startswith(PROGRESS_PREFIX):
                if progress is not None:
                    _, done, total = line.split()
                    progress(int(done), max(int(total), 1))
                continue
            if line.startswith(VERSION_PREFIX):
                version = line.split()[-1]
                continue
            logs.append(line)
            if log_sink is not None:
                log_sink(line)
        code = proc.wait()
    return code, logs, version


def _raise_failure(code: int, output: list[str]) -> None:
    tail = "\n".join(output[-30:])
    if any("strategy.py" in line for line in output) and any(
        "Traceback" in line or "Error" in line for line in output
    ):
        raise StrategyError(f"the strategy failed in RQAlpha (exit {code})", user_traceback=tail)
    raise EngineFailed(f"RQAlpha exited with status {code} and no result; see run.log:\n{tail}")
