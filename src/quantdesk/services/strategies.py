"""Strategies: code files in the contract's layout, metadata in the database.

The local admin's strategies live at ``<BACKTEST_BASE_DIR>/strategies/<id>.py`` exactly as the
contract lays them out (files found there without metadata are adopted as legacy strategies,
``created_at`` null); every other user's at ``strategies/users/<userid>/<id>.py``, so ids are
per user and one user never sees another's.
"""

from __future__ import annotations

import ast
import builtins
import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

from quantdesk.core.clock import iso_utc, utcnow
from quantdesk.core.errors import Conflict, InvalidArgument, NotFound, Unprocessable
from quantdesk.core.events import EventKind
from quantdesk.core.files import atomic_write_bytes
from quantdesk.core.pysource import parse_module
from quantdesk.core.settings import Settings
from quantdesk.engine.params_schema import params_schema
from quantdesk.services.auth import Principal
from quantdesk.services.views_strategies import (
    ParamSpec,
    Renamed,
    RenameMap,
    Strategy,
    StrategyList,
    StrategyMeta,
    StrategyParams,
    StrategyVersion,
    StrategyVersions,
    Template,
    VersionInfo,
)
from quantdesk.storage import Database, job_queries
from quantdesk.storage import events as event_store
from quantdesk.storage import renames as rename_store
from quantdesk.storage import strategies as strategy_store
from quantdesk.storage.models import StrategyRow

#: Every CJK Unified Ideographs block (Unicode 17: the main block, extensions A-J) and the
#: two compatibility blocks, as regex ranges.
CJK_RANGES = (
    "\u3400-\u4dbf"  # Extension A
    "\u4e00-\u9fff"  # CJK Unified Ideographs
    "\uf900-\ufaff"  # Compatibility Ideographs
    "\U00020000-\U0002a6df"  # Extension B
    "\U0002a700-\U0002ee5f"  # Extensions C, D, E, F, I
    "\U0002f800-\U0002fa1f"  # Compatibility Ideographs Supplement
    "\U00030000-\U0003347f"  # Extensions G, H, J
)
#: 1-64 characters: CJK ideographs, ASCII letters, digits, ``_`` and ``-`` (the contract's rule).
STRATEGY_ID = re.compile(rf"[{CJK_RANGES}A-Za-z0-9_-]{{1,64}}")
#: Longest file name (bytes) on Linux file systems: 64 ideographs outside the BMP take 256.
NAME_MAX = 255
MAX_CODE_BYTES = 1_000_000


def code_file_name(strategy_id: str, suffix: str = ".py") -> str:
    """``<strategy_id>.py`` (the contract's name), shortened when it exceeds ``NAME_MAX`` bytes.

    Only ids of mostly supplementary-plane ideographs (4 UTF-8 bytes each) are that long:
    they keep as many leading characters as fit, then ``~`` and 16 hex digits of the id's
    SHA-256 (``~`` is never in an id, so no other id has that name).
    """
    name = f"{strategy_id}{suffix}"
    if len(name.encode()) <= NAME_MAX:
        return name
    digest = hashlib.sha256(strategy_id.encode()).hexdigest()[:16]
    head = strategy_id
    while len(f"{head}~{digest}{suffix}".encode()) > NAME_MAX:
        head = head[:-1]
    return f"{head}~{digest}{suffix}"


def check_inline_code(code: str) -> str:
    """An inline strategy (``strategy_code``), checked like a saved one would be run.

    Raises:
        InvalidArgument: empty, larger than ``MAX_CODE_BYTES``, or not valid Python (the
            message gives the line).
    """
    if not code.strip():
        raise InvalidArgument("strategy_code is empty")
    if len(code.encode("utf-8")) > MAX_CODE_BYTES:
        raise InvalidArgument(f"strategy_code is larger than {MAX_CODE_BYTES} bytes")
    try:
        parse_module(code, "strategy.py")
    except SyntaxError as exc:
        raise InvalidArgument(
            f"strategy_code has a syntax error at line {exc.lineno}: {exc.msg}"
        ) from None
    return code


def check_strategy_id(value: object, field: str = "strategy_id") -> str:
    """Return ``value`` if it is a valid strategy id.

    Raises:
        InvalidArgument: names ``field`` and what is wrong.
    """
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{field} is required")
    if len(value) > 64:
        raise InvalidArgument(f"{field} must be at most 64 characters")
    if not STRATEGY_ID.fullmatch(value):
        raise InvalidArgument(
            f"{field} contains invalid characters (allowed: CJK, letters, digits, _ and -)"
        )
    return value


