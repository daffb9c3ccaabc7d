"""Headless Chromium for the browser tests (portal and staff screens), driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# One definition for every app's browser tests (the root conftest.py offers the fixture):
# Playwright's sync API allows one running instance per thread. Module-scoped, not session-scoped:
# while it runs, Playwright's asyncio loop occupies the main thread, and any later test calling an
# async view through the sync test client (async_to_sync) would fail, so it stops with its module.

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's Chromium is not at /usr/bin/chromium; run scripts/ensure-chromium as root (apt-get install chromium)."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Python Playwright is not installed (pip install -r requirements-dev.txt).")
    # Playwright's sync API keeps an event loop on this thread; the test body's ORM calls are
    # still plain synchronous code, so Django's async-safety guard must be told so.
    from playwright.sync_api import expect

    # The machine may be shared and busy: generous waits, and the embedding model loaded once
    # up front so the first chat turn isn't charged for it.
    expect.set_options(timeout=TIMEOUT_MS)
    from knowledge.embeddings import warm_up

    warm_up()
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
