"""The files of the research workbench: users' notebook folders and their jobs' results.

User ``u``'s notebooks live in ``<RESEARCH notebooks dir>/users/<u>/`` (the only folder their
notebook server may write); their finished jobs' ``result.json`` are linked into
``var/research/jobs/<u>/<job_id>/`` (read-only inside the sandbox, ``quantdesk.load_job``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from quantdesk.core.errors import NotFound
from quantdesk.core.settings import Settings
from quantdesk.jobs.notebooks import give_to
from quantdesk.storage import Database
from quantdesk.storage import research as store

#: The first cell of a new notebook.
FIRST_CELL = """import quantdesk
from quantdesk import all_instruments, get_price, load_job, run_backtest

all_instruments().head()"""


def notebook_template() -> dict[str, object]:
    """A minimal nbformat 4 notebook whose first cell loads quantdesk and the catalog."""
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# Research notebook"},
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": FIRST_CELL},
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip


class NotebookFiles:
    """Notebook folders and job-result views of each user.

    Args:
        db: The database (the user's finished jobs).
        settings: Where notebooks and jobs live.
    """

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self.settings = settings
        self.jobs_root = (settings.backtest_base_dir.parent / "research" / "jobs").resolve()

    def notebook_dir(self, user_id: int) -> Path:
        """User ``user_id``'s notebook folder (created)."""
        folder = (self.settings.research_notebooks_dir / "users" / str(user_id)).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def sync_jobs(self, user_id: int) -> Path:
        """Link the user's finished jobs' ``result.json`` into their jobs folder; returns it."""
        view = self.jobs_root / str(user_id)
        view.mkdir(parents=True, exist_ok=True)
        base = self.settings.backtest_base_dir.resolve()
        with self._db.read() as session:
            finished = dict(store.finished_runs(session, user_id))
        for entry in view.iterdir():
            if entry.name not in finished:
                shutil.rmtree(entry, ignore_errors=True)
        view.chmod(0o755)
        for job_id, run_dir in finished.items():
            source = base / run_dir / "result.json"
            target = view / job_id / "result.json"
            if target.exists() or not source.is_file():
                continue
            target.parent.mkdir(mode=0o755, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
            with contextlib.suppress(OSError):  # the notebook's uid reads it
                target.chmod(0o644)
        return view

    @staticmethod
    def ensure_notebook(folder: Path, relative: str, uid: int) -> None:
        """Create ``folder/relative`` from ``notebook_template`` unless it exists.

        Raises:
            NotFound: the path leaves ``folder``.
        """
        path = folder / relative
        if not path.resolve().is_relative_to(folder):
            raise NotFound("notebook path outside the notebook folder")
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(notebook_template(), indent=1, ensure_ascii=False))
        give_to(path, folder, uid)  # the sandboxed server saves it