def _template_files() -> list[Path]:
    """The bundled example strategies.

    ``quantdesk/templates`` in a wheel, else ``examples/`` of the source checkout.
    """
    packaged = Path(__file__).resolve().parents[1] / "templates"
    source = Path(__file__).resolve().parents[3] / "examples"
    folder = packaged if packaged.is_dir() else source
    return sorted(folder.glob("*.py")) if folder.is_dir() else []


def check_template(value: object) -> str:
    """Return ``value`` if it names a bundled template.

    Raises:
        InvalidArgument: it does not (the message lists the templates).
    """
    known = sorted(p.stem for p in _template_files())
    if not isinstance(value, str) or value not in known:
        raise InvalidArgument(f"unknown template {value!r}; templates: {', '.join(known)}")
    return value


def _metadata(name: object, description: object, tags: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name is not None:
        if not isinstance(name, str) or len(name) > 200:
            raise InvalidArgument("name must be a string of at most 200 characters")
        out["name"] = name
    if description is not None:
        if not isinstance(description, str) or len(description) > 10_000:
            raise InvalidArgument("description must be a string of at most 10000 characters")
        out["description"] = description
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            raise InvalidArgument("tags must be a list of non-empty strings")
        out["tags"] = sorted(set(tags))
    return out


def _meta_view(row: StrategyRow) -> StrategyMeta:
    return StrategyMeta(
        id=row.id, name=row.name, description=row.description, tags=list(row.tags or []),
        version=row.version, created_at=iso_utc(row.created_at),
        updated_at=iso_utc(row.updated_at), size=row.size,
    )  # fmt: skip


def _rename_id(value: object, field: str) -> str:
    """A valid strategy id for the rename endpoints, which answer 422 otherwise."""
    try:
        return check_strategy_id(value, field)
    except InvalidArgument as exc:
        raise Unprocessable(exc.message) from None


class StrategyService:
    """List, read and save strategies of the calling user."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._root = settings.backtest_base_dir / "strategies"

    def code_path(self, owner_id: int, strategy_id: str) -> Path:
        """Where the code of ``strategy_id`` of ``owner_id`` is stored (``code_file_name``)."""
        if owner_id == self._settings.local_auth_user_id:
            return self._root / code_file_name(strategy_id)
        return self._root / "users" / str(owner_id) / code_file_name(strategy_id)

    def _adopt_legacy(self, principal: Principal) -> None:
        """Give the local admin metadata rows for code files that have none."""
        if principal.user_id != self._settings.local_auth_user_id or not self._root.is_dir():
            return
        files = {
            p.stem: p
            for p in self._root.glob("*.py")
            if p.is_file() and STRATEGY_ID.fullmatch(p.stem)
        }
        if not files:
            return
        with self._db.read() as session:
            known = strategy_store.ids(session, principal.user_id)
        missing = {sid: p for sid, p in files.items() if sid not in known}
        if not missing:
            return
        with self._db.write() as session:
            for sid, path in missing.items():
                data = path.read_bytes()
                mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
                if strategy_store.get(session, principal.user_id, sid) is None:
                    strategy_store.save(
                        session, owner_id=principal.user_id, strategy_id=sid, size=len(data),
                        code_sha256=hashlib.sha256(data).hexdigest(), now=mtime, created_at=None,
                    )  # fmt: skip

    def list(self, principal: Principal, q: str | None, limit: int, offset: int) -> StrategyList:
        """The caller's strategies whose id contains ``q``, newest update first, and the total."""
        self._adopt_legacy(principal)
        with self._db.read() as session:
            rows, total = strategy_store.search(session, principal.user_id, q, limit, offset)
            items = [_meta_view(r) for r in rows]
        return StrategyList(strategies=items, total=total)

    def get(self, principal: Principal, strategy_id: str) -> Strategy:
        """One strategy with its ``code`` and parameter schema (an old id reads the new one).

        Raises:
            InvalidArgument: malformed id.
            NotFound: no such strategy of the caller.
        """
        check_strategy_id(strategy_id)
        self._adopt_legacy(principal)
        strategy_id = self.resolve(principal, strategy_id)
        with self._db.read() as session:
            row = strategy_store.get(session, principal.user_id, strategy_id)
            view = _meta_view(row) if row else None
        if view is None:
            raise NotFound(f"strategy {strategy_id!r} not found")
        code = self.read_code(principal, strategy_id)
        return Strategy(
            **view.model_dump(), code=code, params_schema=ParamSpec.of(params_schema(code))
        )

    def params(self, principal: Principal, strategy_id: str) -> StrategyParams:
        """The parameter schema of a strategy's saved code (``PARAMS``, read without running it).

        Raises:
            InvalidArgument: malformed id. NotFound: no such strategy of the caller.
        """
        check_strategy_id(strategy_id)
        strategy_id = self.resolve(principal, strategy_id)
        code = self.read_code(principal, strategy_id)
        return StrategyParams(strategy_id=strategy_id, params=ParamSpec.of(params_schema(code)))

    def name_and_version(self, principal: Principal, strategy_id: str) -> tuple[str, int | None]:
        """The ``name`` ('' when unnamed) and latest saved version of a strategy of the caller.

        ``("", None)`` when there is no such strategy.
        """
        with self._db.read() as session:
            row = strategy_store.get(session, principal.user_id, strategy_id)
            return (row.name, row.version or None) if row is not None else ("", None)

    def resolve(self, principal: Principal, strategy_id: str) -> str:
        """The current id of ``strategy_id`` (itself unless it was renamed away)."""
        with self._db.read() as session:
            if strategy_store.get(session, principal.user_id, strategy_id) is not None:
                return strategy_id
            return rename_store.resolve(session, principal.user_id, strategy_id) or strategy_id

    def rename_map(self, principal: Principal) -> RenameMap:
        """``{old_id: current_id}`` of the caller (§2.2)."""
        with self._db.read() as session:
            return RenameMap(map=rename_store.mapping(session, principal.user_id))

    def add_rename(self, principal: Principal, from_id: str, to_id: str) -> RenameMap:
        """Record a rename map entry by hand (§2.2); chains are compressed.

        Raises:
            Unprocessable: an id is missing or invalid (the message names it).
        """
        src, dst = _rename_id(from_id, "from_id"), _rename_id(to_id, "to_id")
        with self._db.write() as session:
            live = strategy_store.get(session, principal.user_id, dst) is not None
            rename_store.add(session, principal.user_id, src, dst, utcnow(), target_is_live=live)
        return self.rename_map(principal)

    def rename(
        self, principal: Principal, from_id: str, to_id: str, code: str | None = None
    ) -> Renamed:
        """Rename a strategy (§2.1) in one transaction; idempotent.

        The code file moves (or ``code`` overwrites the target), metadata and jobs move to the
        new id, and the rename map gets ``from_id -> to_id`` (chains compressed), so the old id
        keeps resolving for reads, history and runs.

        Raises:
            Unprocessable: invalid ids. NotFound: no source. Conflict: the target exists.
        """
        src, dst = _rename_id(from_id, "from_id"), _rename_id(to_id, "to_id")
        if src == dst:
            return Renamed(from_id=src, to_id=dst, deleted_old=False,
                           warning="noop: from_id equals to_id")  # fmt: skip
        owner = principal.user_id
        old_path, new_path = self.code_path(owner, src), self.code_path(owner, dst)
        with self._db.write() as session:
            source = strategy_store.get(session, owner, src)
            target = strategy_store.get(session, owner, dst)
            if source is None:
                if target is not None and rename_store.resolve(session, owner, src) == dst:
                    return Renamed(from_id=src, to_id=dst, deleted_old=True,
                                   warning="noop: already renamed")  # fmt: skip
                raise NotFound(f"strategy {src!r} not found")
            if target is not None:
                raise Conflict(f"strategy {dst!r} already exists")
            data = code.encode() if code is not None else old_path.read_bytes()
            atomic_write_bytes(new_path, data)
            try:
                now = utcnow()
                strategy_store.save(
                    session,
                    owner_id=owner,
                    strategy_id=dst,
                    size=len(data),
                    code_sha256=hashlib.sha256(data).hexdigest(),
                    now=now,
                    created_at=source.created_at,
                )
                moved = strategy_store.get(session, owner, dst)
                if moved is not None:
                    strategy_store.copy_metadata(source, moved)
                strategy_store.delete_row(session, source)
                strategy_store.move_versions(session, owner, src, dst)
                if code is not None and moved is not None:
                    strategy_store.add_version(session, moved, code, moved.code_sha256, now)
                job_queries.rename_strategy(session, owner, src, dst)
                rename_store.add(session, owner, src, dst, now, target_is_live=True)
                event_store.append(session, EventKind.STRATEGY_RENAMED, dst, user_id=owner,
                                   data={"from_id": src}, now=now)  # fmt: skip
            except BaseException:
                new_path.unlink(missing_ok=True)
                raise
        old_path.unlink(missing_ok=True)
        return Renamed(from_id=src, to_id=dst, deleted_old=True, warning="")

    def read_code(self, principal: Principal, strategy_id: str) -> str:
        """The code of a strategy of the caller.

        Raises:
            NotFound: no such strategy (or its file is gone).
        """
        strategy_id = self.resolve(principal, strategy_id)
        with self._db.read() as session:
            exists = strategy_store.get(session, principal.user_id, strategy_id) is not None
        path = self.code_path(principal.user_id, strategy_id)
        if not exists or not path.is_file():
            raise NotFound(f"strategy {strategy_id!r} not found")
        return path.read_text(encoding="utf-8")

    def save(
        self,
        principal: Principal,
        strategy_id: str,
        code: object,
        *,
        name: object = None,
        description: object = None,
        tags: object = None,
    ) -> StrategyMeta:
        """Create or replace the code of ``strategy_id`` (keeping a version); returns its metadata.

        ``name``, ``description`` and ``tags`` are updated when given.

        Raises:
            InvalidArgument: malformed id, code not a string or larger than 1 MB, bad metadata.
        """
        check_strategy_id(strategy_id)
        if not isinstance(code, str):
            raise InvalidArgument("code must be a string")
        data = code.encode("utf-8")
        if len(data) > MAX_CODE_BYTES:
            raise InvalidArgument(f"code is larger than {MAX_CODE_BYTES} bytes")
        meta = _metadata(name, description, tags)
        digest = hashlib.sha256(data).hexdigest()
        now = utcnow()
        with self._db.write() as session:
            row = strategy_store.get(session, principal.user_id, strategy_id)
            created = row.created_at if row is not None else now
            atomic_write_bytes(self.code_path(principal.user_id, strategy_id), data)
            row = strategy_store.save(
                session, owner_id=principal.user_id, strategy_id=strategy_id, size=len(data),
                code_sha256=digest, now=now, created_at=created,
            )  # fmt: skip
            strategy_store.set_metadata(row, **meta)
            strategy_store.add_version(session, row, code, digest, now)
            saved = {"version": row.version, "size": len(data)}
            event_store.append(session, EventKind.STRATEGY_SAVED, strategy_id,
                               user_id=principal.user_id, data=saved, now=now)  # fmt: skip
            return _meta_view(row)

    def versions(self, principal: Principal, strategy_id: str) -> StrategyVersions:
        """Every saved version of a strategy (without the code), newest first.

        Raises:
            NotFound: no such strategy.
        """
        strategy_id = self._existing(principal, strategy_id)
        with self._db.read() as session:
            rows = strategy_store.versions(session, principal.user_id, strategy_id)
            items = [
                VersionInfo(version=r.version, created_at=iso_utc(r.created_at), size=r.size,
                            sha256=r.code_sha256)
                for r in rows
            ]  # fmt: skip
        return StrategyVersions(strategy_id=strategy_id, versions=items)

    def version(self, principal: Principal, strategy_id: str, number: int) -> StrategyVersion:
        """One old version with its ``code`` and parameter schema.

        Raises:
            NotFound: no such strategy or version.
        """
        strategy_id = self._existing(principal, strategy_id)
        with self._db.read() as session:
            row = strategy_store.version(session, principal.user_id, strategy_id, number)
            if row is None:
                raise NotFound(f"strategy {strategy_id!r} has no version {number}")
            return StrategyVersion(
                strategy_id=strategy_id, version=row.version, code=row.code,
                created_at=iso_utc(row.created_at), size=row.size,
                params_schema=ParamSpec.of(params_schema(row.code)),
            )  # fmt: skip

    def templates(self) -> builtins.list[Template]:
        """The template library (the bundled examples), by id."""
        out = []
        for path in _template_files():
            code = path.read_text(encoding="utf-8")
            doc = ast.get_docstring(parse_module(code, path.name)) or ""
            out.append(
                Template(
                    id=path.stem,
                    description=doc.split("\n\n")[0].replace("\n", " "),
                    params_schema=ParamSpec.of(params_schema(code)),
                    code=code,
                )
            )
        return out

    def from_template(self, principal: Principal, strategy_id: str, template: str) -> StrategyMeta:
        """Create ``strategy_id`` with a template's code.

        Raises:
            InvalidArgument: unknown template. Conflict: the strategy exists.
        """
        check_strategy_id(strategy_id)
        check_template(template)
        found = next(t for t in self.templates() if t.id == template)
        with self._db.read() as session:
            if strategy_store.get(session, principal.user_id, strategy_id) is not None:
                raise Conflict(f"strategy {strategy_id!r} already exists")
        return self.save(
            principal, strategy_id, found.code, name=found.id, description=found.description,
            tags=["template"],
        )  # fmt: skip

    def _existing(self, principal: Principal, strategy_id: str) -> str:
        check_strategy_id(strategy_id)
        strategy_id = self.resolve(principal, strategy_id)
        with self._db.read() as session:
            if strategy_store.get(session, principal.user_id, strategy_id) is None:
                raise NotFound(f"strategy {strategy_id!r} not found")
        return strategy_id
