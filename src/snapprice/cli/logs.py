"""Where the command's logs go: a log file always, the terminal only with --verbose.

Prefect prints a task's or flow's failure with its whole traceback (23–108 lines for a
missing catalog); a person needs one line. So, unless --verbose, Prefect's console handler
shows only CRITICAL records, and every WARNING or worse record (tracebacks included) goes
to a rotating log file the error line can point at.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

LOG_BYTES = 5_000_000
_state = {"verbose": False}


def log_file() -> Path:
    """``snapprice.log`` in the user's log directory (``SNAPPRICE_LOG_FILE`` overrides it)."""
    chosen = os.environ.get("SNAPPRICE_LOG_FILE")
    if chosen:
        return Path(chosen)
    import platformdirs

    return Path(platformdirs.user_log_dir("snapprice", appauthor=False)) / "snapprice.log"


def configure(verbose: bool) -> None:
    """Set before Prefect is imported (it reads these when it sets up its logging)."""
    _state["verbose"] = verbose
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "INFO" if verbose else "WARNING")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    root = logging.getLogger()
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        try:
            path = log_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=3,
                                                           encoding="utf-8", delay=True)
        except OSError:
            return  # no writable log directory: the terminal is all there is
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


def attach_to_prefect() -> None:
    """Prefect replaces the root logger's handlers when it sets up logging: put the file back."""
    configure(_state["verbose"])


def verbose() -> bool:
    return _state["verbose"]


def record(exc: BaseException) -> Path:
    """Write ``exc`` with its traceback to the log file; returns the file's path."""
    logging.getLogger("snapprice.cli").error("%s", one_line(exc), exc_info=exc)
    return log_file()


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
