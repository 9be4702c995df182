"""Wiring of one running platform: database, catalog and services, built from ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass

from quantdesk.core.settings import Settings
from quantdesk.data import Catalog
from quantdesk.data.demo import import_demo
from quantdesk.jobs.local import LocalWorkerPool
from quantdesk.services.auth import AuthService, resolve_secret_key
from quantdesk.services.backtests import BacktestService
from quantdesk.services.compile import CompileService
from quantdesk.services.jobs import JobService
from quantdesk.services.strategies import StrategyService
from quantdesk.services.users import UserService
from quantdesk.storage import Database
from quantdesk.storage.migrate import migrate


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

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()


def bootstrap(settings: Settings) -> Platform:
    """Check the configuration, migrate the database, create the local admin, and make sure
    the catalog has data (the bundled demo data on first start).

    Raises:
        ConfigurationError: unsafe settings outside development.
    """
    secret = resolve_secret_key(settings)
    settings.backtest_base_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    migrate(db)
    auth = AuthService(db, settings, secret)
    auth.bootstrap_admin()
    catalog = Catalog(settings.data_dir)
    if catalog.is_empty():
        import_demo(catalog)
    strategies = StrategyService(db, settings)
    backtests = BacktestService(db, settings, catalog, strategies)
    jobs = JobService(db, settings, strategies, backtests)
    return Platform(
        settings, db, catalog, auth, strategies, backtests, jobs, UserService(db),
        CompileService(settings, strategies),
    )  # fmt: skip


def start_local_workers(settings: Settings, count: int) -> LocalWorkerPool:
    """Start ``count`` worker processes for this platform's database (``stop()`` them)."""
    pool = LocalWorkerPool(settings, count)
    pool.start()
    return pool
