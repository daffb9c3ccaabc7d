"""Values derived from the whole catalog (search texts, the NLU's product index), kept per process.

Building one reads every product, so a process keeps it and rebuilds it when the catalog
changes shape (products or variants added or removed: `selectors.catalog_shape`, one cheap
aggregate query) or when it is older than its `max_age` (renames and edits change no shape).
The shape is compared at most every NLU_CATALOG_CHECK_SECONDS: under load that spares most
turns the query, and a new product is still seen within seconds. The value lives in the
process, not in the shared cache, because its users read it on every turn and it holds
Python objects (sets, indexes) that would be unpickled each time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.conf import settings

from orders.selectors import catalog_shape

T = TypeVar("T")


@dataclass(frozen=True)
class _Built(Generic[T]):
    value: T
    shape: tuple[object, ...]
    built: float


class CatalogCache(Generic[T]):
    """`build()`'s result, rebuilt when the catalog's shape changes or after `max_age` seconds."""

    def __init__(self, build: Callable[[], T], *, max_age: float) -> None:
        self._build = build
        self.max_age = max_age
        self._lock = threading.Lock()
        self._entry: _Built[T] | None = None
        self._checked = 0.0

    def get(self, *, check: bool = True) -> T:
        """The value; with `check`, first compares the catalog's shape if it is time to."""
        now = time.monotonic()
        entry = self._entry
        if entry is not None and now - entry.built < self.max_age:
            if not check or now - self._checked < settings.NLU_CATALOG_CHECK_SECONDS:
                return entry.value
        shape = catalog_shape()
        with self._lock:
            # Another thread may have rebuilt it while this one read the shape.
            entry = self._entry
            if entry is None or entry.shape != shape or now - entry.built >= self.max_age:
                entry = self._entry = _Built(value=self._build(), shape=shape, built=now)
            self._checked = now
            return entry.value

    def forget(self) -> None:
        with self._lock:
            self._entry = None
            self._checked = 0.0
