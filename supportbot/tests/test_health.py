from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.cache import cache

from supportbot import selectors
from supportbot.celery import app


@pytest.fixture(autouse=True)
def fresh_worker_check():
    # The worker check is cached across requests (and tests): each test starts from no answer.
    cache.delete_many([selectors.WORKER_CHECK_KEY, selectors.WORKER_CHECK_LOCK_KEY])
    yield
    cache.delete_many([selectors.WORKER_CHECK_KEY, selectors.WORKER_CHECK_LOCK_KEY])


@pytest.fixture
def worker_pings(monkeypatch):
    """Counts the broadcasts /healthz sends; each still goes to the real broker and workers."""
    sent = []
    real_ping = app.control.ping

    def ping(*args, **kwargs):
        sent.append(kwargs)
        return real_ping(*args, **kwargs)

    monkeypatch.setattr(app.control, "ping", ping)
    return sent


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


@pytest.mark.django_db
def test_anonymous_callers_get_no_details_when_a_component_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {
        "database": {"ok": True},
        "pgvector": {"ok": True},
        "redis": {"ok": False},
        "celery_worker": {"ok": False},
    }
    assert "Error" not in response.content.decode() and "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
def test_staff_and_the_metrics_token_see_the_details(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.METRICS_TOKEN = "health-scraper-token"
    wrong = client.get("/healthz", HTTP_AUTHORIZATION="Bearer not-the-token").json()
    assert "detail" not in wrong["checks"]["redis"]
    scraper = client.get("/healthz", HTTP_AUTHORIZATION="Bearer health-scraper-token").json()
    assert "Error" in scraper["checks"]["redis"]["detail"]
    assert scraper["checks"]["pgvector"]["detail"].startswith("vector ")
    staff = get_user_model().objects.create_user(
        "health-staff", "health-staff@cobalt.example", "health-staff-123", is_staff=True
    )
    client.force_login(staff)
    body = client.get("/healthz").json()
    assert body["checks"]["celery_worker"] == {"ok": False, "detail": "broker unreachable"}
    assert "Error" in body["checks"]["redis"]["detail"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_the_worker_ping_is_cached_and_asks_for_the_first_reply_only(client, settings, celery_worker, worker_pings):
    settings.HEALTH_WORKER_CACHE_SECONDS = 30
    settings.METRICS_TOKEN = "health-scraper-token"
    first = client.get("/healthz", HTTP_AUTHORIZATION="Bearer health-scraper-token").json()
    second = client.get("/healthz", HTTP_AUTHORIZATION="Bearer health-scraper-token").json()
    assert first["status"] == second["status"] == "ok"
    assert second["checks"]["celery_worker"]["detail"] == f"{celery_worker.name} answered"
    assert len(worker_pings) == 1
    assert worker_pings[0]["limit"] == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_twenty_probes_at_once_send_one_ping_and_agree(live_server, settings, celery_worker, worker_pings):
    settings.HEALTH_WORKER_CACHE_SECONDS = 30

    def probe(_: int) -> tuple[int, str]:
        response = requests.get(f"{live_server.url}/healthz", timeout=30)
        return response.status_code, response.json()["status"]

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(probe, range(20)))
    assert results == [(200, "ok")] * 20
    # One probe pings; the rest wait for its answer (a second ping only if one lost the race to the lock).
    assert 1 <= len(worker_pings) <= 2
