"""Probe tools: they exercise the turn and the tool loop independently of the store's tools."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assistant.tools import REGISTRY, ToolContext, tool
from supportbot.errors import NotFound, RuleViolation

# Probe tools exercise the agent loop independently of the store's tools: one read-only,
# one consequential whose executions are counted (to prove "exactly once").
PROBE_EXECUTIONS: list[dict[str, Any]] = []


def _register_probes() -> None:
    if "probe_lookup" in REGISTRY:
        return

    @tool(
        name="probe_lookup",
        description="Test probe: look up a code for the acting customer.",
        parameters={"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
    )
    def probe_lookup(context: ToolContext, *, code: str) -> dict[str, Any]:
        if code.startswith("missing"):
            raise NotFound(f"Nothing is filed under {code}.")
        assert context.customer is not None
        return {"code": code, "customer": context.customer.handle}

    def describe(context: ToolContext, *, note: str) -> str:
        if note.startswith("other"):
            raise NotFound("We couldn't find that in your account.")
        return f"Write the note “{note}” to your account"

    def check(context: ToolContext, *, note: str) -> None:
        if note.startswith("refused"):
            raise RuleViolation("That note can't be written.")

    # Its executions are counted outside the database, so it can't be rehearsed in a savepoint.
    @tool(
        name="probe_write",
        description="Test probe: a consequential write.",
        parameters={"type": "object", "properties": {"note": {"type": "string"}}, "required": ["note"]},
        consequential=True,
        describe=describe,
        check=check,
    )
    def probe_write(context: ToolContext, *, note: str) -> dict[str, Any]:
        assert context.customer is not None
        PROBE_EXECUTIONS.append({"note": note, "customer": context.customer.handle})
        return {"written": note}


_register_probes()


@pytest.fixture
def probe_executions() -> Iterator[list[dict[str, Any]]]:
    PROBE_EXECUTIONS.clear()
    yield PROBE_EXECUTIONS
    PROBE_EXECUTIONS.clear()
