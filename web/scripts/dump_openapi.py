"""Write the API's OpenAPI schema (``create_app().openapi()``) as stable JSON.

Usage: python web/scripts/dump_openapi.py OUT.json

The schema does not depend on the database or the data, so the app is built over a stand-in
platform: nothing is migrated, imported or written besides OUT.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from quantdesk.api import create_app
from quantdesk.core.settings import Settings


def main() -> None:
    out = Path(sys.argv[1])
    stand_in = SimpleNamespace(close=lambda: None, settings=Settings())
    app = create_app(platform=cast(Any, stand_in))
    text = json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
