"""Ranges every store can hold, shared by the API's parameters and the services' models."""

from __future__ import annotations

#: Largest row offset, byte offset or page number accepted (JSON-safe, fits every database).
MAX_POSITION = 2**53 - 1
#: Largest id or version number (a 32-bit ``INTEGER`` column).
MAX_ID = 2**31 - 1
