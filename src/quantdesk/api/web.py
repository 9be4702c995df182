"""The web UI: the built React app (``web/dist``) served at ``/``.

Every ``GET``/``HEAD`` outside the API (``/api``, ``/docs``, ``/redoc``, ``/openapi.json``) is
answered here: a file of the build when one matches the path, else ``index.html`` so the
single-page app's own routes (``/strategies/sma``, ``/jobs/<id>``...) survive a reload. Other
methods and every API path go to the FastAPI routes untouched, so unknown API routes keep the
contract's JSON 404/405. When the build is missing, the page says how to build it.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("quantdesk.api")

#: Path prefixes that belong to the API and its documentation.
API_PREFIXES = ("/api", "/docs", "/redoc", "/openapi.json")

BUILD_HINT = "make web"


def default_dist() -> Path:
    """Where the built UI is.

    ``$QUANTDESK_WEB_DIST``, else ``quantdesk/web_dist`` inside an installed package, else
    ``web/dist`` of the source checkout.
    """
    override = os.environ.get("QUANTDESK_WEB_DIST")
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parents[1] / "web_dist"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "web" / "dist"


def _missing_page(dist: Path) -> str:
    where = html.escape(str(dist))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>quantdesk — web UI not built</title>
<style>
body {{ background:#0e1117; color:#d7dce4; font:15px/1.6 system-ui,sans-serif; margin:0;
       display:flex; align-items:center; justify-content:center; min-height:100vh; }}
main {{ max-width:640px; padding:32px; border:1px solid #2a3140; border-radius:8px;
       background:#151a23; }}
code, pre {{ background:#0b0e14; color:#7fd1b9; padding:2px 6px; border-radius:4px; }}
pre {{ padding:12px; }}
a {{ color:#6aa8ff; }}
</style></head>
<body><main>
<h1>The quantdesk web UI is not built</h1>
<p>The server found no build output at <code>{where}</code>.</p>
<p>Build it from the checkout (needs Node.js and npm), then reload this page:</p>
<pre>{BUILD_HINT}          # npm ci + generate the API client + vite build
# or: cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p><code>make run</code> builds it before starting the server. The API works without it:
see <a href="/docs">/docs</a>.</p>
</main></body></html>
"""


class WebUI:
    """ASGI middleware serving the single-page app from ``dist`` (see the module doc)."""

    def __init__(self, app: ASGIApp, dist: Path, passed: tuple[str, ...] = ()) -> None:
        self.app = app
        self.dist = dist.resolve()
        self.prefixes = (*API_PREFIXES, *passed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a GET or HEAD outside the API's prefixes from the build; pass the rest on."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or any(path == p or path.startswith(p + "/") for p in self.prefixes)
        ):
            await self.app(scope, receive, send)
            return
        await self.response(path)(scope, receive, send)

    def response(self, path: str) -> Response:
        """The file of the build for ``path``, else ``index.html``, else the build hint."""
        index = self.dist / "index.html"
        if not index.is_file():
            return HTMLResponse(_missing_page(self.dist), status_code=503)
        relative = path.lstrip("/")
        if relative:
            candidate = (self.dist / relative).resolve()
            if candidate.is_file() and candidate.is_relative_to(self.dist):
                cache = (
                    "public, max-age=31536000, immutable"
                    if relative.startswith("assets/")
                    else "no-cache"
                )
                return FileResponse(candidate, headers={"Cache-Control": cache})
        return FileResponse(index, headers={"Cache-Control": "no-cache"})


def install(app: FastAPI, dist: Path | None = None, passed: tuple[str, ...] = ()) -> Path:
    """Serve the UI built in ``dist`` (default ``default_dist()``) at ``/``; returns it.

    ``passed``: more path prefixes left to the app (the notebook proxy's).
    """
    folder = dist or default_dist()
    if not (folder / "index.html").is_file():
        log.warning("web UI not built (%s missing); run `%s`", folder / "index.html", BUILD_HINT)
    app.add_middleware(WebUI, dist=folder, passed=passed)
    return folder
