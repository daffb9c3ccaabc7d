"""The load test's pacing, shared by the locustfile and the runners (which must not import locust).

A simulated customer loops: pick one task by weight, run it, wait a uniform WAIT_MIN..WAIT_MAX
seconds. With chat turns taking `model_seconds` and pages taking next to nothing, the most
chat turns per second the scenario can ask for is

    users × p_chat / (mean wait + p_chat × model_seconds),   p_chat = chat weight / all weights

so a server that keeps up shows that rate; one that falls behind shows less.
"""

from __future__ import annotations

import os

WAIT_MIN = float(os.environ.get("LOADTEST_WAIT_MIN", "0.5"))
WAIT_MAX = float(os.environ.get("LOADTEST_WAIT_MAX", "1.5"))
CHAT_WEIGHT = 6
ORDERS_WEIGHT = 2
ORDER_DETAIL_WEIGHT = 1
HELP_WEIGHT = 1
CHAT_SHARE = CHAT_WEIGHT / (CHAT_WEIGHT + ORDERS_WEIGHT + ORDER_DETAIL_WEIGHT + HELP_WEIGHT)
PACING_FORMULA = "users × p_chat / (mean wait + p_chat × model s)"


def chat_turns_allowed(*, users: int, model_seconds: float) -> float:
    """Chat turns per second the locust pacing asks for when every page is instant."""
    mean_wait = (WAIT_MIN + WAIT_MAX) / 2
    return users * CHAT_SHARE / (mean_wait + CHAT_SHARE * model_seconds)
