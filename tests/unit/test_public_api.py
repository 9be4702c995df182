"""The public surface: the names of ``quantdesk``, ``quantdesk.engine`` and ``quantdesk.data``
are pinned (a change here is an API change), the package is typed (``py.typed``), and the
engine adapters import only public names."""

from __future__ import annotations

import ast
import importlib
import tomllib
from pathlib import Path

import pytest

import quantdesk

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {
    "quantdesk": [
        "Adjust", "BacktestResult", "BacktestSpec", "Catalog", "__version__", "all_instruments",
        "get_price", "index_components", "index_weights", "load_job", "run_backtest",
        "run_spec",
    ],
    "quantdesk.engine": [
        "MAX_AMOUNT", "BarSeries", "BarSource", "Engine", "EngineConfig", "EngineResult", "Fill",
        "MarketName", "MarketProfile", "Matching", "Order", "OrderStatus", "PrintToLog",
        "RejectReason", "Side", "exec_source", "limit_prices", "market_profile",
        "order_quantities", "params_schema", "price_limits", "resolve_params", "user_error",
    ],
    "quantdesk.data": ["Adjust", "Catalog", "CatalogBarSource", "ImportReport"],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_are_pinned_and_resolve(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(PUBLIC[module])
    for name in mod.__all__:
        assert getattr(mod, name) is not None


def test_the_top_level_package_is_typed_versioned_and_lists_its_names() -> None:
    assert dir(quantdesk) == sorted(quantdesk.__all__)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert quantdesk.__version__ == version
    assert (Path(quantdesk.__file__).parent / "py.typed").is_file()
    with pytest.raises(AttributeError):
        _ = quantdesk.not_a_name


def test_engine_adapters_import_only_public_names() -> None:
    adapters = ROOT / "src" / "quantdesk" / "backtest" / "engines"
    bad = []
    for path in sorted(adapters.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.module is None:
                continue
            for package in ("quantdesk.engine", "quantdesk.data"):
                if node.module == package:
                    public = set(importlib.import_module(package).__all__)
                    bad += [f"{path.name}: {a.name}" for a in node.names if a.name not in public]
                elif node.module.startswith(package + "."):
                    bad.append(f"{path.name}: from {node.module} import ...")
    assert not bad, bad
