"""The browser tests' live server: the project's ASGI application under uvicorn, as in production.

pytest-django's own `live_server` is Django's threaded WSGI server, which would serve the
async chat stream only after buffering it whole. This one runs the same app the Procfile
serves (static files added, as `runserver` does) in a background thread of the test process,
on the test database; the root conftest.py puts it in place of pytest-django's fixture.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application
from django.test.utils import modify_settings

HOST = "localhost"


class AsgiLiveServer:
    """What pytest-django's live_server offers (url, str, +) plus the settings its helper enables."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            ASGIStaticFilesHandler(get_asgi_application()),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="asgi-live-server", daemon=True)
        # Enabled and disabled around each test by pytest-django's `_live_server_helper`.
        self._live_server_modified_settings = modify_settings(ALLOWED_HOSTS={"append": HOST})

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The ASGI live server did not start.")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __str__(self) -> str:
        return self.url

    def __add__(self, other: str) -> str:
        return f"{self}{other}"
