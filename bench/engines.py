"""Benchmark: one SMA crossover through the native engine and its peers, per bar.

What it measures: wall time (best of N) of a long-only SMA(10)/SMA(30) rule — buy all-in (per
instrument slot) when the fast average is above the slow one, sell everything when it is
below, fill at the signal bar's close, cash 100,000, no costs — on the same bars through:

* native (history_bars): ``examples/sma_crossover.py`` (``history_bars`` + numpy means);
* native (indicator API): ``examples/sma_crossover_fast.py`` (``indicator("SMA", n)``);
* native no-op: ``handle_bar`` does nothing (the engine's own overhead);
  each native strategy as one run over the universe (multi) and one run per instrument;
* backtrader (``bt.ind.SMA``, cheat-on-close, runonce, no observers), backtesting.py
  (``self.I``, ``trade_on_close``), both once per instrument; vectorbt (one
  ``from_signals`` over all columns, numba warm-up excluded); RQAlpha (when
  ``RQALPHA_COMMAND`` is set: one instrument, extrapolated per bar, see ``run_rqalpha``).

Every engine runs in its own child process (``--child``), which reports its best time, its
peak RSS (``ru_maxrss``: data + imports + engine) and its fills. Timing includes set-up and
bar ingestion (``Engine`` loading feeds, cerebro preloading), not building the bars. Trades
are checked against native (history_bars, per instrument): the same fills (date, signed
quantity) and final value. Datasets: the vendored demo stocks (AAPL, FB, GOOG, IBM, MSFT,
2000-03-01..2013-03-01, unadjusted) and a seeded random walk (200 instruments x 5,000 XNYS
sessions by default). Last: ``import quantdesk`` + a demo backtest in a fresh interpreter.

Run: uv run --group bench python bench/engines.py [--dataset demo|synthetic|all] [--repeat N]
         [--instruments N] [--sessions N] [--seed N] [--engines a,b,...] [--startup-runs N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from engines_data import (
    DEMO_END,
    DEMO_START,
    Dataset,
    Outcome,
    load_demo,
    make_synthetic,
    native_multi,
    native_single,
)

ROOT = Path(__file__).resolve().parents[1]
#: key -> label (1 run: the whole universe at once; per instrument: one run each, summed)
ENGINES = {
    "native-hist-multi": "native: history_bars, 1 run",
    "native-hist-single": "native: history_bars, per instrument",
    "native-ind-multi": "native: indicator API, 1 run",
    "native-ind-single": "native: indicator API, per instrument",
    "native-noop-multi": "native: no-op, 1 run",
    "native-noop-single": "native: no-op, per instrument",
    "backtrader": "backtrader, per instrument",
    "backtesting": "backtesting.py, per instrument",
    "vectorbt": "vectorbt, 1 call (all columns)",
    "rqalpha": "RQAlpha, 1 instrument (extrap.)",
}
REFERENCE = "native-hist-single"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _dataset(args: argparse.Namespace) -> Dataset:
    if args.dataset == "demo":
        return load_demo()
    return make_synthetic(args.instruments, args.sessions, args.seed)


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Run one engine on one dataset (in this process) and report time, memory, trades."""
    ds = _dataset(args)
    engine: str = args.child
    report: dict[str, Any] = {"engine": engine, "bars": ds.n_bars, "data_mb": _peak_mb()}
    if engine == "rqalpha":
        from engines_peers import run_rqalpha

        command = os.environ.get("RQALPHA_COMMAND", "")
        oid = max(ds.bars, key=lambda k: len(ds.bars[k]))
        report.update(run_rqalpha(ds, oid, command), oid=oid, peak_mb=None)
        return report
    if engine.startswith("native-"):
        _, strategy, mode = engine.split("-")
        run = native_multi if mode == "multi" else native_single

        def fn() -> Outcome:
            return run(ds, strategy)

    elif engine == "backtrader":
        from engines_peers import frames, run_backtrader

        data = frames(ds)

        def fn() -> Outcome:
            return run_backtrader(data)

    elif engine == "backtesting":
        from engines_peers import frames, run_backtesting

        data = frames(ds, title_case=True)

        def fn() -> Outcome:
            return run_backtesting(data)

    elif engine == "vectorbt":
        from engines_peers import run_vectorbt

        run_vectorbt(ds, warm_up=True)  # numba compilation, not timed

        def fn() -> Outcome:
            return run_vectorbt(ds, warm_up=False)

    else:
        raise SystemExit(f"unknown engine {engine!r}")
    best, out = float("inf"), None
    for _ in range(args.repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    assert out is not None
    report.update(
        seconds=best, peak_mb=_peak_mb(), fills=out.fills, final=out.final_value,
        unfilled_at_end=out.unfilled_at_end, rejected=out.rejected,
    )  # fmt: skip
    return report


def spawn(engine: str, args: argparse.Namespace, dataset: str, repeat: int) -> dict[str, Any]:
    """Run ``child`` for ``engine`` in a fresh interpreter; its report (or an error)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [
            sys.executable, __file__, "--child", engine, "--dataset", dataset,
            "--repeat", str(repeat), "--instruments", str(args.instruments),
            "--sessions", str(args.sessions), "--seed", str(args.seed), "--out", out.name,
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            return {"engine": engine, "error": tail[:90]}
        report: dict[str, Any] = json.loads(Path(out.name).read_text())
        return report


def _fills(report: dict[str, Any], oid: str, with_end: bool = True) -> list[tuple[str, int]]:
    fills = [tuple(f) for f in report["fills"].get(oid, [])]
    if with_end:
        fills += [tuple(f) for f in report.get("unfilled_at_end", {}).get(oid, [])]
    return fills  # type: ignore[return-value]


def agreement(engine: str, rep: dict[str, Any], runs: dict[str, dict[str, Any]]) -> str:
    """How the engine's trades compare with native's (history_bars)."""
    if "error" in rep:
        return "—"
    if engine.startswith("native-noop"):
        n = sum(len(f) for f in rep["fills"].values())
        return "no trades" if n == 0 else f"{n} trades?!"
    if engine == "rqalpha":
        same = [tuple(f) for f in rep["fills"]] == [tuple(f) for f in rep["native_fills"]]
        close = abs(rep["final"] - rep["native_final"]) <= 1e-6 * abs(rep["native_final"])
        return f"{rep['oid']}: {'yes' if same and close else 'NO'} ({len(rep['fills'])} fills)"
    if engine == REFERENCE:
        n = sum(len(f) for f in rep["fills"].values())
        return f"reference ({n:,} fills)"
    if engine.endswith("-multi"):
        ref = runs.get("native-hist-multi")
        if engine == "native-hist-multi" or ref is None or "error" in ref:
            return f"{sum(len(f) for f in rep['fills'].values()):,} fills"
        same = rep["fills"] == ref["fills"] and rep["final"] == ref["final"]
        return "= history_bars, 1 run" if same else "NO: differs from history_bars, 1 run"
    ref = runs.get(REFERENCE)
    if ref is None or "error" in ref:
        return "no reference"
    good, ends = 0, 0
    for oid, value in ref["final"].items():
        mine = _fills(rep, oid)
        ends += oid in rep.get("unfilled_at_end", {})
        final = rep["final"].get(oid, float("nan"))
        good += mine == _fills(ref, oid) and abs(final - value) <= 1e-6 * abs(value)
    tail = f" (+{ends} last-bar orders unfilled)" if ends else ""
    return f"{good}/{len(ref['final'])} instruments{tail}"


def bench(dataset: str, args: argparse.Namespace, console: Any) -> None:
    """Spawn every engine on ``dataset`` and print one table."""
    from rich.table import Table

    repeat = args.repeat or (3 if dataset == "demo" else 1)
    engines = [e for e in ENGINES if e in args.engines]
    runs: dict[str, dict[str, Any]] = {}
    for engine in engines:
        if engine == "rqalpha" and not os.environ.get("RQALPHA_COMMAND"):
            runs[engine] = {"engine": engine, "error": "not available (set RQALPHA_COMMAND)"}
            continue
        console.print(f"  {dataset}: {ENGINES[engine]} …")
        runs[engine] = spawn(engine, args, dataset, 1 if engine == "rqalpha" else repeat)
    base = runs.get("native-noop-multi", {})
    bars = next((r["bars"] for r in runs.values() if "bars" in r), 0)
    table = Table(
        title=f"{dataset}: {bars:,} bars, SMA(10/30), fill at signal close, best of {repeat}"
    )
    for col in ("engine", "best s", "µs/bar", "÷ native", "backtrader ÷ this", "peak MB", "trades"):
        table.add_column(col, justify="left" if col in ("engine", "trades") else "right")
    per_bar: dict[str, float] = {}
    for engine, rep in runs.items():
        if "seconds" in rep:
            per_bar[engine] = rep["seconds"] * 1e6 / rep["bars"]
        elif "full_s" in rep:
            extra = rep["full_bars"] - rep["short_bars"]
            per_bar[engine] = (rep["full_s"] - rep["short_s"]) * 1e6 / extra
    ref, bt = per_bar.get(REFERENCE), per_bar.get("backtrader")
    for engine, rep in runs.items():
        us = per_bar.get(engine)
        if us is None:
            table.add_row(ENGINES[engine], "—", "—", "—", "—", "—", rep.get("error", "?"))
            continue
        secs = f"{rep['seconds']:.3f}" if "seconds" in rep else f"~{us * bars / 1e6:.0f} (extrap.)"
        peak = rep.get("peak_mb")
        table.add_row(
            ENGINES[engine], secs, f"{us:.2f}" if us < 10 else f"{us:.1f}",
            f"{us / ref:.2f}" if ref else "—", f"{bt / us:.1f}x" if bt else "—",
            f"{peak:.0f}" if peak else "—", agreement(engine, rep, runs),
        )  # fmt: skip
    console.print(table)
    rq = runs.get("rqalpha", {})
    if "full_s" in rq:
        console.print(
            f"RQAlpha: {rq['oid']} alone, {rq['short_bars']} bars in {rq['short_s']:.2f} s and "
            f"{rq['full_bars']:,} bars in {rq['full_s']:.2f} s (external process start-up "
            "included in both); µs/bar = the difference per extra bar, extrapolated."
        )
    if "data_mb" in base:
        console.print(
            f"peak MB = the child's max RSS (interpreter + imports + bars + engine); building "
            f"the bars alone peaks at {base['data_mb']:.0f} MB. '÷ native' = µs/bar over "
            "native history_bars, per instrument."
        )


def startup(args: argparse.Namespace, console: Any) -> None:
    """Wall time of ``import quantdesk`` + a demo backtest in fresh interpreters."""
    from quantdesk.data.catalog import Catalog
    from quantdesk.data.demo import import_demo

    with tempfile.TemporaryDirectory(prefix="qd-bench-startup-") as tmp:
        import_demo(Catalog(tmp))
        code = (
            "import quantdesk\n"
            "r = quantdesk.run_backtest({path!r}, start='2000-03-01', end='2013-03-01', "
            "universe='AAPL,FB,GOOG,IBM,MSFT')\n"
            "assert len(r.trades) > 100\n"
        )
        # The untimed first run also writes bytecode (as an installed package has it).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["DATA_DIR"] = tmp
        for name in ("sma_crossover.py", "sma_crossover_fast.py"):
            cmd = [sys.executable, "-c", code.format(path=str(ROOT / "examples" / name))]
            subprocess.run(cmd, env=env, check=True)  # writes the calendar cache, bytecode
            walls = []
            for _ in range(args.startup_runs):
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, check=True)
                walls.append(time.perf_counter() - t0)
            console.print(
                f"python -c 'import quantdesk; quantdesk.run_backtest(examples/{name}, demo: "
                f"5 stocks x 13 years, SPX benchmark)': median {statistics.median(walls):.2f} s, "
                f"best {min(walls):.2f} s wall over {len(walls)} fresh interpreters"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dataset", choices=("demo", "synthetic", "all", "none"), default="all")
    parser.add_argument("--repeat", type=int, help="runs per timing (default 3 demo, 1 synth)")
    parser.add_argument("--instruments", type=int, default=200, help="synthetic instruments")
    parser.add_argument("--sessions", type=int, default=5000, help="synthetic sessions")
    parser.add_argument("--seed", type=int, default=20240101, help="synthetic RNG seed")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated keys")
    parser.add_argument("--startup-runs", type=int, default=5, help="0 skips the start-up test")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        Path(args.out).write_text(json.dumps(child(args)))
        return
    from rich.console import Console

    console = Console(width=max(150, Console().width))
    args.engines = set(args.engines.split(","))
    from engines_data import CALENDAR_CACHE
    from quantdesk.data.calendars import sessions

    sessions("XNYS", DEMO_START, DEMO_END, CALENDAR_CACHE)  # fills the cache for the children
    for dataset in ("demo", "synthetic"):
        if args.dataset in (dataset, "all"):
            bench(dataset, args, console)
    if args.startup_runs:
        startup(args, console)


if __name__ == "__main__":
    main()
