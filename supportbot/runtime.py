"""Getting a long-running web process ready before its first request.

`process_ready()` runs once per web process, after Django is set up (supportbot.wsgi), and in
the chat benchmark, so that it measures a process in the same state:

* it loads the embedding model, so the first customer of a fresh worker does not wait for it;
* it freezes the objects alive at that point (modules, settings, the model's Python side) out
  of the garbage collector's reach. They live as long as the process, yet every full
  collection would walk them again, pausing whichever customer's turn is running.
"""

from __future__ import annotations

import gc
import logging

from knowledge import embeddings

logger = logging.getLogger(__name__)


def process_ready() -> None:
    try:
        embeddings.warm_up()
    except Exception:  # noqa: BLE001 - a cold model loads on first use instead; never block start-up
        logger.exception("embedding model warm-up failed; it will load on first use")
    gc.collect()
    gc.freeze()
