"""SQL persistence (SQLAlchemy 2): users, strategies, jobs; migrations with Alembic."""

from sqlalchemy.orm import Session as DbSession

from quantdesk.storage.db import Database

__all__ = ["Database", "DbSession"]
