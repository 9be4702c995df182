"""The job folder (the contract's layout) and its files.

::

    <BACKTEST_BASE_DIR>/runs/YYYY-MM-DD/<job_id>/
        strategy.py      the code snapshot the job runs
        config.yml       the run's parameters (what the subprocess reads)
        job_meta.json    id, owner, strategy, request, creation time
        status.json      the latest state written by the worker
        run.log          attempt headers, strategy log lines, the user's traceback on failure
        progress.json    sessions done / total, written by the subprocess
        error.json       {code, message} when the subprocess failed
        result.json, summary.json, *.csv   the full result
        extracted.json   the contract's result shape
    <BACKTEST_BASE_DIR>/runs_index/<job_id>.json   where the folder is

Every file is written atomically (temp + fsync + rename) except ``run.log``, which is only
ever appended to.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from quantdesk.core.files import atomic_write_bytes

EXTRACTED = "extracted.json"
RUN_LOG = "run.log"


def run_dir_for(job_id: str, created_at: dt.datetime) -> str:
    """The job folder relative to the base dir: ``runs/YYYY-MM-DD/<job_id>``."""
    return f"runs/{created_at.astimezone(dt.UTC):%Y-%m-%d}/{job_id}"


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as UTF-8 JSON atomically."""
    data = json.dumps(payload, ensure_ascii=False, indent=2, default=str).encode()
    atomic_write_bytes(path, data)


@dataclass(frozen=True)
class RunFolder:
    """One job's folder under ``base_dir``."""

    base_dir: Path
    relative: str

    @property
    def path(self) -> Path:
        """Absolute folder path."""
        return self.base_dir / self.relative

    @property
    def job_id(self) -> str:
        return Path(self.relative).name

    def create(
        self, *, code: str, config: dict[str, Any], meta: dict[str, Any], status: dict[str, Any]
    ) -> None:
        """Write the files a queued job starts with, and the runs index entry."""
        folder = self.path
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / "strategy.py", code.encode())
        atomic_write_bytes(
            folder / "config.yml",
            yaml.safe_dump(config, sort_keys=False, allow_unicode=True).encode(),
        )
        write_json(folder / "job_meta.json", meta)
        self.write_status(status)
        (folder / RUN_LOG).touch()
        write_json(
            self.base_dir / "runs_index" / f"{self.job_id}.json",
            {"job_id": self.job_id, "run_dir": self.relative, "created_at": meta["created_at"]},
        )

    def remove(self) -> None:
        """Delete the folder and its runs index entry."""
        shutil.rmtree(self.path, ignore_errors=True)
        (self.base_dir / "runs_index" / f"{self.job_id}.json").unlink(missing_ok=True)

    def write_status(self, status: dict[str, Any]) -> None:
        """Replace ``status.json``."""
        write_json(self.path / "status.json", status)

    def append_log(self, line: str) -> None:
        """Append one line to ``run.log``."""
        with (self.path / RUN_LOG).open("a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")

    def read_config(self) -> dict[str, Any]:
        """The parsed ``config.yml``."""
        loaded = yaml.safe_load((self.path / "config.yml").read_text(encoding="utf-8"))
        return dict(loaded or {})

    def read_json(self, name: str) -> Any:
        """A JSON file of the folder, ``None`` when it does not exist.

        Raises:
            ValueError: the file exists but is not valid JSON.
        """
        path = self.path / name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return json.loads(text)

    def clear_outputs(self) -> None:
        """Remove what a previous attempt produced (before a retry of the same job)."""
        for name in ("error.json", "progress.json", EXTRACTED, "result.pkl"):
            (self.path / name).unlink(missing_ok=True)
        shutil.rmtree(self.path / "rqalpha", ignore_errors=True)
