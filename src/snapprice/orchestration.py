"""The bridge from the command line to the Prefect flows in the project's flows/ folder."""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

from snapprice.migrate import project_dir


def prefect_defaults() -> None:
    """Quiet, offline-friendly Prefect defaults unless the user chose otherwise."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "WARNING")


def load_flows(name: str) -> ModuleType:
    """Import ``flows/<name>.py`` (as module ``flows.<name>``)."""
    prefect_defaults()
    module_name = f"flows.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    root = project_dir("flows").parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    spec = importlib.util.spec_from_file_location(module_name, root / "flows" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
