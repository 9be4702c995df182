"""The research workbench: the contract's research items and their notebook sessions.

Each session is a user's own sandboxed JupyterLab (``jobs/notebooks.py``).

Files (``research_files.py``): each user's notebook folder, and their finished jobs' results,
refreshed whenever a session starts, refreshes or is read.

With ``RESEARCH_NOTEBOOK_API_BASE`` set, sessions are created in that external Jupyter through
its REST API instead (``research_external.py``).

Sessions: one live session per item. ``POST`` starts one (or returns the live one), its
``expires_at`` is ``RESEARCH_SESSION_TTL_SECONDS`` after the start or the last refresh; at
expiry (``expire_due``, called every few seconds by each API process) the server and its
kernels are stopped. A session's server runs under the API process that started it; any API
process on the same host can proxy to it and stop it.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
import re
import secrets
import socket
import threading
from pathlib import Path

from quantdesk.core.clock import utcnow
from quantdesk.core.errors import Conflict, InternalError, NotFound, QuantdeskError
from quantdesk.core.settings import Settings
from quantdesk.data import Catalog
from quantdesk.jobs.notebooks import NotebookServers, is_launcher, session_token
from quantdesk.services.auth import Principal
from quantdesk.services.research_external import ExternalJupyter
from quantdesk.services.research_files import NotebookFiles, notebook_template
from quantdesk.services.strategies import check_strategy_id
from quantdesk.services.views_research import (
    Kernel,
    NotebookSession,
    Research,
    ResearchCreate,
    ResearchDeleted,
    ResearchList,
    ResearchUpdate,
    SessionEnvelope,
    SessionStatus,
)
from quantdesk.storage import Database
from quantdesk.storage import research as store
from quantdesk.storage.models import ResearchItemRow, ResearchSessionRow

log = logging.getLogger("quantdesk.research")


class ResearchService:
    """Research items and notebook sessions of each user (see the module).

    Args:
        db: The database.
        settings: Paths, TTL, proxy base.
        servers: This process's notebook servers (``None``: sessions are unavailable).
        secret: The platform's signing secret (Jupyter tokens are derived from it).
    """

    def __init__(
        self, db: Database, settings: Settings, servers: NotebookServers | None, secret: str
    ) -> None:
        self._db = db
        self._secret = secret
        self._settings = settings
        self._servers = servers
        self._host = socket.gethostname()
        self._starting = threading.Lock()
        api_base = settings.research_notebook_api_base.strip()
        self._external = (
            ExternalJupyter(api_base, settings.research_notebook_api_token) if api_base else None
        )
        self.files = NotebookFiles(db, settings)

    # -- items ---------------------------------------------------------------------------------

    def list(self, principal: Principal) -> ResearchList:
        """The caller's items, most recently updated first, each with its session status."""
        with self._db.read() as session:
            rows = store.list_items(session, principal.user_id)
            latest = store.latest_sessions(session, principal.user_id)
            items = [self._item(row, latest.get(row.id)) for row in rows]
        return ResearchList(items=items, total=len(items))

    def create(self, principal: Principal, body: ResearchCreate) -> Research:
        """Create an item (``id`` from the body, else made from the title).

        Raises:
            InvalidArgument: a bad id.
            Conflict: the caller has an item with that id.
        """
        item_id = body.id or _id_from(body.title or "research")
        check_strategy_id(item_id, "id")
        now = utcnow()
        with self._db.write() as session:
            if store.get_item(session, principal.user_id, item_id) is not None:
                raise Conflict(f"research item {item_id!r} already exists")
            path = body.notebook_path or f"{item_id}.ipynb"
            row = store.add_item(
                session, owner_id=principal.user_id, item_id=item_id, title=body.title or item_id,
                description=body.description, notebook_path=path,
                kernel=body.kernel or Kernel.PYTHON3, status=body.status, tags=body.tags or [],
                now=now,
            )  # fmt: skip
            return self._item(row, None)

    def get(self, principal: Principal, item_id: str) -> Research:
        """One of the caller's items.

        Raises:
            NotFound: no such item of the caller's.
        """
        with self._db.read() as session:
            row = store.owned_item(session, principal.user_id, item_id)
            return self._item(row, store.latest_session(session, principal.user_id, item_id))

    def update(self, principal: Principal, item_id: str, body: ResearchUpdate) -> Research:
        """Change the given fields of an item.

        Raises:
            NotFound: no such item of the caller's.
            Conflict: changing ``notebook_path`` or ``kernel`` while a session runs.
        """
        changes = body.model_dump(exclude_unset=True)
        if "notebook_path" in changes and changes["notebook_path"] is None:
            changes["notebook_path"] = f"{item_id}.ipynb"
        with self._db.write() as session:
            row = store.owned_item(session, principal.user_id, item_id)
            live = store.latest_session(session, principal.user_id, item_id)
            running = live is not None and live.status in store.LIVE
            moved = {k for k in ("notebook_path", "kernel") if k in changes
                     and changes[k] is not None and changes[k] != getattr(row, k)}  # fmt: skip
            if running and moved:
                raise Conflict(f"stop the notebook session before changing {', '.join(moved)}")
            kept = {k: str(v) if k == "status" else v for k, v in changes.items()
                    if v is not None}  # fmt: skip
            store.update_item(row, kept, utcnow())
            return self._item(row, live)

    def delete(self, principal: Principal, item_id: str) -> ResearchDeleted:
        """Delete an item (stopping its session); its notebook file is kept.

        Raises:
            NotFound: no such item of the caller's.
        """
        with self._db.read() as session:
            store.owned_item(session, principal.user_id, item_id)
            live = store.latest_session(session, principal.user_id, item_id)
        if live is not None and live.status in store.LIVE:
            self._end(live.id, SessionStatus.STOPPED)
        with self._db.write() as session:
            store.delete_item(session, principal.user_id, item_id)
        return ResearchDeleted(id=item_id)

    # -- sessions ------------------------------------------------------------------------------

    def session(self, principal: Principal, item_id: str, base: str) -> SessionEnvelope:
        """The item's live session (``{"session": null}`` without one)."""
        self.expire_due()
        with self._db.read() as session:
            store.owned_item(session, principal.user_id, item_id)
            row = store.latest_session(session, principal.user_id, item_id)
        if row is None or row.status not in store.LIVE:
            return SessionEnvelope(session=None)
        self._alive_or_end(row)
        self.files.sync_jobs(principal.user_id)
        return SessionEnvelope(session=self._view(row, base))

    def start(self, principal: Principal, item_id: str, base: str) -> SessionEnvelope:
        """Start the item's session, or return the live one.

        Creates the notebook file from ``notebook_template`` when it is missing.

        Raises:
            NotFound: no such item of the caller's.
            ConfigurationError / InternalError: the server could not start (500).
        """
        if self._servers is None and self._external is None:
            raise InternalError("notebook sessions are not available in this process")
        self.expire_due()
        with self._starting:
            with self._db.read() as session:
                item = store.owned_item(session, principal.user_id, item_id)
                live = store.latest_session(session, principal.user_id, item_id)
                path, kernel = item.notebook_path, item.kernel
            if live is not None and live.status in store.LIVE and self._alive_or_end(live):
                return SessionEnvelope(session=self._view(live, base))
            if self._external is not None:
                return self._start_external(principal, item_id, path, kernel, base)
            assert self._servers is not None
            folder = self.files.notebook_dir(principal.user_id)
            Catalog(self._settings.data_dir).make_readable()  # its uid reads the catalog
            self.files.ensure_notebook(folder, path, self._servers.uid_for(principal.user_id))
            jobs = self.files.sync_jobs(principal.user_id)
            now = utcnow()
            ttl = dt.timedelta(seconds=self._settings.research_session_ttl_seconds)
            session_id = f"sess_{secrets.token_hex(12)}"
            with self._db.write() as session:
                store.add_session(
                    session, session_id=session_id, owner_id=principal.user_id, item_id=item_id,
                    notebook_path=path, host=self._host, now=now, expires_at=now + ttl,
                )  # fmt: skip
            try:
                server = self._servers.start(
                    session_id=session_id, user_id=principal.user_id, notebook_dir=folder,
                    jobs_dir=jobs, base_url=f"{self.proxy_base}/{session_id}/",
                )  # fmt: skip
            except QuantdeskError as exc:
                with self._db.write() as session:
                    failed = store.get_session(session, session_id)
                    if failed is not None:
                        store.end_session(failed, SessionStatus.FAILED, utcnow(), exc.message)
                raise
            with self._db.write() as session:
                started = store.get_session(session, session_id)
                assert started is not None
                store.mark_running(started, server.pid, str(server.socket_path))
                # the TTL counts from when it answers (a slow start must not eat it)
                answered = utcnow()
                store.extend(started, answered, answered + ttl)
                view = self._view(started, base)
        return SessionEnvelope(session=view)

    def _start_external(
        self, principal: Principal, item_id: str, path: str, kernel: str, base: str
    ) -> SessionEnvelope:
        """A session in the external Jupyter (``RESEARCH_NOTEBOOK_API_BASE``)."""
        assert self._external is not None
        remote = f"users/{principal.user_id}/{path}"
        self._external.ensure_notebook(remote, notebook_template())
        external_id = self._external.start_session(remote, kernel)
        now = utcnow()
        ttl = dt.timedelta(seconds=self._settings.research_session_ttl_seconds)
        with self._db.write() as session:
            row = store.add_session(
                session, session_id=f"sess_{secrets.token_hex(12)}", owner_id=principal.user_id,
                item_id=item_id, notebook_path=path, host="external", now=now,
                expires_at=now + ttl,
            )  # fmt: skip
            store.mark_running(row, None, "", external_id)
            return SessionEnvelope(session=self._view(row, base))

    def refresh(self, principal: Principal, item_id: str, base: str) -> SessionEnvelope:
        """Extend the live session by a TTL from now.

        Raises:
            NotFound: no item, or no live session (409 would hide that nothing runs).
        """
        self.expire_due()
        with self._db.write() as session:
            store.owned_item(session, principal.user_id, item_id)
            row = store.latest_session(session, principal.user_id, item_id)
            if row is None or row.status not in store.LIVE:
                raise NotFound(f"research item {item_id!r} has no running notebook session")
            now = utcnow()
            ttl = dt.timedelta(seconds=self._settings.research_session_ttl_seconds)
            store.extend(row, now, now + ttl)
            view = self._view(row, base)
        self.files.sync_jobs(principal.user_id)
        return SessionEnvelope(session=view)

    def stop(
        self, principal: Principal, item_id: str, session_id: str | None, base: str
    ) -> SessionEnvelope:
        """Stop the item's session (``session_id``, when given, must be it).

        Raises:
            NotFound: no item, or no such session of it.
        """
        with self._db.read() as session:
            store.owned_item(session, principal.user_id, item_id)
            row = (store.get_session(session, session_id, principal.user_id) if session_id
                   else store.latest_session(session, principal.user_id, item_id))  # fmt: skip
            if row is None or row.item_id != item_id:
                raise NotFound(f"no notebook session {session_id or ''} of {item_id!r}".strip())
        if row.status in store.LIVE:
            self._end(row.id, SessionStatus.STOPPED)
        with self._db.read() as session:
            ended = store.get_session(session, row.id)
            assert ended is not None
            return SessionEnvelope(session=self._view(ended, base))

    def proxy_target(self, user_id: int, session_id: str) -> Path:
        """The socket of ``session_id`` if ``user_id`` owns it and it runs; marks activity.

        A read per request; ``last_active_at`` is written at most every 30 s.

        Raises:
            NotFound: unknown, another user's, or not running (the proxy answers 404).
        """
        with self._db.read() as session:
            row = store.get_session(session, session_id, user_id)
            if (row is None or row.status != SessionStatus.RUNNING
                    or row.external_id is not None):  # fmt: skip
                raise NotFound("no such notebook session")
            now = utcnow()
            if row.expires_at <= now:
                raise NotFound("the notebook session has expired")
            socket_path, stale = Path(row.socket), (now - row.last_active_at).total_seconds() > 30
        if stale:
            with self._db.write() as session:
                found = store.get_session(session, session_id)
                if found is not None:
                    store.touch(found, now)
        return socket_path

    def server_token(self, session_id: str) -> str:
        """The Jupyter token of ``session_id``'s server (derived from the secret)."""
        return session_token(self._secret, session_id)

    def expire_due(self) -> builtins.list[str]:
        """End sessions past ``expires_at`` (stopping their servers); returns their ids."""
        now = utcnow()
        with self._db.read() as session:
            due = [r.id for r in store.live_sessions(session)
                   if r.status == SessionStatus.RUNNING and r.expires_at <= now]  # fmt: skip
        for session_id in due:
            self._end(session_id, SessionStatus.EXPIRED)
        return due

    def reconcile(self) -> None:
        """End this host's sessions whose server is gone (a restarted API process).

        Sessions left STARTING by a process that died while starting them end too.
        """
        with self._db.read() as session:
            rows = list(store.live_sessions(session, host=self._host))
        for row in rows:
            if row.status == SessionStatus.STARTING and not (row.pid and is_launcher(row.pid)):
                self._end(
                    row.id, SessionStatus.FAILED, "the API process restarted while starting it"
                )
            else:
                self._alive_or_end(row)

    def close(self) -> None:
        """Stop this process's servers (shutdown) and end their sessions."""
        if self._external is not None:
            self._external.close()
        with self._db.read() as session:
            rows = list(store.live_sessions(session, host=self._host))
        for row in rows:
            if row.pid is not None and self._servers is not None and self._servers.running(row.id):
                self._end(row.id, SessionStatus.STOPPED)

    # -- files ---------------------------------------------------------------------------------

    @property
    def proxy_base(self) -> str:
        """``RESEARCH_NOTEBOOK_PROXY_BASE`` without a trailing slash."""
        return self._settings.research_notebook_proxy_base.rstrip("/")

    # -- helpers -------------------------------------------------------------------------------

    def _alive_or_end(self, row: ResearchSessionRow) -> bool:
        """True when ``row``'s server still runs; else the session ends (STOPPED)."""
        if row.external_id is not None and self._external is not None:
            if self._external.alive(row.external_id):
                return True
            self._end(row.id, SessionStatus.STOPPED, "the Jupyter session is gone")
            return False
        if row.host != self._host or row.status == SessionStatus.STARTING:
            return True  # another host's (cannot check), or being started right now
        if row.pid is not None and is_launcher(row.pid):
            return True
        self._end(row.id, SessionStatus.STOPPED, "the notebook server is no longer running")
        return False

    def _end(self, session_id: str, status: SessionStatus, message: str = "") -> None:
        with self._db.read() as session:
            row = store.get_session(session, session_id)
            pid = row.pid if row is not None else None
            external_id = row.external_id if row is not None else None
        if external_id is not None and self._external is not None:
            self._external.stop_session(external_id)
        elif self._servers is not None:
            self._servers.stop(session_id, pid)
        with self._db.write() as session:
            row = store.get_session(session, session_id)
            if row is not None and row.status in store.LIVE:
                store.end_session(row, str(status), utcnow(), message)

    def _item(self, row: ResearchItemRow, latest: ResearchSessionRow | None) -> Research:
        status = SessionStatus(latest.status) if latest is not None else None
        return Research(
            id=row.id, title=row.title, description=row.description,
            notebook_path=row.notebook_path, kernel=row.kernel, status=row.status,
            session_status=status if status in (SessionStatus.STARTING, SessionStatus.RUNNING)
            else None, tags=list(row.tags or []),
            created_at=_iso(row.created_at), updated_at=_iso(row.updated_at),
        )  # fmt: skip

    def _view(self, row: ResearchSessionRow, base: str) -> NotebookSession:
        public = self._settings.research_public_base_url.rstrip("/") or base.rstrip("/")
        if row.external_id is not None:  # the gateway proxies the base to that Jupyter
            url = f"{public}{self.proxy_base}/lab/tree/users/{row.owner_id}/{row.notebook_path}"
        else:
            url = f"{public}{self.proxy_base}/{row.id}/lab/tree/{row.notebook_path}"
        return NotebookSession(
            session_id=row.id, notebook_url=url, embed_url=url, status=SessionStatus(row.status),
            started_at=_iso(row.started_at), last_active_at=_iso(row.last_active_at),
            expires_at=_iso(row.expires_at),
        )  # fmt: skip


def _iso(value: dt.datetime) -> str:
    """``value`` as the contract writes times: ``2026-02-18T07:00:00+00:00``."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _id_from(title: str) -> str:
    """An item id from a title: its letters, digits, CJK, ``_`` and ``-`` (64 at most)."""
    cleaned = re.sub(r"[^\w\-]+", "_", title.strip()).strip("_")[:64]
    try:
        return check_strategy_id(cleaned, "id")
    except QuantdeskError:
        return f"research_{secrets.token_hex(4)}"
