"""One ``BacktestSpec`` from the API body to the job child: validation and messages, the
resolved request a job stores, ``config.yml`` as the spec's dump, and the job folder's typed
files."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from quantdesk import BacktestSpec, Catalog, run_backtest, run_spec
from quantdesk.backtest import EngineName, Frequency
from quantdesk.backtest.run import infer_market, prepare
from quantdesk.core.errors import InvalidArgument
from quantdesk.core.jobs import JobStatus
from quantdesk.data import Adjust
from quantdesk.engine import MarketName, Matching
from quantdesk.jobs.artifacts import JobConfig, JobFailure, JobProgress, JobStatusFile, RunFolder
from quantdesk.services.auth import Principal
from quantdesk.services.backtests import RunRequest
from quantdesk.services.platform import Platform
from quantdesk.storage import jobs as job_store
from tests.fixtures.platform import drain

SMA_SOURCE = (Path(__file__).resolve().parents[2] / "examples" / "sma_crossover.py").read_text()

ADMIN = Principal(1, True, "admin")
QUICK = "def handle_bar(context, bar_dict):\n    pass\n"
WINDOW: dict[str, Any] = {"start_date": "2010-02-01", "end_date": "2010-03-31"}


def test_the_spec_is_frozen_and_its_closed_fields_are_enums() -> None:
    spec = BacktestSpec.of(**WINDOW, universe="AAPL, IBM,AAPL", market="CN_Stock", engine="Native")
    assert spec.start_date == dt.date(2010, 2, 1)
    assert spec.universe == ("AAPL", "IBM")  # split, stripped, deduplicated
    assert spec.market is MarketName.CN_STOCK
    assert spec.engine is EngineName.NATIVE
    assert spec.frequency is Frequency.DAILY
    assert spec.matching is Matching.CURRENT_BAR
    assert spec.adjust is Adjust.PRE
    with pytest.raises(pydantic.ValidationError):
        spec.cash = 5.0  # type: ignore[misc]
    dumped = spec.model_dump(mode="json")
    assert dumped["start_date"] == "2010-02-01"
    assert dumped["market"] == "cn_stock"
    assert BacktestSpec.model_validate(dumped) == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_date": "2010-13-01"}, "start must be a date as YYYY-MM-DD, got '2010-13-01'"),
        ({"end_date": "2010-01-01"}, "end must be on or after start"),
        ({"cash": 0}, "cash must be a positive number up to 1e+12, got 0"),
        ({"cash": float("nan")}, "cash must be a positive number"),
        ({"cash": True}, "cash must be a positive number"),
        ({"market": "moon"}, "unknown market 'moon'; choose one of us_stock, cn_stock"),
        ({"matching": "vwap"}, "unknown matching 'vwap'; use current_bar or next_bar"),
        ({"adjust": "post"}, "unknown adjust 'post'; use none or pre"),
        ({"frequency": "1m"}, "frequency must be one of 1d, got '1m'"),
        ({"engine": "zipline"}, "unknown engine 'zipline'"),
        ({"commission": 1.5}, "commission: Input should be less than 1"),
        ({"params": [1, 2]}, "params: Input should be a valid dictionary"),
    ],
)
def test_run_backtest_names_the_bad_argument(
    demo_catalog: Catalog, change: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"start": "2010-02-01", "end": "2010-03-31", "universe": ["IBM"]}
    for key, value in change.items():
        args[{"start_date": "start", "end_date": "end"}.get(key, key)] = value
    with pytest.raises(InvalidArgument, match="^" + re.escape(message)):
        run_backtest(QUICK, catalog=demo_catalog, **args)


def test_run_spec_and_run_backtest_agree(demo_catalog: Catalog) -> None:
    spec = BacktestSpec.of(**WINDOW, universe=["IBM"], benchmark="none")
    a = run_spec(QUICK, spec, catalog=demo_catalog).summary
    b = run_backtest(QUICK, start="2010-02-01", end="2010-03-31", universe="IBM",
                     benchmark="none", catalog=demo_catalog).summary  # fmt: skip
    assert a == b
    assert a["benchmark"] is None


def test_the_http_body_is_the_spec_plus_the_contract_fields() -> None:
    body = RunRequest.model_validate({"strategy_id": "s", **WINDOW, "universe": ["IBM"]})
    assert isinstance(body, BacktestSpec)
    with pytest.raises(pydantic.ValidationError, match="benchmark must be a non-empty string"):
        RunRequest.model_validate({"strategy_id": "s", **WINDOW, "benchmark": "  "})
    with pytest.raises(pydantic.ValidationError, match="colour"):
        RunRequest.model_validate({"strategy_id": "s", **WINDOW, "colour": "red"})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_job_stores_the_resolved_spec_and_config_yml_is_its_dump(platform: Platform) -> None:
    """Regression: ``benchmark: "none"`` was stored as null, and the job then ran against the
    market's default benchmark (SPX)."""
    platform.strategies.save(ADMIN, "q", QUICK)
    request = RunRequest.model_validate(
        {"strategy_id": "q", **WINDOW, "universe": ["IBM"], "benchmark": "none"}
    )
    job_id = platform.backtests.submit(ADMIN, request)
    with platform.db.read() as session:
        row = job_store.get(session, job_id)
    assert row is not None
    assert row.request["benchmark"] == "none"
    assert row.request["engine"] == "native"  # auto, resolved at submit
    folder = RunFolder(platform.settings.backtest_base_dir.resolve(), row.run_dir)
    raw = yaml.safe_load((folder.path / "config.yml").read_text())
    config = folder.read_config()
    assert isinstance(config, JobConfig)
    assert raw == config.model_dump(mode="json")
    assert config.job_id == job_id
    assert config.universe == ("IBM",)
    status = folder.read_status()
    assert status is not None
    assert status.status is JobStatus.QUEUED

    assert drain(platform) == 1
    result = platform.backtests.result(ADMIN, job_id, None, None)
    assert result.summary["benchmark"] is None
    assert all(v is None for v in result.equity.benchmark_nav)
    done = folder.read_status()
    assert done is not None
    assert done.status is JobStatus.FINISHED
    assert done.attempt == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_job_whose_config_is_not_a_spec_fails_with_a_clear_error(platform: Platform) -> None:
    platform.strategies.save(ADMIN, "q", QUICK)
    job_id = platform.backtests.submit(
        ADMIN, RunRequest.model_validate({"strategy_id": "q", **WINDOW, "universe": ["IBM"]})
    )
    with platform.db.read() as session:
        row = job_store.get(session, job_id)
    assert row is not None
    folder = RunFolder(platform.settings.backtest_base_dir.resolve(), row.run_dir)
    config = yaml.safe_load((folder.path / "config.yml").read_text())
    (folder.path / "config.yml").write_text(yaml.safe_dump({**config, "market": "moon"}))
    drain(platform)
    status = platform.backtests.status(ADMIN, job_id)
    assert status.status == JobStatus.FAILED
    assert status.error is not None
    assert status.error.code == "INVALID_ARGUMENT"
    message = status.error.message or ""
    assert "config.yml is not a valid job config" in message
    assert "unknown market 'moon'" in message
    assert folder.read_error() == JobFailure(code="INVALID_ARGUMENT", message=message)


