"""The database the project runs on is PostgreSQL with pgvector."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_database_is_postgresql_with_the_vector_extension():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    assert row is not None
    major, minor = (int(part) for part in row[0].split(".")[:2])
    assert (major, minor) >= (0, 5)


def test_vector_column_round_trip_and_cosine_ordering():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE probe (label text, embedding vector(3))")
        cursor.execute(
            "INSERT INTO probe VALUES ('east', '[1,0,0]'), ('north', '[0,1,0]'), ('north-east', '[0.7,0.7,0]')"
        )
        cursor.execute("SELECT embedding::text FROM probe WHERE label = 'north-east'")
        assert cursor.fetchone()[0] == "[0.7,0.7,0]"
        cursor.execute("SELECT label FROM probe ORDER BY embedding <=> '[0.9,0.1,0]' LIMIT 3")
        assert [row[0] for row in cursor.fetchall()] == ["east", "north-east", "north"]


def test_the_embedded_server_gets_a_buffer_cache_sized_for_vector_search():
    import os

    from supportbot import embedded

    if os.environ.get("DATABASE_URL") or not embedded.postgres_running():
        pytest.skip("the tests run on an external PostgreSQL, whose configuration is its operator's")
    with connection.cursor() as cursor:
        cursor.execute("SHOW shared_buffers")
        assert cursor.fetchone()[0].lower() == os.environ.get("EMBEDDED_PG_SHARED_BUFFERS", "512MB").lower()
