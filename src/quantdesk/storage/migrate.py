"""Schema migrations with Alembic, run programmatically on start (``migrate(db)``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from quantdesk.storage.db import Database

_SCRIPTS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migration scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def migrate(db: Database) -> None:
    """Upgrade the schema of ``db`` to the newest revision (idempotent)."""
    cfg = alembic_config()
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
