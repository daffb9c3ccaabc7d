"""Fixtures for knowledge tests: small help-center folders written to a temporary directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_article(tmp_path: Path) -> Callable[..., Path]:
    """Write `name` under a temporary content folder and return its path."""
    folder = tmp_path / "content"
    folder.mkdir()

    def write(name: str, text: str) -> Path:
        path = folder / name
        path.write_text(text)
        return path

    return write


SHIPPING = """---
title: Shipping and lost parcels
kind: policy
---

Cobalt Market ships to every US state and to 40 countries.

## Delivery speed

Standard delivery takes three to five business days. Express delivery arrives the next business
day when you order before 2 pm Eastern.

## Lost packages

If the tracking page says delivered but nothing arrived, check with neighbours and your building's
mail room, wait one business day, then contact support. We send a replacement or refund the order.
"""

WARRANTY = """---
title: Warranty
kind: faq
---

## How long is the warranty?

Electronics carry a one-year manufacturer warranty from the delivery date. Faulty items can be
repaired or replaced under warranty.
"""

TICKET = """---
title: Resolved ticket - damaged espresso machine
kind: resolved-ticket
---

Customer reported order #W5527310 arrived with a cracked water tank. Agent issued a replacement
tank and closed the case after the customer confirmed the fix.
"""
