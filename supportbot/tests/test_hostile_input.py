"""Hostile input: the JSON API fuzzed from its own OpenAPI schema, the importers fuzzed.

* schemathesis generates requests for every operation of /api/schema (valid and invalid
  bodies, path and query values) and sends them through the real WSGI application as a
  logged-in customer with a CSRF token: no 500, and every response matches the schema.
* hypothesis mutates a valid tau-bench shop (import_shop) and writes arbitrary help-center
  files (ingest_knowledge): either the import succeeds or the command fails with an error
  naming the file (and record/field), and nothing is written on failure.

Example counts are bounded (seconds, not minutes): this runs in every `make test`.
"""

from __future__ import annotations

import copy
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.management import CommandError, call_command
from django.middleware.csrf import _get_new_csrf_string
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.tests.conftest import make_customer

API_EXAMPLES = 12
# Every check schemathesis has but one: "schema-valid data must be accepted" fails on text that
# is only whitespace, which the API rightly refuses with a 400 naming the field and OpenAPI
# cannot express. Server errors, undocumented statuses/content types, response bodies that
# do not match the schema and accepted invalid data all still fail the test.
LENIENT = [schemathesis.checks.positive_data_acceptance]
PARSER_EXAMPLES = 25
FUZZ_SETTINGS = {"deadline": None, "suppress_health_check": list(HealthCheck), "derandomize": True}


# --- JSON API -----------------------------------------------------------------------------


@pytest.fixture
def api_schema(db, settings_fixture_api, wsgi_keeps_test_connection):
    from supportbot.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema", application)


@pytest.fixture
def wsgi_keeps_test_connection() -> Iterator[None]:
    """Requests go through the real WSGI application, inside the test's transaction.

    As Django's own test client does, stop each request from closing the database connection
    at its end, which would end the test's transaction.
    """
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def settings_fixture_api(settings):
    # Fuzzing sends hundreds of requests a minute; the rate limit is tested elsewhere.
    settings.API_RATE_LIMIT = "100000/m"
    settings.API_ANON_RATE_LIMIT = "100000/m"
    settings.CHAT_RATE_LIMIT = "100000/m"
    return settings


@pytest.fixture
def customer_session(client) -> dict[str, Any]:
    """Cookies and header of a logged-in customer with a valid CSRF token, as a browser sends them."""
    customer = make_customer()
    client.force_login(customer.user)
    token = _get_new_csrf_string()
    return {
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": token},
        "headers": {"X-CSRFToken": token},
    }


def test_the_json_api_never_fails_and_always_answers_in_its_schema(api_schema, customer_session):
    # Driven by hand rather than through schemathesis' pytest plugin: one hypothesis run per
    # operation, inside this test's database transaction.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {operation.path for operation in operations} >= {"/api/chat/message", "/api/chat/history/{conversation_id}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=API_EXAMPLES, **FUZZ_SETTINGS)
        def call_and_check(case):
            response = case.call(**customer_session)
            case.validate_response(response, headers=customer_session["headers"], excluded_checks=LENIENT)

        call_and_check()


# --- import_shop --------------------------------------------------------------------------

SHOP_FILES = ("users.json", "products.json", "orders.json")
ADDRESS = {"address1": "1 Main St", "address2": "", "city": "Austin", "country": "USA", "state": "TX", "zip": "78701"}


