"""The web server's worker class: uvicorn under gunicorn, serving supportbot.asgi (Procfile).

uvicorn would rewrite the client address from X-Forwarded-For for any request from an address
in --forwarded-allow-ips (127.0.0.1 by default, i.e. anyone on the machine). The project reads
that header itself, only as far as TRUSTED_PROXY_COUNT proxies wrote it
(supportbot.client_address), so uvicorn must leave the socket address alone.
"""

from typing import Any

from uvicorn_worker import UvicornWorker


class WebWorker(UvicornWorker):
    CONFIG_KWARGS: dict[str, Any] = {**UvicornWorker.CONFIG_KWARGS, "proxy_headers": False}
