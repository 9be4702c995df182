"""Loading a user's strategy source and running its hooks with user-only tracebacks."""

from __future__ import annotations

import ast
import linecache
import sys
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from quantdesk.core.errors import InvalidArgument, StrategyError, StrategySyntaxError

#: Hooks a strategy may define (RQAlpha names).
HOOKS = ("init", "before_trading", "handle_bar", "after_trading")

#: Module names that resolve to our API while a strategy is loaded and run.
SHIM_MODULES = ("rqalpha", "rqalpha.api", "rqalpha.apis", "rqalpha.const")

Hook = Callable[..., Any]


class Strategy:
    """A compiled strategy: its namespace, hooks and declared ``PARAMS`` defaults."""

    def __init__(self, namespace: dict[str, Any], filename: str) -> None:
        self.namespace = namespace
        self.filename = filename
        self.hooks: dict[str, Hook | None] = {}
        for name in HOOKS:
            fn = namespace.get(name)
            self.hooks[name] = fn if callable(fn) else None
        if not any(self.hooks.values()):
            raise InvalidArgument(
                f"{filename} defines none of {', '.join(HOOKS)}; an RQAlpha-style strategy "
                "needs at least init(context) and handle_bar(context, bar_dict)"
            )
        defaults = namespace.get("PARAMS", {})
        if not isinstance(defaults, Mapping):
            raise InvalidArgument(f"{filename}: PARAMS must be a dict of parameter defaults")
        self.param_defaults: dict[str, Any] = dict(defaults)

    def call(self, hook: str, *args: Any) -> None:
        """Run ``hook(*args)`` if defined; wrap its exceptions in ``StrategyError``."""
        fn = self.hooks[hook]
        if fn is None:
            return
        try:
            fn(*args)
        except StrategyError:
            raise
        except (Exception, SystemExit) as exc:
            # SystemExit too: a strategy calling exit() must fail the run, not end the process.
            raise self.error(exc, hook) from exc

    def error(self, exc: BaseException, hook: str) -> StrategyError:
        """The ``StrategyError`` for ``exc`` raised by ``hook`` (as ``call`` raises it)."""
        return user_error(exc, self.filename, f"in {hook}")


def exec_source(source: str, filename: str, namespace: dict[str, Any]) -> None:
    """Compile ``source`` as ``filename`` and execute it in ``namespace``.

    Shared by every in-process engine; tracebacks show the user's lines.

    Raises:
        StrategySyntaxError: the source does not parse (message names the line).
        StrategyError: the module body raised.
    """
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        detail = (exc.text or "").strip()
        message = f"syntax error in {filename} line {exc.lineno}: {exc.msg}"
        if detail:
            message += f"\n    {detail}"
        raise StrategySyntaxError(message, exc.lineno, exc.offset) from None
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    try:
        exec(code, namespace)
    except (Exception, SystemExit) as exc:
        raise user_error(exc, filename, "while loading the strategy") from exc


def compile_strategy(source: str, filename: str, api: Mapping[str, Any]) -> Strategy:
    """Compile and execute the strategy module with ``api`` in its namespace.

    ``from rqalpha.api import *`` (and ``rqalpha.apis``) resolve to ``api`` while this runs;
    call it inside ``shim_rqalpha(api)`` so imports inside hooks resolve too.

    Raises:
        StrategySyntaxError: the source does not parse (message names the line).
        StrategyError: the module body raised.
        InvalidArgument: no hook defined, or ``PARAMS`` is not a dict.
    """
    namespace: dict[str, Any] = {"__name__": "strategy", "__file__": filename}
    namespace.update(api)
    exec_source(source, filename, namespace)
    return Strategy(namespace, filename)


@contextmanager
def shim_rqalpha(api: Mapping[str, Any]) -> Iterator[None]:
    """Make ``rqalpha``, ``rqalpha.api`` and ``rqalpha.apis`` resolve to ``api``."""
    saved = {name: sys.modules.get(name) for name in SHIM_MODULES}
    names = sorted(api)
    for name in SHIM_MODULES:
        module = types.ModuleType(name, "quantdesk's RQAlpha-compatible strategy API")
        module.__dict__.update(api)
        module.__all__ = names  # type: ignore[attr-defined]
        sys.modules[name] = module
    root: Any = sys.modules["rqalpha"]
    root.api = sys.modules["rqalpha.api"]
    root.apis = sys.modules["rqalpha.apis"]
    root.const = sys.modules["rqalpha.const"]
    root.__path__ = []  # a package: ``from rqalpha.const import SIDE`` resolves
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


def user_error(exc: BaseException, filename: str, where: str) -> StrategyError:
    """A ``StrategyError`` whose traceback keeps only the frames of ``filename``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    lines = ["Traceback (most recent call last):\n"]
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    user_tb = "".join(lines)
    last = frames[-1] if frames else None
    loc = f" at {filename} line {last.lineno}, in {last.name}" if last else ""
    message = f"{type(exc).__name__}: {exc}{loc} ({where})"
    return StrategyError(message, user_tb)


def resolve_params(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``given`` over the strategy's ``PARAMS`` defaults, checking names and types.

    String values (from the CLI or a form) are converted to the default's type (int, float,
    bool, str); without a default they are read as Python literals when possible.

    Raises:
        InvalidArgument: unknown name (when the strategy declares PARAMS) or a value that
            does not fit the default's type.
    """
    merged = dict(defaults)
    for name, value in given.items():
        if defaults and name not in defaults:
            known = ", ".join(sorted(defaults))
            raise InvalidArgument(f"unknown parameter {name!r}; this strategy's PARAMS: {known}")
        merged[name] = _coerce(name, value, defaults.get(name))
    return merged


def _coerce(name: str, value: Any, default: Any) -> Any:
    if default is None:
        if isinstance(value, str):
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return value
        return value
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        try:
            if kind is bool:
                lowered = text.lower()
                if lowered in ("true", "1", "yes", "on"):
                    return True
                if lowered in ("false", "0", "no", "off"):
                    return False
                raise ValueError(text)
            if kind in (int, float):
                return kind(text)
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise InvalidArgument(
                f"parameter {name!r} expects {kind.__name__}, got {value!r}"
            ) from None
        if isinstance(parsed, kind):
            return parsed
        raise InvalidArgument(f"parameter {name!r} expects {kind.__name__}, got {value!r}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise InvalidArgument(
        f"parameter {name!r} expects {kind.__name__}, got {type(value).__name__} {value!r}"
    )
