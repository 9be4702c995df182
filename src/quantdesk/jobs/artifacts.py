"""The job folder (the contract's layout) and its files.

::

    <BACKTEST_BASE_DIR>/runs/YYYY-MM-DD/<job_id>/
        strategy.py      the code snapshot the job runs
        config.yml       the run's parameters (``JobConfig``: what the subprocess reads)
        job_meta.json    id, owner, strategy, request, creation time (``JobMeta``)
        status.json      the latest state written by the worker (``JobStatusFile``)
        run.log          attempt headers, strategy log lines, the user's traceback on failure
        progress.json    sessions done / total (``JobProgress``), when no events pipe is open
        error.json       {code, message} when the job failed (``JobFailure``)
        result.json, summary.json, *.csv   the full result
        extracted.json   the contract's result shape
    <BACKTEST_BASE_DIR>/runs_index/<job_id>.json   where the folder is

Each structured file has a model here and is written and read through ``RunFolder``'s typed
methods (the result files through ``write_extracted`` and ``jobs/results.py``'s readers).
Every file is written atomically (temp + fsync + rename) except ``run.log``, which is only
ever appended to.

The API reads these files never whole (``jobs/logs.py``: ``run.log`` by byte ranges;
``jobs/results.py``: the JSON results as a stream of parser events) and only as regular files
inside the folder: ``RunFolder.file`` / ``open_regular`` never follow a symlink (a job writes
its results from inside its sandbox).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from quantdesk.backtest.spec import BacktestSpec
from quantdesk.core.files import atomic_write_bytes
from quantdesk.core.jobs import JobStatus

EXTRACTED = "extracted.json"
RESULT = "result.json"
RUN_LOG = "run.log"
TRADES_CSV = "trades.csv"
CONFIG = "config.yml"
META = "job_meta.json"
STATUS = "status.json"
PROGRESS = "progress.json"
ERROR = "error.json"

_M = TypeVar("_M", bound=BaseModel)

#: Bytes per chunk when a file is streamed out whole.
STREAM_CHUNK = 64 * 1024


def run_dir_for(job_id: str, created_at: dt.datetime) -> str:
    """The job folder relative to the base dir: ``runs/YYYY-MM-DD/<job_id>``."""
    return f"runs/{created_at.astimezone(dt.UTC):%Y-%m-%d}/{job_id}"


def write_json(path: Path, payload: Any) -> None:
    """Write ``payload`` as UTF-8 JSON atomically."""
    data = json.dumps(payload, ensure_ascii=False, indent=2, default=str).encode()
    atomic_write_bytes(path, data)


class JobConfig(BacktestSpec):
    """``config.yml``: the run's spec and where the job reads its inputs.

    The spec's universe, benchmark and engine are resolved at submit, so a retry runs what the
    first attempt ran.
    """

    job_id: str
    strategy_id: str = Field(description="the saved strategy run; '' for an inline run")
    data_dir: str = Field(description="the catalog's folder")
    version: int | None = Field(None, description="the saved code version the job runs")
    strategy_name: str | None = Field(None, description="the strategy's (or inline run's) name")


class JobFailure(BaseModel):
    """``error.json`` and the ``error`` of ``status.json``: why a job failed."""

    code: str = Field(max_length=64, description="an upper-case JobErrorCode")
    message: str | None = None


class JobProgress(BaseModel):
    """``progress.json`` and the progress lines of the events pipe (untrusted: from the job).

    ``started_at`` (epoch seconds) is sent once, when the strategy's ``init`` is next.
    """

    model_config = ConfigDict(extra="ignore")

    progress: float = Field(ge=0, le=100, allow_inf_nan=False, description="percent")
    current_bar: int = Field(ge=0, description="sessions done")
    total_bars: int = Field(ge=0, lt=10**9, description="sessions in the window")
    started_at: float | None = Field(None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _done_within_total(self) -> JobProgress:
        if self.current_bar > self.total_bars:
            raise ValueError("current_bar exceeds total_bars")
        return self


class JobMeta(BaseModel):
    """``job_meta.json``: who submitted what, and when."""

    job_id: str
    strategy_id: str
    owner_id: int
    created_at: str = Field(description="ISO 8601 UTC")
    request: dict[str, Any] = Field(description="the resolved request (RunRequest's dump)")
    request_hash: str
    retry_of: str | None = None


class JobStatusFile(BaseModel):
    """``status.json``: the latest state the platform wrote (the database row is the truth)."""

    job_id: str
    status: JobStatus
    error: JobFailure | None = None
    attempt: int | None = None
    worker: str | None = None
    sandbox: dict[str, Any] | None = Field(None, description="the sandbox detection")
    startup_ms: dict[str, float] = Field(default_factory=dict)
    usage: dict[str, Any] = Field(default_factory=dict, description="rusage of the job")
    updated_at: str | None = None


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


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
        """The job's id: the folder's name."""
        return Path(self.relative).name

    def create(self, *, code: str, config: JobConfig, meta: JobMeta) -> None:
        """Write the files a queued job starts with, and the runs index entry."""
        folder = self.path
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / "strategy.py", code.encode())
        atomic_write_bytes(
            folder / CONFIG,
            yaml.safe_dump(_dump(config), sort_keys=False, allow_unicode=True).encode(),
        )
        write_json(folder / META, _dump(meta))
        self.write_status(JobStatusFile(job_id=self.job_id, status=JobStatus.QUEUED))
        (folder / RUN_LOG).touch()
        write_json(
            self.base_dir / "runs_index" / f"{self.job_id}.json",
            {"job_id": self.job_id, "run_dir": self.relative, "created_at": meta.created_at},
        )

    def remove(self) -> None:
        """Delete the folder and its runs index entry."""
        shutil.rmtree(self.path, ignore_errors=True)
        (self.base_dir / "runs_index" / f"{self.job_id}.json").unlink(missing_ok=True)

    def write_status(self, status: JobStatusFile) -> None:
        """Replace ``status.json``."""
        write_json(self.path / STATUS, _dump(status))

    def write_error(self, error: JobFailure) -> None:
        """Replace ``error.json``."""
        write_json(self.path / ERROR, _dump(error))

    def write_progress(self, progress: JobProgress) -> None:
        """Replace ``progress.json``."""
        write_json(self.path / PROGRESS, _dump(progress))

    def write_extracted(self, extracted: dict[str, Any]) -> None:
        """Replace ``extracted.json`` (the contract's result shape; read by ``jobs/results.py``)."""
        write_json(self.path / EXTRACTED, extracted)

    def append_log(self, line: str) -> None:
        """Append one line to ``run.log`` (never through a symlink)."""
        with open_append(self.path / RUN_LOG) as fh:
            fh.write((line.rstrip("\n") + "\n").encode())

    def read_config(self) -> JobConfig:
        """The validated ``config.yml``.

        Raises:
            OSError: it cannot be read.
            ValueError: it is not YAML, or not a valid ``JobConfig`` (pydantic's
                ``ValidationError`` is a ``ValueError``).
        """
        loaded = yaml.safe_load((self.path / CONFIG).read_text(encoding="utf-8"))
        return JobConfig.model_validate(loaded)

    def read_status(self) -> JobStatusFile | None:
        """``status.json``, or ``None`` when missing or not a valid status file."""
        return self._read_model(STATUS, JobStatusFile)

    def read_error(self) -> JobFailure | None:
        """``error.json``, or ``None`` when missing or not a valid error file."""
        return self._read_model(ERROR, JobFailure)

    def read_progress(self) -> JobProgress | None:
        """``progress.json``, or ``None`` when missing or not a valid progress file."""
        return self._read_model(PROGRESS, JobProgress)

    def _read_model(self, name: str, model: type[_M]) -> _M | None:
        try:
            return model.model_validate(self.read_json(name))
        except ValueError:
            return None

    def file(self, name: str) -> Path:
        """The path of the folder's file ``name``, checked.

        It must be a regular file directly inside this folder (the folder itself inside
        ``base_dir``), not a symlink.

        Raises:
            FileNotFoundError: it does not exist, or is anything else (a symlink, a
                directory, a FIFO, a name with a path separator...).
        """
        path = self.path / name
        if name in ("", ".", "..") or Path(name).name != name:
            raise FileNotFoundError(errno.ENOENT, "not a file name of the job folder", name)
        info = path.lstat()  # FileNotFoundError when missing
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a regular file", str(path))
        expected = Path(os.path.normpath(self.base_dir.resolve() / self.relative / name))
        if path.resolve(strict=True) != expected:
            raise FileNotFoundError(errno.ENOENT, "outside the job folder", str(path))
        return path

    def read_json(self, name: str) -> Any:
        """A JSON file of the folder (read whole).

        ``None`` when it is not a regular file of the folder (see ``file``).

        Raises:
            ValueError: the file exists but is not valid JSON.
        """
        try:
            with open_regular(self.file(name)) as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        return json.loads(data.decode("utf-8"))

    def clear_outputs(self) -> None:
        """Remove what a previous attempt produced (before a retry of the same job)."""
        for name in (ERROR, PROGRESS, EXTRACTED, "result.pkl"):
            (self.path / name).unlink(missing_ok=True)
        shutil.rmtree(self.path / "rqalpha", ignore_errors=True)


# -- reading a job's files without loading them whole -------------------------------------------


class CorruptFile(ValueError):
    """A result file is not valid JSON, or not the shape its reader expects."""


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for binary reading, refusing anything but a regular file.

    The last path component is never followed as a symlink, and a FIFO or device never blocks
    the open.

    Raises:
        FileNotFoundError: missing, a symlink or not a regular file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileNotFoundError(errno.ENOENT, "a symlink", str(path)) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_append(path: Path) -> BinaryIO:
    """``path`` opened to append bytes, created if missing, never following a symlink.

    Raises:
        OSError: ``ELOOP`` when ``path`` is a symlink.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    return os.fdopen(fd, "ab")


def iter_file(path: Path, chunk_size: int = STREAM_CHUNK) -> Iterator[bytes]:
    """The bytes of ``path`` in chunks of at most ``chunk_size``, up to its size at the call.

    A log may grow meanwhile; what was appended later is not sent.

    The file is opened now (errors are raised here, not while iterating) and closed when the
    iterator is exhausted or closed.

    Raises:
        FileNotFoundError: as ``open_regular``.
    """
    fh = open_regular(path)
    size = os.fstat(fh.fileno()).st_size
    return _chunks(fh, size, chunk_size)


def _chunks(fh: BinaryIO, size: int, chunk_size: int) -> Iterator[bytes]:
    with fh:
        left = size
        while left > 0:
            data = fh.read(min(chunk_size, left))
            if not data:
                return
            left -= len(data)
            yield data
