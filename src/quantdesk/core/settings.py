"""Settings from the environment / ``.env`` (read only where an entry point builds them)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process settings. Environment variable names are the field names in upper case.

    Attributes:
        data_dir: Market-data catalog root (``DATA_DIR``), default ``./var/data``.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_dir: Path = Path("var/data")
