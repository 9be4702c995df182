"""Shared fixtures: a catalog with the real demo data, imported once per test session, and
private copies of it for tests that write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from quantdesk.data import Catalog
from quantdesk.data.demo import import_demo
from tests.fixtures.ashares import a_share_catalog as make_a_share_catalog

pytest_plugins = ["tests.fixtures.platform"]


@pytest.fixture(scope="session")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A catalog under a temp folder holding the bundled demo data (read-only by convention)."""
    root = tmp_path_factory.mktemp("catalog")
    catalog = Catalog(root)
    import_demo(catalog)
    return catalog


@pytest.fixture(scope="session")
def a_share_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The demo catalog plus real bars imported as A-share ids (``tests.fixtures.ashares``)."""
    return make_a_share_catalog(tmp_path_factory.mktemp("a_shares"))


@pytest.fixture(scope="session")
def demo_data_dir(demo_catalog: Catalog) -> Path:
    """The folder of ``demo_catalog`` (for ``--data-dir`` / ``DATA_DIR``)."""
    return demo_catalog.root


@pytest.fixture
def catalog_copy(tmp_path: Path, demo_data_dir: Path) -> Path:
    """A private copy of the demo catalog (uploads and updates write to it)."""
    target = tmp_path / "data"
    shutil.copytree(demo_data_dir, target)
    return target
