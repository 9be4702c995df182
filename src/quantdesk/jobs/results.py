"""Reading the JSON result files of a job as a stream of parser events (``ijson``).

Each reader keeps only what its answer holds (a page of trades, the positions of one page, the
summary), so the API's memory stays O(page) whatever the size of ``extracted.json`` /
``result.json``. Corrupt files raise ``CorruptFile``; missing or non-regular ones
``FileNotFoundError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from quantdesk.jobs.artifacts import CorruptFile, open_regular

#: Bytes the JSON parser reads at a time (it turns a whole read into events at once: a
#: smaller read keeps fewer pending events; 16 KiB is also faster than 64 KiB).
_PARSE_BUFFER = 16 * 1024
_OPENING = ("start_map", "start_array")
_CLOSING = ("end_map", "end_array")

#: A value's first parser event: ``(event, value)`` as ``ijson.basic_parse`` yields them.
_First = tuple[str, Any]


class _Events:
    """The parser events of one JSON document, with helpers to build, skip or walk a value.

    Each helper takes the value starting at a given first event and consumes that whole value.
    """

    def __init__(self, fh: BinaryIO) -> None:
        # Numbers as int/float like ``json.loads`` (not Decimal); the C backend when installed.
        self._events: Iterator[tuple[str, Any]] = ijson.basic_parse(
            fh, use_float=True, buf_size=_PARSE_BUFFER
        )

    def first(self) -> _First:
        for pair in self._events:
            return pair
        raise CorruptFile("the JSON text ends early")

    def value(self, first: _First) -> Any:
        """Build the value (iteratively: nesting depth costs no recursion)."""
        event, value = first
        if event == "start_map":
            root: Any = {}
        elif event == "start_array":
            root = []
        else:
            return value
        stack = [root]
        key: Any = None
        for event, value in self._events:
            if event == "map_key":
                key = value
                continue
            if event in _CLOSING:
                stack.pop()
                if not stack:
                    return root
                continue
            if event == "start_map":
                item: Any = {}
            elif event == "start_array":
                item = []
            else:
                item = value
            top = stack[-1]
            if type(top) is dict:
                top[key] = item
            else:
                top.append(item)
            if event in _OPENING:
                stack.append(item)
        raise CorruptFile("the JSON text ends early")

    def skip(self, first: _First) -> None:
        """Read past the value without building it."""
        if first[0] not in _OPENING:
            return
        depth = 1
        for event, _ in self._events:
            if event in _OPENING:
                depth += 1
            elif event in _CLOSING:
                depth -= 1
                if not depth:
                    return
        raise CorruptFile("the JSON text ends early")

    def members(self, first: _First, what: str) -> Iterator[tuple[str, _First]]:
        """``(key, first event of its value)`` of each member of the object.

        The caller consumes each value before asking for the next member.

        Raises:
            CorruptFile: the value is not an object (``what`` names it).
        """
        if first[0] != "start_map":
            raise CorruptFile(f"{what} is not an object")
        while True:
            event, key = self.first()
            if event == "end_map":
                return
            yield key, self.first()

    def items(self, first: _First, what: str) -> Iterator[_First]:
        """The first event of each item of the array.

        The caller consumes each item before asking for the next.

        Raises:
            CorruptFile: the value is not an array (``what`` names it).
        """
        if first[0] != "start_array":
            raise CorruptFile(f"{what} is not a list")
        while True:
            pair = self.first()
            if pair[0] == "end_array":
                return
            yield pair


#: Reads one top-level member's value (given its first event), consuming all of it.
_Handler = Callable[[_Events, _First], None]


def _scan(path: Path, handlers: dict[str, _Handler]) -> set[str]:
    """Read the top-level JSON object in ``path`` in one pass, calling ``handlers``.

    Gives the value of each key of ``handlers`` to its handler and skips every other value;
    stops reading as soon as every handler ran. Returns the keys found (first occurrence wins).

    Raises:
        FileNotFoundError: as ``open_regular``. CorruptFile: not JSON, not an object, or a
            handler refused its value.
    """
    pending = set(handlers)
    found: set[str] = set()
    with open_regular(path) as fh:
        events = _Events(fh)
        try:
            for key, first in events.members(events.first(), path.name):
                if key in pending:
                    handlers[key](events, first)
                    pending.discard(key)
                    found.add(key)
                    if not pending:
                        break
                else:
                    events.skip(first)
        except ijson.JSONError as exc:
            raise CorruptFile(f"{path.name} is not valid JSON") from exc
    return found


def _build_into(out: dict[str, Any], key: str) -> _Handler:
    def handler(events: _Events, first: _First) -> None:
        out[key] = events.value(first)

    return handler


def read_result_page(path: Path, start: int = 0, stop: int | None = None) -> dict[str, Any]:
    """The contract's result parts of ``extracted.json`` with trades ``[start, stop)`` only.

    In one pass: ``{"summary", "equity", "trade_columns", "raw_keys"}`` (each as stored,
    ``None`` when absent), ``"trades"`` (the list of those trade objects; empty when the file
    has none, or something else than a list, under ``trades``) and ``"trades_total"`` (how
    many trades the file holds, counted).

    Raises:
        FileNotFoundError: as ``open_regular``. CorruptFile: not JSON or not an object.
    """
    out: dict[str, Any] = dict.fromkeys(("summary", "equity", "trade_columns", "raw_keys"))
    page: list[Any] = []
    total = 0

    def trades(events: _Events, first: _First) -> None:
        nonlocal total
        if first[0] != "start_array":  # a missing or malformed field reads as empty
            events.skip(first)
            return
        for item in events.items(first, "trades"):
            if start <= total and (stop is None or total < stop):
                page.append(events.value(item))
            else:
                events.skip(item)
            total += 1

    handlers = {key: _build_into(out, key) for key in out}
    handlers["trades"] = trades
    _scan(path, handlers)
    out["trades"] = page
    out["trades_total"] = total
    return out


def read_trades_page(
    path: Path, start: int, stop: int, symbol: str | None = None
) -> tuple[list[Any], int]:
    """Trades ``[start, stop)`` of the ``trades`` list in ``extracted.json``, and their count.

    Only those of ``symbol`` (= their ``order_book_id``) when given; the count is of all of
    them. One pass, holding one page. No ``trades`` (absent or null) reads as none.

    Raises:
        FileNotFoundError: as ``open_regular``. CorruptFile: not JSON, not an object, or
            ``trades`` is neither a list nor null.
    """
    page, total, _ = read_list_page(path, "trades", start, stop, symbol)
    return page, total


def read_list_page(
    path: Path, key: str, start: int, stop: int, symbol: str | None = None
) -> tuple[list[Any], int, bool]:
    """Items ``[start, stop)`` of the top-level list ``key`` of a JSON object, and their count.

    Only the objects whose ``order_book_id`` is ``symbol`` when given (the count is of
    those). One pass, holding one page. Returns ``(page, total, found)``: ``found`` is False
    when the file has no ``key`` (``page`` empty, ``total`` 0); a null ``key`` is an empty
    list.

    Raises:
        FileNotFoundError: as ``open_regular``. CorruptFile: not JSON, not an object, or
            ``key`` is neither a list nor null.
    """
    page: list[Any] = []
    total = 0

    def items(events: _Events, first: _First) -> None:
        nonlocal total
        if first[0] == "null":
            return
        for item in events.items(first, key):
            if symbol is None:
                if start <= total < stop:
                    page.append(events.value(item))
                else:
                    events.skip(item)
                total += 1
                continue
            value = events.value(item)
            if isinstance(value, dict) and value.get("order_book_id") == symbol:
                if start <= total < stop:
                    page.append(value)
                total += 1

    found = key in _scan(path, {key: items})
    return page, total, found


def read_run_info(path: Path) -> dict[str, Any]:
    """The run's inputs and traded symbols from ``result.json``, in one pass.

    ``{"config", "conventions"}`` as stored (``None`` when absent) and ``"symbols"``, the
    sorted distinct ``order_book_id`` of its trades (as strings; none when ``trades`` is absent
    or null).

    Raises:
        FileNotFoundError: as ``open_regular``. CorruptFile: not JSON, not an object, or
            ``trades`` is not a list of objects.
    """
    out: dict[str, Any] = dict.fromkeys(("config", "conventions"))
    symbols: set[str] = set()

    def trades(events: _Events, first: _First) -> None:
        if first[0] == "null":
            return
        for item in events.items(first, "trades"):
            symbol: Any = None
            for key, value in events.members(item, "a trade"):
                if key == "order_book_id":
                    symbol = events.value(value)
                else:
                    events.skip(value)
            symbols.add(str(symbol))

    handlers = {key: _build_into(out, key) for key in out}
    handlers["trades"] = trades
    _scan(path, handlers)
    out["symbols"] = sorted(symbols)
    return out


def read_positions_page(
    path: Path, start: int, stop: int, date: str | None = None
) -> tuple[list[str], list[dict[str, Any]], int]:
    """Rows ``[start, stop)``, newest first, of the columnar ``positions`` table of ``result.json``.

    The table is ``{column: [value, ...]}``, rows in date order; only the rows whose ``date``
    equals ``date`` when given. Returns ``(columns, rows as {column: value}, total rows)``.

    Two passes over the table, never holding it: one counts the rows (and notes which
    match ``date``), the next keeps the values of the page's rows. Memory is O(page) plus
    O(rows matching ``date``). An absent or null table has no columns and no rows.

    Raises:
        FileNotFoundError: as ``open_regular``. CorruptFile: not JSON, not an object, or the
            table is not an object of equally long lists.
    """
    columns: list[str] = []
    lengths: list[int] = []
    matches: list[int] = []

    def count(events: _Events, first: _First) -> None:
        if first[0] == "null":
            return
        for column, values in events.members(first, "positions"):
            columns.append(column)
            n = 0
            for item in events.items(values, f"positions.{column}"):
                if date is not None and column == "date" and events.value(item) == date:
                    matches.append(n)
                else:
                    events.skip(item)
                n += 1
            lengths.append(n)

    _scan(path, {"positions": count})
    if len(set(lengths)) > 1:
        raise CorruptFile(f"the positions columns of {path.name} differ in length")
    if date is not None:
        total = len(matches)
        wanted = matches[::-1][start:stop]
    else:
        total = lengths[0] if lengths else 0
        wanted = list(range(total - 1 - start, total - 1 - min(stop, total), -1))
    if not wanted:
        return columns, [], total
    slot = {index: k for k, index in enumerate(wanted)}
    rows: list[dict[str, Any]] = [{} for _ in wanted]

    def pick(events: _Events, first: _First) -> None:
        for column, values in events.members(first, "positions"):
            for n, item in enumerate(events.items(values, f"positions.{column}")):
                k = slot.get(n)
                if k is None:
                    events.skip(item)
                else:
                    rows[k][column] = events.value(item)

    _scan(path, {"positions": pick})
    if any(list(row) != columns for row in rows):
        raise CorruptFile(f"the positions of {path.name} changed while being read")
    return columns, rows, total


def read_json_members(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values of the top-level ``keys`` of the JSON object in ``path`` (``None`` when absent).

    In one pass that stops once all were read. Meant for small members.

    Raises:
        FileNotFoundError: as ``open_regular``. CorruptFile: not JSON or not an object.
    """
    out: dict[str, Any] = dict.fromkeys(keys)
    _scan(path, {key: _build_into(out, key) for key in keys})
    return out


def iter_json_items(path: Path, key: str) -> Iterator[Any]:
    """Each item of the top-level list ``key`` of the JSON object in ``path``, one at a time.

    Nothing when ``key`` is absent or null. The file is opened now and read as the items are
    consumed.

    Raises:
        FileNotFoundError: as ``open_regular`` (at once). CorruptFile: while iterating, when
            the text is not JSON or ``key`` is not a list.
    """
    return _items_of(open_regular(path), path.name, key)


def _items_of(fh: BinaryIO, name: str, key: str) -> Iterator[Any]:
    with fh:
        events = _Events(fh)
        try:
            for member, first in events.members(events.first(), name):
                if member != key:
                    events.skip(first)
                    continue
                if first[0] == "null":
                    return
                for item in events.items(first, key):
                    yield events.value(item)
                return
        except ijson.JSONError as exc:
            raise CorruptFile(f"{name} is not valid JSON") from exc
