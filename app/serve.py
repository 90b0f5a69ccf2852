"""Entry point of ``panel serve app/serve.py``: one explorer per browser session."""

from __future__ import annotations

import logging

from app.explorer import Explorer

logging.getLogger("app").setLevel(logging.INFO)

Explorer().servable(title="InfoFlow Explorer")
