"""Fixtures for the assistant's tests: the chat app's customers and conversations, and the probe tools."""

from assistant.tests.probes import probe_executions  # noqa: F401 - fixtures
from chat.tests.conftest import conversation, customer  # noqa: F401 - fixtures
