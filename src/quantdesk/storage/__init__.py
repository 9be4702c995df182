"""SQL persistence (SQLAlchemy 2): users, strategies, jobs; migrations with Alembic."""

from quantdesk.storage.db import Database

__all__ = ["Database"]
