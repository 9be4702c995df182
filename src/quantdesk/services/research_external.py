"""An external Jupyter server (``RESEARCH_NOTEBOOK_API_BASE``), driven through its REST API.

The contract's alternative to quantdesk's own sandboxed servers: an operator runs Jupyter
(JupyterHub, a Jupyter server behind the gateway that proxies ``RESEARCH_NOTEBOOK_PROXY_BASE``)
and quantdesk only creates, checks and deletes sessions there (``/api/contents`` to create a
missing notebook, ``/api/sessions`` for the kernels), with ``RESEARCH_NOTEBOOK_API_TOKEN``.
Isolation between users is then that deployment's: quantdesk keeps each user's notebooks
under ``users/<user_id>/`` of the Jupyter root.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from quantdesk.core.errors import InternalError


class ExternalJupyter:
    """Sessions in an external Jupyter.

    Args:
        api_base: Its URL (``http://host:8888`` or with a base path).
        token: Its token (sent as ``Authorization: token ...``; empty: none).
    """

    def __init__(self, api_base: str, token: str, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"token {token}"} if token else {}
        self._client = httpx.Client(base_url=api_base.rstrip("/"), headers=headers, timeout=timeout)

    def ensure_notebook(self, path: str, content: dict[str, Any]) -> None:
        """Create ``path`` (and its folders) with ``content`` unless it exists.

        Raises:
            InternalError: Jupyter refused or did not answer.
        """
        if (
            self._call("GET", f"/api/contents/{quote(path)}", params={"content": 0}).status_code
            == 200
        ):
            return
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if (
                self._call(
                    "GET", f"/api/contents/{quote(folder)}", params={"content": 0}
                ).status_code
                == 404
            ):
                self._ok(
                    self._call("PUT", f"/api/contents/{quote(folder)}", json={"type": "directory"})
                )
        body = {"type": "notebook", "format": "json", "content": content}
        self._ok(self._call("PUT", f"/api/contents/{quote(path)}", json=body))

    def start_session(self, path: str, kernel: str) -> str:
        """A session (kernel) for notebook ``path``; returns its id."""
        body = {"path": path, "name": path.rsplit("/", 1)[-1], "type": "notebook",
                "kernel": {"name": kernel}}  # fmt: skip
        answer = self._ok(self._call("POST", "/api/sessions", json=body))
        return str(answer.json()["id"])

    def alive(self, session_id: str) -> bool:
        """True while Jupyter still has session ``session_id``."""
        return self._call("GET", f"/api/sessions/{quote(session_id)}").status_code == 200

    def stop_session(self, session_id: str) -> None:
        """Delete session ``session_id`` (its kernel stops); gone already is fine."""
        answer = self._call("DELETE", f"/api/sessions/{quote(session_id)}")
        if answer.status_code not in (204, 404):
            self._ok(answer)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise InternalError(
                f"the Jupyter server at RESEARCH_NOTEBOOK_API_BASE did not answer: {exc}"
            ) from exc

    @staticmethod
    def _ok(answer: httpx.Response) -> httpx.Response:
        if answer.status_code >= 400:
            raise InternalError(
                f"the Jupyter server refused {answer.request.method} {answer.request.url.path}: "
                f"{answer.status_code} {answer.text[:300]}"
            )
        return answer
