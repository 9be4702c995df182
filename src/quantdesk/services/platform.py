"""Wiring of one running platform: database, catalog and services, built from ``Settings``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from quantdesk.core.events import EventKind
from quantdesk.core.files import remove_temp_files
from quantdesk.core.settings import Settings
from quantdesk.data import Catalog
from quantdesk.data.demo import import_demo
from quantdesk.jobs.local import ProcessSpec, Supervisor, settings_env, worker_spec
from quantdesk.jobs.notebooks import NotebookServers
from quantdesk.jobs.sandbox import Launcher, Sandbox, check_mode
from quantdesk.services.auth import AuthService, resolve_secret_key
from quantdesk.services.backtests import BacktestService
from quantdesk.services.compile import CompileService
from quantdesk.services.events import EventLog
from quantdesk.services.events.processes import ProcessMonitor
from quantdesk.services.jobs import JobService
from quantdesk.services.research import ResearchService
from quantdesk.services.strategies import StrategyService
from quantdesk.services.users import UserService
from quantdesk.storage import Database
from quantdesk.storage.migrate import migrate

log = logging.getLogger("quantdesk.platform")


@dataclass
class Platform:
    """The services of one process."""

    settings: Settings
    db: Database
    catalog: Catalog
    auth: AuthService
    strategies: StrategyService
    backtests: BacktestService
    jobs: JobService
    users: UserService
    compiler: CompileService
    events: EventLog
    processes: ProcessMonitor
    research: ResearchService

    def record_event(
        self, kind: str, subject: str, data: dict[str, Any] | None = None, *,
        user_id: int | None = None,
    ) -> int:  # fmt: skip
        """Record a platform event in its own transaction (``EventLog.record_event``).

        Returns:
            The event's id.
        """
        return self.events.record_event(kind, subject, data, user_id=user_id)

    def close(self) -> None:
        """Stop this process's notebook servers and release database connections."""
        self.research.close()
        self.db.dispose()


def announce_settings(settings: Settings) -> None:
    """Log what the settings ask that quantdesk does otherwise (the contract's deviations)."""
    if settings.backtest_rename_db_path:
        log.info(
            "BACKTEST_RENAME_DB_PATH=%s is ignored: the strategy rename map lives in the main "
            "database (%s), so renames stay transactional",
            settings.backtest_rename_db_path,
            settings.database_url.split("@")[-1],
        )


def bootstrap(settings: Settings, *, announce: bool = True) -> Platform:
    """Check the configuration, migrate the database, create the local admin, seed the catalog.

    An empty catalog gets the bundled demo data (on first start). ``announce`` logs the
    start-up notes (settings accepted but not used); the API process that ``quantdesk serve``
    supervises passes ``False``, its supervisor having logged them once.

    Raises:
        ConfigurationError: unsafe settings outside development.
    """
    secret = resolve_secret_key(settings)
    check_mode(settings)
    if announce:
        announce_settings(settings)
    settings.backtest_base_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    migrate(db)
    auth = AuthService(db, settings, secret)
    auth.bootstrap_admin()
    catalog = Catalog(settings.data_dir)
    events = EventLog(db, settings)
    if catalog.is_empty():
        for report in import_demo(catalog):
            imported = {"source": "demo", "rows_accepted": report.rows_accepted}
            events.record(EventKind.DATA_IMPORTED, report.order_book_id, data=imported)
    strategies = StrategyService(db, settings)
    backtests = BacktestService(db, settings, catalog, strategies)
    jobs = JobService(db, settings, strategies, backtests)
    sandbox = Sandbox(settings, Launcher())
    research = ResearchService(db, settings, NotebookServers(settings, sandbox, secret), secret)
    return Platform(
        settings, db, catalog, auth, strategies, backtests, jobs, UserService(db),
        CompileService(settings, strategies, sandbox), events,
        ProcessMonitor(db, settings.job_lease_seconds), research,
    )  # fmt: skip


def supervise_platform(settings: Settings, api_argv: list[str], listen_fd: int) -> Supervisor:
    """Sweep what a crashed previous incarnation left, then start and supervise the processes.

    Left: its jobs' control groups and processes, temporary files of interrupted writes.
    Supervised: the API process (``api_argv``, inheriting the listening socket ``listen_fd``)
    and ``settings.workers`` workers (``stop()`` them). A worker that dies is recorded as a
    ``worker.crashed`` event (the supervisor's own connection to the database).
    """
    swept = Sandbox(settings, Launcher()).sweep()
    if swept:
        log.warning("removed %d control groups left by a previous run: %s", len(swept), swept)
    temp = sum(remove_temp_files(root) for root in (settings.backtest_base_dir, settings.data_dir))
    if temp:
        log.warning("removed %d temporary files of interrupted writes", temp)
    api = ProcessSpec("api", api_argv, settings_env(settings), pass_fds=(listen_fd,))
    events = EventLog(Database(settings.database_url), settings)
    specs = [api, *(worker_spec(settings, i) for i in range(settings.workers))]
    supervisor = Supervisor(specs, record_event=events.record_event)
    supervisor.start()
    return supervisor
