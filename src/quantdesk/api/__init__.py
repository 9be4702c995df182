"""The HTTP API (FastAPI): the BackQuant contract under ``/api``."""

from quantdesk.api.app import create_app

__all__ = ["create_app"]
