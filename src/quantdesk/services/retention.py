"""Job retention: the contract's cleanup of old date buckets, run whenever a job is created.

``runs/YYYY-MM-DD/`` buckets older than ``BACKTEST_KEEP_DAYS`` go with their jobs' rows,
except a bucket that still holds a QUEUED or RUNNING job, which is left whole. Listing the
bucket names is one directory read, so it is cheap to run on every creation.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from quantdesk.core.settings import Settings
from quantdesk.jobs.artifacts import RunFolder
from quantdesk.storage import Database, job_queries
from quantdesk.storage import idempotency as key_store

#: How often (seconds) a creation also forgets expired Idempotency-Keys (a write).
CLEANUP_EVERY_SECONDS = 600.0


def old_buckets(runs: Path, cutoff: str) -> list[str]:
    """Names of the ``YYYY-MM-DD`` buckets under ``runs`` dated before ``cutoff`` (ISO date)."""
    try:
        with os.scandir(runs) as entries:
            names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    old = []
    for name in names:
        if len(name) != 10 or name >= cutoff:
            continue
        try:
            dt.date.fromisoformat(name)
        except ValueError:
            continue
        old.append(name)
    return sorted(old)


class JobRetention:
    """Removes old date buckets of ``runs/`` and forgets expired Idempotency-Keys."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._base = settings.backtest_base_dir.resolve()
        self._last_keys = 0.0

    def run(self, now: dt.datetime, *, force: bool = False) -> list[str]:
        """Remove date buckets of ``runs/`` older than ``BACKTEST_KEEP_DAYS``, with their jobs.

        Runs whenever a job is created (the contract): it lists the bucket names only, so a
        creation with nothing to remove costs one directory read. A bucket that holds a
        QUEUED or RUNNING job is not touched at all (checked in the same transaction that
        deletes the bucket's rows). Expired Idempotency-Keys are forgotten at most every
        ``CLEANUP_EVERY_SECONDS`` unless ``force``. Returns the buckets removed.
        """
        if force or now.timestamp() - self._last_keys >= CLEANUP_EVERY_SECONDS:
            self._last_keys = now.timestamp()
            with self._db.write() as session:
                key_store.forget_keys(
                    session, now - dt.timedelta(hours=self._settings.idempotency_key_hours)
                )
        cutoff = (now - dt.timedelta(days=self._settings.backtest_keep_days)).date().isoformat()
        touched = []
        for bucket in old_buckets(self._base / "runs", cutoff):
            with self._db.write() as session:
                if not job_queries.purge_bucket(session, bucket):
                    continue  # a queued or running job lives there
            for folder in sorted((self._base / "runs" / bucket).iterdir()):
                RunFolder(self._base, f"runs/{bucket}/{folder.name}").remove()
            shutil.rmtree(self._base / "runs" / bucket, ignore_errors=True)
            touched.append(bucket)
        return touched
