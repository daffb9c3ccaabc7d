"""The web server: gunicorn, with the interface that suits the assistant the site runs.

The Procfile, the Dockerfile and docker-compose start `gunicorn --config
python:supportbot.gunicorn_config`, which asks `web_interface()` which app and worker to run:

- "asgi" (an LLM answers chat turns): uvicorn workers serving supportbot.asgi. A customer
  waiting seconds for the model holds a connection on the event loop, not a worker
  (docs/architecture.md, "Serving").
- "wsgi" (the offline assistant): synchronous workers serving supportbot.wsgi. Nothing waits
  on a model, every request is a few milliseconds of CPU, and a synchronous worker takes the
  next connection only when it is free, so requests queue evenly across the workers. Under
  ASGI the same load is shared by the threads of whichever worker holds each keep-alive
  connection, and waits on the event loop between steps (figures in docs/benchmarks.md).

WEB_INTERFACE (auto, asgi or wsgi) overrides the choice; auto follows the brain the same way
`assistant.llm.client.llm_enabled` does, read from the environment because the gunicorn master
must not import the Django settings (they start the embedded PostgreSQL when DATABASE_URL is
unset).
"""

from pathlib import Path
from typing import Any

import environ
from uvicorn_worker import UvicornWorker

from supportbot import config

BASE_DIR = Path(__file__).resolve().parent.parent


def web_interface() -> str:
    """ "asgi" or "wsgi": WEB_INTERFACE, or for auto, asgi exactly when an LLM answers turns."""
    if (BASE_DIR / ".env").exists():
        environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
    choice = config.read_choice("WEB_INTERFACE", "auto", ("auto", "asgi", "wsgi"))
    if choice != "auto":
        return choice
    brain = config.read_choice("ASSISTANT_BRAIN", "auto", ("auto", "llm", "offline"))
    model_configured = bool(config.read_str("LLM_BASE_URL", "").strip() and config.read_str("LLM_MODEL", "").strip())
    return "asgi" if brain == "llm" or (brain == "auto" and model_configured) else "wsgi"


class WebWorker(UvicornWorker):
    """uvicorn under gunicorn, leaving the client address alone.

    uvicorn would rewrite the client address from X-Forwarded-For for any request from an
    address in --forwarded-allow-ips (127.0.0.1 by default, i.e. anyone on the machine). The
    project reads that header itself, only as far as TRUSTED_PROXY_COUNT proxies wrote it
    (supportbot.client_address).
    """

    CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS, "proxy_headers": False}
