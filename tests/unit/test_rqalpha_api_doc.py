"""``docs/rqalpha-api.md`` against the native engine's namespace and RQAlpha 6.4's exports.

The doc's tables must stay true: a name marked ``supported`` or ``partial`` exists in the
strategy namespace, a name marked ``not supported`` does not, every native name is listed,
the object attributes exist (or not) on the objects a strategy receives, and, when RQAlpha's
venv is there, the main table lists exactly the names RQAlpha 6.4 exports to strategies.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from quantdesk.engine import Engine, EngineConfig, market_profile
from quantdesk.engine.strategy import HOOKS
from tests.fixtures.bars import MemoryBarSource, series, stock, weekdays

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "rqalpha-api.md"

STATUSES = ("supported", "partial", "not supported")
#: A table row whose first cell is a backquoted name: ``| `name` | status | notes |``.
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|([^|]*)\|.*\|\s*$")

#: The doc's ``##`` sections holding tables (``###`` subsections belong to their ``##``).
NAMESPACE = "Names in the strategy namespace"
ADDITIONS = "quantdesk additions"
HOOK_SECTION = "Strategy hooks"
OBJECTS = "Objects and their attributes"

#: Runs every hook once and hands the objects it sees to the test through ``params``.
STRATEGY = """
from rqalpha.apis import *

NAMES = sorted(name for name in globals() if not name.startswith("__"))


def on_trade(context, event):
    context.params["sink"].setdefault("trade", event.trade)


def init(context):
    sink = context.params["sink"]
    sink.update(names=NAMES, context=context, run_info=context.run_info)
    sink["instrument"] = instruments("A")
    subscribe_event(EVENT.TRADE, on_trade)


def handle_bar(context, bar_dict):
    sink = context.params["sink"]
    if "order" not in sink:
        sink["order"] = order_shares("A", 10)
        sink.update(bar=bar_dict["A"], portfolio=context.portfolio)
        sink.update(account=context.stock_account, position=get_position("A"))
"""

#: What RQAlpha exports to strategies: ``rqalpha.api.__all__`` once its API modules are
#: imported, every ``export_as_api`` use in ``rqalpha/apis`` and ``rqalpha/mod`` (the mods
#: export ``scheduler``, ``plot``... only when they start), and the names ``main.py`` adds to
#: the strategy's scope (``g``).
INTROSPECT = r"""
import ast, json, pathlib
import rqalpha, rqalpha.api, rqalpha.apis
import rqalpha.mod.rqalpha_mod_sys_accounts.api.api_future
import rqalpha.mod.rqalpha_mod_sys_accounts.api.order_target_portfolio

root = pathlib.Path(rqalpha.__file__).parent
names = set(rqalpha.api.__all__)


def is_export(node):
    return "export_as_api" in (getattr(node, "id", None), getattr(node, "attr", None))


def given_name(call):
    for kw in call.keywords:
        if kw.arg == "name" and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


files = sorted(root.joinpath("apis").glob("*.py")) + sorted(root.joinpath("mod").rglob("*.py"))
for path in files:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for deco in node.decorator_list:
                call = deco if isinstance(deco, ast.Call) else None
                if is_export(call.func if call else deco):
                    names.add((call and given_name(call)) or node.name)
        elif isinstance(node, ast.Call) and is_export(node.func) and node.args:
            arg = node.args[0]
            names.add(given_name(node) or getattr(arg, "id", None) or arg.attr)

for node in ast.walk(ast.parse(root.joinpath("main.py").read_text(encoding="utf-8"))):
    func = getattr(node, "func", None)
    if (isinstance(node, ast.Call) and getattr(func, "attr", None) == "update"
            and getattr(func.value, "id", None) == "scope"
            and node.args and isinstance(node.args[0], ast.Dict)):
        names.update(k.value for k in node.args[0].keys if isinstance(k, ast.Constant))

