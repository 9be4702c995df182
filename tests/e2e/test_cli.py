"""The ``quantdesk`` command line end to end, on the real demo data."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from quantdesk.cli.main import app
from quantdesk.data import Adjust
from quantdesk.data.bar_source import CatalogBarSource

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
runner = CliRunner()


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``quantdesk`` in a fresh interpreter (a real process, real stdout/stderr)."""
    return subprocess.run(
        [sys.executable, "-m", "quantdesk.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )


def test_backtest_json_prints_only_the_summary(demo_data_dir: Path) -> None:
    proc = cli(
        "backtest", EXAMPLES / "sma_crossover.py", "--start", "2005-01-03", "--end", "2012-12-31",
        "--universe", "AAPL", "--benchmark", "SPX", "--param", "fast=10", "--param", "slow=30",
        "--json", "--data-dir", demo_data_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # nothing but JSON on stdout
    assert summary["strategy_name"] == "sma_crossover"
    assert summary["trading_days"] == 2013  # SPX bars (= XNYS sessions) 2005-01-03..2012-12-31
    assert summary["benchmark"] == "SPX"
    assert summary["benchmark_total_returns"] == pytest.approx(1426.19 / 1211.92 - 1)
    # Golden figures; the same run is re-derived by an independent simulation in
    # tests/integration/test_golden_runs.py.
    assert summary["trade_count"] == 64
    assert summary["total_value"] == pytest.approx(821_316.8956, rel=1e-9)
    assert summary["win_rate"] == 17 / 32
    assert (summary["max_drawdown_start"], summary["max_drawdown_end"]) == (
        "2008-05-13",
        "2009-02-23",
    )
    assert summary["total_value"] == pytest.approx(
        summary["starting_cash"] * (1 + summary["total_returns"])
    )


def test_backtest_table_and_output_files(demo_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "backtest", str(EXAMPLES / "momentum_rotation.py"), "--start", "2006-01-03",
            "--end", "2012-12-31", "--universe", "AAPL,GOOG,IBM,MSFT", "--output", str(out),
            "--data-dir", str(demo_data_dir), "--report", str(tmp_path / "report.html"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Sharpe" in result.output and "Max drawdown" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "orders.csv", "portfolio.csv", "positions.csv", "result.json", "result.pkl",
        "round_trips.csv", "run.log", "summary.json", "trades.csv",
    ]  # fmt: skip
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert report.startswith("<!DOCTYPE html>") and 'id="round-trips"' in report
    assert "momentum_rotation" in report
    payload = json.loads((out / "result.json").read_text())
    assert set(payload["equity"]) == {"dates", "nav", "returns", "benchmark_nav"}
    assert payload["trades_total"] == len(payload["trades"]) > 0
    assert payload["trade_columns"][:4] == ["datetime", "order_id", "order_book_id", "side"]
    assert "hold " in (out / "run.log").read_text()


def test_csi300_timing_on_cn_rules(demo_data_dir: Path) -> None:
    proc = cli(
        "backtest", EXAMPLES / "csi300_timing.py", "--market", "cn_stock", "--start",
        "2010-01-04", "--end", "2024-12-31", "--universe", "000300.XSHG", "--benchmark",
        "000300.XSHG", "--cash", "1000000", "--json", "--data-dir", demo_data_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["market"] == "cn_stock"
    assert s["total_commission"] >= 5 * s["trade_count"]  # 5 CNY minimum per order
    assert s["total_tax"] == 0  # no stamp duty on an index
    assert s["benchmark_total_returns"] == pytest.approx(3934.91 / 3575.68 - 1, rel=1e-3)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--universe", "AAPX"], 2, "unknown order_book_id 'AAPX'; did you mean AAPL?"),
        (["--start", "2015-01-05", "--end", "2015-12-31"], 2, "outside the data"),
        (["--start", "2005-13-01"], 2, "start must be a date as YYYY-MM-DD"),
        (["--param", "fast=abc"], 2, "parameter 'fast' expects int, got 'abc'"),
        (["--param", "fast"], 2, "--param expects key=value"),
        (["--market", "cn_stock"], 2, "AAPL is a us instrument"),
        (["--cash", "-5"], 2, "cash must be a positive number"),
        (["--cash", "inf"], 2, "cash must be a positive number"),
        (["--output", str(ROOT / "README.md")], 2, "exists and is not a directory"),
    ],
)
def test_bad_input_gets_a_clear_error(
    demo_data_dir: Path, args: list[str], code: int, message: str
) -> None:
    base = {"--start": "2005-01-03", "--end": "2006-12-29", "--universe": "AAPL"}
    for i in range(0, len(args) - 1, 2):
        base[args[i]] = args[i + 1]
    extra = args[len(args) // 2 * 2 :] if len(args) % 2 else []
    flat = [x for kv in base.items() for x in kv] + extra
    result = runner.invoke(
        app,
        ["backtest", str(EXAMPLES / "sma_crossover.py"), *flat, "--data-dir", str(demo_data_dir)],
    )
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_strategy_errors_show_the_users_traceback_only(demo_data_dir: Path, tmp_path: Path) -> None:
    bad_syntax = tmp_path / "bad.py"
    bad_syntax.write_text("def init(context):\n    x = = 1\n")
    proc = cli("backtest", bad_syntax, "--start", "2005-01-03", "--end", "2005-12-30",
               "--data-dir", demo_data_dir)  # fmt: skip
    assert proc.returncode == 1
    assert "line 2: invalid syntax" in proc.stderr
    raising = tmp_path / "raising.py"
    raising.write_text(
        "def handle_bar(context, bar_dict):\n    ratio(context)\n\n"
        "def ratio(context):\n    return 1 / (context.portfolio.market_value)\n"
    )
    proc = cli("backtest", raising, "--start", "2005-01-03", "--end", "2005-12-30",
               "--data-dir", demo_data_dir)  # fmt: skip
    assert proc.returncode == 1
    assert f'File "{raising}", line 5, in ratio' in proc.stderr
    assert "ZeroDivisionError" in proc.stderr
    assert "quantdesk/engine" not in proc.stderr and "site-packages" not in proc.stderr


def test_data_commands_and_first_run_auto_import(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    empty = runner.invoke(app, ["data", "list", "--data-dir", str(data_dir)])
    assert empty.exit_code == 0 and "import-demo" in empty.output
    proc = cli("backtest", EXAMPLES / "buy_and_hold.py", "--start", "2010-01-04", "--end",
               "2010-12-31", "--universe", "IBM", "--json", "--data-dir", data_dir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["trade_count"] == 1
    listing = runner.invoke(app, ["data", "list", "--data-dir", str(data_dir)])
    assert listing.exit_code == 0
    for oid in ("AAPL", "FB", "GOOG", "IBM", "MSFT", "SPX", "IXIC", "000300.XSHG"):
        assert oid in listing.output
    bars = runner.invoke(app, ["data", "bars", "AAPL", "--end", "2005-03-01", "--limit", "3",
                               "--data-dir", str(data_dir)])  # fmt: skip
    assert bars.exit_code == 0 and "44.86" in bars.output


def test_print_does_not_pollute_json_and_exit_fails_the_run(
    demo_data_dir: Path, tmp_path: Path
) -> None:
    chatty = tmp_path / "chatty.py"
    chatty.write_text("def handle_bar(context, bar_dict):\n    print('hello')\n")
    proc = cli("backtest", chatty, "--start", "2010-01-04", "--end", "2010-01-08", "--json",
               "--data-dir", demo_data_dir)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["trading_days"] == 5
    quitter = tmp_path / "quitter.py"
    quitter.write_text("import sys\n\ndef handle_bar(context, bar_dict):\n    sys.exit(0)\n")
    proc = cli("backtest", quitter, "--start", "2010-01-04", "--end", "2010-01-08", "--json",
               "--data-dir", demo_data_dir)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "SystemExit" in proc.stderr


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("", [], "bars.csv is empty"),
        ("day,open\n1,2\n", [], "missing column(s) date, high, low, close, volume"),
        ("day,open\n1,2\n", ["--map", "nonsense"], "is not OURS=THEIRS"),
        ("date,open,high,low,close,volume\n2021-03-01,1,1,1,1,1\n", ["--lot-size", "-100"],
         "lot_size must be between 1 and 1000000"),
        ("date,open,high,low,close,volume\nxx,1,1,1,1,1\n", [], "no valid bars"),
    ],
)  # fmt: skip
def test_data_import_errors_are_clear(
    tmp_path: Path, content: str, extra: list[str], message: str
) -> None:
    csv = tmp_path / "bars.csv"
    csv.write_text(content)
    result = runner.invoke(
        app, ["data", "import", str(csv), "--id", "XYZ", "--data-dir", str(tmp_path), *extra]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_backtest_engine_option(demo_data_dir: Path) -> None:
    # --engine is validated and recorded in the summary and the table's title.
    base: list[str | Path] = [
        "backtest", EXAMPLES / "sma_crossover.py", "--start", "2010-01-04", "--end", "2010-06-30",
        "--universe", "AAPL", "--data-dir", demo_data_dir,
    ]  # fmt: skip
    bad = cli(*base, "--engine", "zipline")
    assert bad.returncode != 0 and "unknown engine 'zipline'" in bad.stderr
    native = cli(*base, "--engine", "native", "--json")
    assert native.returncode == 0, native.stderr
    assert json.loads(native.stdout)["engine"] == "native"
    table = cli(*base)
    assert table.returncode == 0 and "native 0." in table.stdout


def test_data_imports_are_recorded_in_the_event_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quantdesk.services.auth import Principal
    from quantdesk.services.platform import bootstrap
    from tests.fixtures.platform import make_settings

    url = f"sqlite:///{tmp_path / 'q.db'}"
    data_dir = tmp_path / "data"
    platform = bootstrap(make_settings(tmp_path, url, data_dir))  # first start: the demo data
    monkeypatch.setenv("DATABASE_URL", url)
    csv = tmp_path / "xyz.csv"
    csv.write_text(
        "date,open,high,low,close,volume\n2021-03-01,1,2,1,2,100\n2021-03-02,2,3,2,3,90\n"
    )
    res = runner.invoke(app, ["data", "import", str(csv), "--id", "XYZ", "--market", "us",
                              "--data-dir", str(data_dir)])  # fmt: skip
    assert res.exit_code == 0, res.output
    admin = Principal(1, True, "admin")
    events = platform.events.list(admin, kind="data.imported", limit=100).events
    assert {e.subject for e in events} >= {"AAPL", "SPX", "XYZ"}
    xyz = next(e for e in events if e.subject == "XYZ")
    assert xyz.data["rows_accepted"] == 2 and xyz.data["source"] == "file xyz.csv"
    platform.close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    res = runner.invoke(app, ["data", "import", str(csv), "--id", "XYZ", "--market", "us",
                              "--data-dir", str(data_dir)])  # fmt: skip
    assert res.exit_code == 0 and not (tmp_path / "none.db").exists()


CN_CSV = (
    "date,open,high,low,close,volume,limit_up,limit_down\n"
    "2021-03-01,10,10,10,10,100,,\n"
    "2021-03-02,10.5,10.5,10.5,10.5,100,10.5,9.5\n"
)


def test_data_import_board_type_and_st_periods(tmp_path: Path) -> None:
    from quantdesk.core.instruments import BoardType
    from quantdesk.data import Catalog

    csv = tmp_path / "cn.csv"
    csv.write_text(CN_CSV)
    imports = {
        "688001.XSHG": [],  # inferred from the code: KSH
        "300750.XSHE": [],  # GEM
        "430047.BJSE": [],  # BJS
        "688002.XSHG": ["--board-type", "MainBoard"],  # the option wins over the code
        "600000.XSHG": ["--st-period", "2021-06-01:", "--st-period", "2020-01-02:2020-06-30"],
    }
    for oid, extra in imports.items():
        res = runner.invoke(app, ["data", "import", str(csv), "--id", oid, "--market", "cn",
                                  "--data-dir", str(tmp_path), *extra])  # fmt: skip
        assert res.exit_code == 0, res.output
        assert "2/2 bars accepted" in res.output
    catalog = Catalog(tmp_path)
    boards = {oid: (i.board_type, i.exchange) for oid in imports for i in [catalog.instrument(oid)]}
    assert boards == {
        "688001.XSHG": (BoardType.KSH, "XSHG"),
        "300750.XSHE": (BoardType.GEM, "XSHE"),
        "430047.BJSE": (BoardType.BJS, "BJSE"),
        "688002.XSHG": (BoardType.MAIN, "XSHG"),
        "600000.XSHG": (BoardType.MAIN, "XSHG"),
    }
    assert catalog.instrument("600000.XSHG").st_periods == (
        (dt.date(2020, 1, 2), dt.date(2020, 6, 30)),
        (dt.date(2021, 6, 1), None),
    )
    series = CatalogBarSource(catalog, Adjust.NONE).bars("600000.XSHG", dt.date(2021, 3, 2))
    assert series.limit_up is not None and series.limit_up.tolist()[1] == 10.5
    listing = runner.invoke(app, ["data", "list", "--data-dir", str(tmp_path)])
    assert listing.exit_code == 0, listing.output
    lines = {line.split()[0]: line.split() for line in listing.output.splitlines() if line.strip()}
    assert lines["688001.XSHG"][3] == "KSH" and lines["300750.XSHE"][3] == "GEM"
    assert lines["600000.XSHG"][3:5] == ["MainBoard", "+ST"]  # an ST period is ongoing


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--st-period", "2020-01-02"], "ST period '2020-01-02' must be START:END"),
        (["--st-period", "2020-13-01:"],
         "ST period '2020-13-01:': START '2020-13-01' is not a date as YYYY-MM-DD"),
        (["--st-period", "2020-06-30:2020-01-02"], "END 2020-01-02 is before START 2020-06-30"),
        (["--st-period", "2020-01-02:2020-06-30", "--st-period", "2020-03-02:"],
         "ST periods 2020-01-02:2020-06-30 and 2020-03-02: overlap"),
        (["--board-type", "NASDAQ"], "Invalid value for '--board-type'"),
        (["--market", "us", "--board-type", "GEM"], "board_type GEM is an A-share board"),
        (["--type", "INDX", "--st-period", "2020-01-02:"], "ST periods apply to A-share stocks"),
    ],
)  # fmt: skip
def test_data_import_metadata_errors_are_clear(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    csv = tmp_path / "cn.csv"
    csv.write_text(CN_CSV)
    result = runner.invoke(app, ["data", "import", str(csv), "--id", "600000.XSHG", "--market",
                                 "cn", "--data-dir", str(tmp_path), *extra])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "instruments.parquet").exists()


def test_data_import_reads_multi_instrument_parquet_with_a_mapping(tmp_path: Path) -> None:
    days = pd.bdate_range("2024-01-02", "2024-01-12")
    frame = pd.concat(
        pd.DataFrame({"code": oid, "Day": days.strftime("%Y-%m-%d"), "open": 10.0, "high": 11.0,
                      "low": 9.0, "Last": 10.5, "volume": 1000})
        for oid in ("000001.XSHE", "600000.XSHG")
    )  # fmt: skip
    path = tmp_path / "many.parquet"
    frame.to_parquet(path, index=False)
    args = ["data", "import", str(path), "--map", "date=Day", "--map", "close=Last",
            "--data-dir", str(tmp_path / "cat")]  # fmt: skip
    preview = runner.invoke(app, [*args, "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert "dry run: nothing was imported" in preview.output
    assert not (tmp_path / "cat" / "instruments.parquet").exists()
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "000001.XSHE: 9/9 bars accepted" in done.output
    listing = runner.invoke(app, ["data", "list", "--data-dir", str(tmp_path / "cat")])
    assert "600000.XSHG" in listing.output and "000001.XSHE" in listing.output
