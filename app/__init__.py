"""Experiments on noisy networks: configuration, runner, run store, command line, explorer.

Names are imported on first use, so ``import app`` stays light and importing the runner never
loads Panel; only ``app.Explorer`` imports the explorer (and with it Panel and HoloViews).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ExperimentConfig": "app.config",
    "EpochRecord": "app.records",
    "Runner": "app.runner",
    "RunStore": "app.store",
    "load_run": "app.store",
    "list_runs": "app.store",
    "Explorer": "app.explorer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'app' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
