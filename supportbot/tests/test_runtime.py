"""A web process is ready before its first request: model loaded, start-up objects frozen."""

from __future__ import annotations

import gc
import logging

import pytest

from supportbot import runtime


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_process_ready_loads_the_model_and_freezes_what_is_alive(unfrozen):
    from knowledge import embeddings

    embeddings._session.cache_clear()
    assert gc.get_freeze_count() == 0
    runtime.process_ready()
    assert embeddings._session.cache_info().currsize == 1  # loaded before any request asked for it
    assert gc.get_freeze_count() > 10_000  # Django, the app modules and the model's Python side


def test_a_failing_warm_up_is_logged_and_does_not_stop_start_up(unfrozen, monkeypatch, caplog):
    from knowledge import embeddings

    def broken() -> None:
        raise OSError("model file unreadable")

    monkeypatch.setattr(embeddings, "warm_up", broken)
    with caplog.at_level(logging.ERROR, logger="supportbot.runtime"):
        runtime.process_ready()
    assert "warm-up failed" in caplog.text and gc.get_freeze_count() > 0