def valid_shop() -> dict[str, dict[str, Any]]:
    """A small store in the tau-bench retail format that imports cleanly."""
    users = {
        "fuzz_user_1": {
            "name": {"first_name": "Fuzz", "last_name": "One"},
            "address": dict(ADDRESS),
            "email": "fuzz1@example.com",
            "payment_methods": {
                "credit_card_1": {"source": "credit_card", "brand": "visa", "last_four": "4242", "id": "credit_card_1"},
                "gift_card_1": {"source": "gift_card", "balance": 25.5, "id": "gift_card_1"},
            },
            "orders": ["#F0000001"],
        },
        "fuzz_user_2": {
            "name": {"first_name": "Fuzz", "last_name": "Two"},
            "address": dict(ADDRESS),
            "email": "fuzz2@example.com",
            "payment_methods": {"paypal_2": {"source": "paypal", "id": "paypal_2"}},
            "orders": ["#F0000002"],
        },
    }
    products = {
        "9000000001": {
            "name": "Fuzz Lamp",
            "product_id": "9000000001",
            "variants": {
                "8000000001": {"item_id": "8000000001", "options": {"color": "red"}, "available": True, "price": 19.99},
                "8000000002": {
                    "item_id": "8000000002",
                    "options": {"color": "blue"},
                    "available": False,
                    "price": 21.0,
                },
            },
        },
    }
    item = {
        "name": "Fuzz Lamp",
        "product_id": "9000000001",
        "item_id": "8000000001",
        "price": 19.99,
        "options": {"color": "red"},
    }
    orders = {
        "#F0000001": {
            "order_id": "#F0000001",
            "user_id": "fuzz_user_1",
            "address": dict(ADDRESS),
            "items": [dict(item)],
            "fulfillments": [{"tracking_id": ["111111111111"], "item_ids": ["8000000001"]}],
            "status": "delivered",
            "payment_history": [{"transaction_type": "payment", "amount": 19.99, "payment_method_id": "credit_card_1"}],
        },
        "#F0000002": {
            "order_id": "#F0000002",
            "user_id": "fuzz_user_2",
            "address": dict(ADDRESS),
            "items": [dict(item)],
            "fulfillments": [],
            "status": "pending",
            "payment_history": [{"transaction_type": "payment", "amount": 19.99, "payment_method_id": "paypal_2"}],
        },
    }
    return {"users.json": users, "products.json": products, "orders.json": orders}


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path inside a JSON value (where a mutation can land)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=400)  # longer than any column
    | st.sampled_from(["\x00", "a\x00b", "", " ", "#F0000001", "fuzz_user_1", "8000000001", "pending", "gift_card"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def shop_mutation(draw) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A valid shop with one to three mutations: a value replaced, a key removed, or a file garbled."""
    shop = copy.deepcopy(valid_shop())
    raw: dict[str, bytes] = {}
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        file = draw(st.sampled_from(SHOP_FILES))
        kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "garble"]))
        if kind == "garble":
            raw[file] = draw(st.binary(max_size=60) | st.text(max_size=60).map(str.encode))
            continue
        path = draw(st.sampled_from(_paths(shop[file])[1:]))
        parent = shop[file]
        for key in path[:-1]:
            parent = parent[key]
        if kind == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return shop, raw


def _store_counts() -> tuple[int, ...]:
    from orders.models import (
        Customer,
        Fulfillment,
        Order,
        OrderItem,
        PaymentMethod,
        PaymentTransaction,
        Product,
        Variant,
    )

    return tuple(
        m.objects.count()
        for m in (Customer, PaymentMethod, Product, Variant, Order, OrderItem, Fulfillment, PaymentTransaction)
    )


@pytest.mark.django_db
def test_import_shop_either_imports_or_names_the_problem_and_writes_nothing():
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)

        @given(mutated=shop_mutation())
        @settings(max_examples=PARSER_EXAMPLES, **FUZZ_SETTINGS)
        def run(mutated):
            shop, raw = mutated
            for name in SHOP_FILES:
                # json.dumps writes NaN/Infinity as Python's json reads them: hostile, but parseable.
                (folder / name).write_bytes(
                    raw.get(name) or json.dumps(shop[name], ensure_ascii=False).encode("utf-8", "surrogatepass")
                )
            before = _store_counts()
            try:
                call_command("import_shop", str(folder), verbosity=0)
            except CommandError as error:
                message = str(error)
                assert message.startswith("Nothing was imported: "), message
                assert any(name in message for name in SHOP_FILES), f"the error names no file: {message}"
                assert _store_counts() == before, "a failed import wrote rows"

        run()


# --- ingest_knowledge ---------------------------------------------------------------------

front_matter = st.fixed_dictionaries(
    {},
    optional={
        "title": st.text(max_size=300),
        "kind": st.sampled_from(["policy", "faq", "manual", "nonsense", ""]),
        "slug": st.text(max_size=40),
    },
).map(
    lambda fields: (
        "---\n" + "".join(f"{k}: {v.splitlines()[0] if v.splitlines() else ''}\n" for k, v in fields.items()) + "---\n"
    )
)
hostile_html = st.sampled_from(
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(2)">',
        '<a href="javascript:alert(3)">x</a>',
        "<iframe src=//evil></iframe>",
        "<style>body{display:none}</style>",
        "<h2>Heading</h2>",
        "<h1></h1>",
        "<<<>>>",
        "\x00",
        "&#0;",
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    ]
)
article_body = st.lists(st.text(max_size=80) | hostile_html, max_size=8).map("\n\n".join)


@st.composite
def knowledge_file(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".md", ".html", ".txt", ".htm", ".pdf"]))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        content = draw(st.binary(max_size=200))
    else:
        text = draw(st.one_of(st.just(""), front_matter)) + draw(article_body)
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            text = "x" * 9000 + "\x00" + text  # a NUL past the binary sniffing window
        content = text.encode("utf-8")
    return suffix, content


@pytest.mark.django_db
def test_ingest_knowledge_indexes_sanitized_html_or_skips_the_file_saying_why():
    from knowledge.models import Document

    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory) / "help"
        folder.mkdir()

        @given(file=knowledge_file())
        @settings(max_examples=PARSER_EXAMPLES, **FUZZ_SETTINGS)
        def run(file):
            suffix, content = file
            for old in folder.iterdir():
                old.unlink()
            path = folder / f"article{suffix}"
            path.write_bytes(content)
            before = set(Document.objects.values_list("pk", flat=True))
            errors = io.StringIO()
            try:
                call_command("ingest_knowledge", str(folder), stdout=io.StringIO(), stderr=errors, verbosity=0)
            except CommandError as error:
                assert str(path) in str(error) or str(folder) in str(error), str(error)
                assert set(Document.objects.values_list("pk", flat=True)) <= before
                return
            created = Document.objects.exclude(pk__in=before).filter(source__endswith=path.name)
            if errors.getvalue():
                assert path.name in errors.getvalue(), errors.getvalue()
                assert not created.exists(), "a skipped file left a document behind"
                return
            for document in Document.objects.filter(source__endswith=path.name):
                html = document.html.lower()
                assert (
                    "<script" not in html
                    and "onerror" not in html
                    and "javascript:" not in html
                    and "<iframe" not in html
                )
                assert "\x00" not in document.html

        run()
