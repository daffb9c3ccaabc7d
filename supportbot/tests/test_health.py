import pytest


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_healthz_is_200_when_database_pgvector_redis_and_worker_are_up(client, celery_worker):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "pgvector", "redis", "celery_worker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert response["X-Request-ID"]


@pytest.mark.django_db
def test_healthz_is_degraded_but_200_when_redis_is_unreachable(client, settings):
    # Pages and chat work without Redis (issue 11): keep the web process in rotation.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["pgvector"]["ok"] is True
    assert body["checks"]["celery_worker"]["ok"] is False


@pytest.mark.django_db
def test_request_id_from_a_proxy_is_kept_and_a_bad_one_replaced(client):
    assert client.get("/", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    replaced = client.get("/", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"]
    assert replaced != "<script>" and len(replaced) == 32
