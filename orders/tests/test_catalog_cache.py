"""A value derived from the catalog is kept per process and rebuilt when the catalog changes."""

from __future__ import annotations

import pytest

from orders.catalog_cache import CatalogCache
from orders.tests.factories import ProductFactory, VariantFactory

pytestmark = pytest.mark.django_db


class Counter:
    """A build function that says how many times it ran."""

    def __init__(self) -> None:
        self.builds = 0

    def __call__(self) -> int:
        self.builds += 1
        return self.builds


def test_rebuilt_when_the_catalog_changes_shape_checked_at_most_every_few_seconds(settings, django_assert_num_queries):
    cache = CatalogCache(Counter(), max_age=60)
    ProductFactory()
    settings.NLU_CATALOG_CHECK_SECONDS = 60
    assert cache.get() == 1
    VariantFactory()
    with django_assert_num_queries(0):
        assert cache.get() == 1  # checked a moment ago: the new product is not seen yet

    settings.NLU_CATALOG_CHECK_SECONDS = 0
    with django_assert_num_queries(1):
        assert cache.get() == 2  # the shape changed: rebuilt
    with django_assert_num_queries(1):
        assert cache.get() == 2  # unchanged: the check alone
    with django_assert_num_queries(0):
        assert cache.get(check=False) == 2


def test_rebuilt_when_older_than_its_max_age_or_forgotten(settings):
    settings.NLU_CATALOG_CHECK_SECONDS = 60
    cache = CatalogCache(Counter(), max_age=0)
    assert cache.get() == 1
    assert cache.get(check=False) == 2  # a rename changes no shape: age alone rebuilds it
    cache.max_age = 60
    cache.forget()
    assert cache.get() == 3
    assert cache.get() == 3
