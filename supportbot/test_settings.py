"""Settings for the test suite: the real settings, in development mode, with test isolation.

Tests run against the same real PostgreSQL+pgvector and Redis as development (embedded
unless DATABASE_URL / REDIS_URL are set). TEST_REDIS_DB picks the Redis database used as
the Celery broker, so two suites running at once on one machine never share task queues.
"""

import os

os.environ.setdefault("DEBUG", "1")

from supportbot import config  # noqa: E402
from supportbot.settings import *  # noqa: E402,F403
from supportbot.settings import REDIS_URL, STORAGES  # noqa: E402

_TEST_REDIS_DB = config.read_int("TEST_REDIS_DB", 9, minimum=0)


def _with_db(url: str, db: int) -> str:
    if url.startswith("unix://"):
        base = url.split("?", 1)[0]
        return f"{base}?db={db}"
    scheme, rest = url.split("://", 1)
    hostpart = rest.split("/", 1)[0]
    return f"{scheme}://{hostpart}/{db}"


REDIS_URL = _with_db(REDIS_URL, _TEST_REDIS_DB)
CELERY_BROKER_URL = config.celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CACHES = {
    "default": {
        "BACKEND": "supportbot.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"test-{os.getpid()}",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing in tests only
# A worker process started by a test with EMAIL_URL (a real SMTP server) keeps that backend.
if "EMAIL_URL" not in os.environ:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
LOG_LEVEL = "WARNING"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# Every test client is 127.0.0.1, all run long: per-IP limits would add up across the suite.
# The rate-limit tests (supportbot/tests/test_rate_limits.py) set the low rates they check.
SIGNUP_RATE_LIMIT = HELP_SEARCH_RATE_LIMIT = "10000/m"
PASSWORD_RESET_RATE_LIMIT = SIGNUP_RATE_LIMIT
# Tests create and roll back products constantly: check the catalog's shape on every turn.
NLU_CATALOG_CHECK_SECONDS = 0.0
