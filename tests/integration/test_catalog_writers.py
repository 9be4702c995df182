"""Two processes writing the same catalog lose nothing (``Catalog.write_lock``).

Regression: every import rewrote the instruments table from the copy it had read, so an
import in the API and an update job on a worker, running at the same time, dropped each
other's new instruments.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pandas as pd

from quantdesk.data import Catalog
from quantdesk.data.uploads import UploadSpec, instrument_for

DAYS = pd.bdate_range("2024-01-02", "2024-01-12")
PER_WRITER = 12


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"date": [d.date().isoformat() for d in DAYS], "open": 10.0,
                         "high": 10.5, "low": 9.5, "close": 10.2, "volume": 1000.0})  # fmt: skip


def _writer(root: str, prefix: str, start: multiprocessing.synchronize.Event) -> None:
    catalog = Catalog(root)
    start.wait()
    for n in range(PER_WRITER):
        oid = f"{prefix}{n:02d}"
        catalog.import_bars(instrument_for(catalog, oid, UploadSpec(), None, True), _frame())


def test_concurrent_imports_keep_every_instrument(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), p, start)) for p in "AB"]
    for w in writers:
        w.start()
    start.set()
    for w in writers:
        w.join(120)
        assert w.exitcode == 0
    ids = {row["order_book_id"] for row in Catalog(tmp_path).stats()}
    assert ids == {f"{p}{n:02d}" for p in "AB" for n in range(PER_WRITER)}
