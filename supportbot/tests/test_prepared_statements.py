"""Statements a connection runs repeatedly are prepared on the server (DATABASE_PREPARED_STATEMENTS)."""

from __future__ import annotations

import pytest
from django.db import connection

from orders.models import Customer
from supportbot.tests.test_settings_parsing import run_django

pytestmark = pytest.mark.django_db


def _prepared(fragment: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{fragment}%"])
        return [row[0] for row in cursor.fetchall()]


def test_a_query_run_repeatedly_is_prepared_with_server_side_parameters():
    for handle in ["a", "b", "c", "d", "e", "f"]:
        list(Customer.objects.filter(handle=f"prepared-probe-{handle}").values_list("pk", flat=True))
    statements = _prepared('"orders_customer"."handle" = $1')
    assert len(statements) == 1, statements  # one plan, whatever the value


def test_a_query_run_once_is_not_prepared():
    list(Customer.objects.filter(first_name="prepared-once").values_list("pk", flat=True))
    assert _prepared('"orders_customer"."first_name" = $1') == []


@pytest.mark.parametrize(("value", "expected"), [("", "True 5"), ("0", "False None")])
def test_prepared_statements_can_be_switched_off_for_poolers(value, expected):
    env = {"DEBUG": "1"} | ({"DATABASE_PREPARED_STATEMENTS": value} if value else {})
    result = run_django(
        env,
        "-c",
        "import django; django.setup(); from django.conf import settings as s; o = s.DATABASES['default']['OPTIONS']; "
        "print(o.get('server_side_binding', False), o.get('prepare_threshold'))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
