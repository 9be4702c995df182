"""Installed package versions (for results that record which engine produced them)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version(distribution: str) -> str:
    """The installed version of ``distribution``.

    ``"0+unknown"`` when it has no metadata (e.g. a source tree that was never installed).
    """
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "0+unknown"
