"""Helpers shared by the chat app's machine-readable commands."""

from __future__ import annotations

import logging
import sys


def move_logs_to_stderr() -> None:
    """Point every handler writing to stdout at stderr instead.

    The project logs to stdout (12-factor), but commands whose stdout is data — one JSON line
    per input — must print nothing else there, whatever a library logs while loading.
    """
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in logging.root.manager.loggerDict)]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
                handler.setStream(sys.stderr)