print(json.dumps({"version": rqalpha.__version__, "names": sorted(names)}))
"""


def parse_doc(text: str) -> dict[str, dict[str, str]]:
    """``{section: {name: status}}`` of the doc's tables, by ``##`` section.

    Raises:
        AssertionError: a row with an unknown status, or a name listed twice in a section.
    """
    tables: dict[str, dict[str, str]] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("| `"):
            match = ROW.match(line)
            assert match, f"docs/rqalpha-api.md line {number}: not a name | status | notes row"
            name, status = match[1].removesuffix("()"), match[2].strip()
            assert status in STATUSES, f"line {number}: status {status!r} is not one of {STATUSES}"
            rows = tables.setdefault(section, {})
            assert name not in rows, f"line {number}: {name} is listed twice in {section!r}"
            rows[name] = status
    return tables


@pytest.fixture(scope="module")
def doc() -> dict[str, dict[str, str]]:
    tables = parse_doc(DOC.read_text(encoding="utf-8"))
    for section in (NAMESPACE, ADDITIONS, HOOK_SECTION, OBJECTS):
        assert tables.get(section), f"docs/rqalpha-api.md has no table under '## {section}'"
    return tables


@pytest.fixture(scope="module")
def native() -> dict[str, Any]:
    """The names and objects a strategy sees in a short run of the native engine."""
    dates = weekdays(dt.date(2021, 3, 1), 3)
    source = MemoryBarSource(dates, {"A": (stock("A"), series("A", dates, [10.0, 11.0, 12.0]))})
    sink: dict[str, Any] = {}
    config = EngineConfig(
        start=dates[0],
        end=dates[-1],
        cash=100_000.0,
        universe=("A",),
        benchmark=None,
        profile=market_profile("us_stock"),
        params={"sink": sink},
    )
    Engine(source, config).run(STRATEGY)
    wanted = {"names", "context", "run_info", "instrument", "order", "bar", "portfolio"}
    wanted |= {"account", "position", "trade"}
    assert wanted <= set(sink), f"the strategy did not record {sorted(wanted - set(sink))}"
    return sink


def documented(doc: dict[str, dict[str, str]], *sections: str) -> dict[str, str]:
    return {name: status for s in sections for name, status in doc[s].items()}


def test_supported_names_are_in_the_native_namespace(doc, native) -> None:
    names = set(native["names"])
    missing = [
        name
        for name, status in documented(doc, NAMESPACE, ADDITIONS).items()
        if status != "not supported" and name not in names and not hasattr(builtins, name)
    ]
    assert not missing, f"docs/rqalpha-api.md marks {missing} available, the engine lacks them"


def test_unsupported_names_are_not_in_the_native_namespace(doc, native) -> None:
    names = set(native["names"])
    defined = [n for n, s in doc[NAMESPACE].items() if s == "not supported" and n in names]
    assert not defined, f"the engine defines {defined} now: update their rows in the doc"


def test_every_native_name_is_documented(doc, native) -> None:
    assert not doc[NAMESPACE].keys() & doc[ADDITIONS].keys()
    undocumented = set(native["names"]) - documented(doc, NAMESPACE, ADDITIONS).keys()
    assert not undocumented, f"add {sorted(undocumented)} to docs/rqalpha-api.md"


def test_hooks_match_the_engine(doc) -> None:
    hooks = doc[HOOK_SECTION]
    assert {name for name, status in hooks.items() if status != "not supported"} == set(HOOKS)


def test_object_attributes_match_the_objects_a_strategy_receives(doc, native) -> None:
    wrong = []
    for name, status in doc[OBJECTS].items():
        kind, _, attribute = name.partition(".")
        assert kind in native and attribute, f"{name}: unknown object {kind!r}"
        if hasattr(native[kind], attribute) != (status != "not supported"):
            wrong.append(f"{name} ({status})")
    assert not wrong, f"docs/rqalpha-api.md is wrong about {wrong}"


def rqalpha_python() -> str:
    """The Python of RQAlpha's venv: ``.venv-rqalpha``, else beside ``RQALPHA_COMMAND``."""
    candidates = [ROOT / ".venv-rqalpha" / "bin" / "python"]
    command = shlex.split(os.environ.get("RQALPHA_COMMAND") or "")
    if command:
        first = Path(shutil.which(command[0]) or command[0])
        candidates.append(first.parent / "python" if first.name == "rqalpha" else first)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    message = "RQAlpha's venv is missing (run `make rqalpha`): cannot list its exports"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def test_the_namespace_table_lists_exactly_what_rqalpha_exports(doc) -> None:
    command = [rqalpha_python(), "-c", INTROSPECT]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    exported = json.loads(out.stdout)
    assert exported["version"].startswith("6.4."), exported["version"]
    rqalpha_names = set(exported["names"])
    assert len(rqalpha_names) > 80, "the introspection found too few names"
    listed = set(doc[NAMESPACE])
    assert not rqalpha_names - listed, f"add {sorted(rqalpha_names - listed)} to the doc"
    assert not listed - rqalpha_names, f"RQAlpha does not export {sorted(listed - rqalpha_names)}"
    moved = sorted(rqalpha_names & set(doc[ADDITIONS]))
    assert not moved, f"{moved} are RQAlpha names: move them to '## {NAMESPACE}'"