def test_the_job_folder_files_round_trip(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path, "runs/2026-11-30/abc")
    folder.path.mkdir(parents=True)
    folder.write_progress(JobProgress(progress=50.0, current_bar=5, total_bars=10))
    assert folder.read_progress() == JobProgress(progress=50.0, current_bar=5, total_bars=10)
    folder.write_status(JobStatusFile(job_id="abc", status=JobStatus.RUNNING, attempt=2))
    status = folder.read_status()
    assert status is not None
    assert (status.status, status.attempt) == (JobStatus.RUNNING, 2)
    (folder.path / "error.json").write_text('{"code": 5}')
    assert folder.read_error() is None  # not a valid error file
    with pytest.raises(pydantic.ValidationError):
        JobProgress(progress=10.0, current_bar=11, total_bars=10)


# -- the market follows the instruments ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "market"),
    [
        ({"benchmark": "000300.XSHG"}, "cn_stock"),  # the contract's example body
        ({"universe": ["000300.XSHG"], "benchmark": "none"}, "cn_stock"),
        ({"universe": ["AAPL"]}, "us_stock"),
        ({"benchmark": "SPX"}, "us_stock"),
        ({}, "us_stock"),  # nothing named, a catalog of two markets: the demo's us_stock
        ({"universe": ["AAPL"], "market": "us_stock"}, "us_stock"),
    ],
)
def test_a_spec_without_market_follows_its_instruments(
    demo_catalog: Catalog, fields: dict[str, Any], market: str
) -> None:
    spec = BacktestSpec.of(start_date="2010-01-04", end_date="2010-06-30", **fields)
    prepared = prepare(SMA_SOURCE, spec, catalog=demo_catalog)
    assert prepared.spec.market == market
    assert prepared.config.profile.name == market


def test_instruments_of_two_markets_without_a_market_are_refused(demo_catalog: Catalog) -> None:
    spec = BacktestSpec.of(
        start_date="2010-01-04", end_date="2010-06-30", universe=["AAPL"], benchmark="000300.XSHG"
    )
    with pytest.raises(InvalidArgument, match=r"mix markets \(cn, us\); name the market"):
        prepare(SMA_SOURCE, spec, catalog=demo_catalog)


def test_an_unknown_a_share_id_still_means_cn(demo_catalog: Catalog) -> None:
    spec = BacktestSpec.of(start_date="2010-01-04", end_date="2010-06-30", benchmark="none",
                           universe=["600000.XSHG"])  # fmt: skip
    assert infer_market(spec, demo_catalog) == "cn_stock"
