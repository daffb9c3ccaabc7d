"""A stand-in for the Graph API messages endpoint: a real HTTP server on 127.0.0.1.

Used by the tests and by `manage.py whatsapp_simulate`. It accepts
POST /<version>/<phone number id>/messages with a bearer token, records each request and
answers as the Cloud API does ({"messages": [{"id": "wamid..."}]}). `fail_next(n, status)`
makes the next n requests fail, to exercise retries.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/(?P<version>v[\d.]+)/(?P<phone_id>[^/]+)/messages$")


@dataclass
class Sent:
    path: str
    authorization: str
    body: dict[str, Any]
    wamid: str
    status: int

    @property
    def to(self) -> str:
        return str(self.body.get("to", ""))

    @property
    def text(self) -> str:
        if self.body.get("type") == "text":
            return str(self.body["text"]["body"])
        return str(self.body.get("interactive", {}).get("body", {}).get("text", ""))

    @property
    def buttons(self) -> list[dict[str, str]]:
        if self.body.get("type") != "interactive":
            return []
        return [button["reply"] for button in self.body["interactive"]["action"]["buttons"]]


@dataclass
class FakeGraphAPI:
    token: str = "test-access-token"  # noqa: S105 - a fake server's own token
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Sent] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v21.0"

    def start(self) -> FakeGraphAPI:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib API
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, payload = fake._answer(self.path, self.headers.get("Authorization", ""), raw)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="fake-graph-api", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    def fail_next(self, count: int, *, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def delivered(self) -> list[Sent]:
        """The messages the API accepted (2xx), in order."""
        with self._lock:
            return [sent for sent in self.requests if sent.status == 200]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Sent]:
        deadline = time.monotonic() + timeout
        while len(self.delivered()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.delivered()

    def _answer(self, path: str, authorization: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        with self._lock:
            wamid = f"wamid.{uuid.uuid4().hex}"
            if not _PATH.match(path):
                status, payload = 404, _error(f"Unknown path {path}", 100)
            elif authorization != f"Bearer {self.token}":
                status, payload = 401, _error("Invalid OAuth access token.", 190)
            elif (
                body.get("messaging_product") != "whatsapp"
                or not body.get("to")
                or body.get("type") not in {"text", "interactive"}
            ):
                status, payload = 400, _error("Invalid parameter", 100)
            elif self._failures:
                status = self._failures.pop(0)
                payload = _error("Service temporarily unavailable", 2)
            else:
                status = 200
                payload = {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                    "messages": [{"id": wamid}],
                }
            self.requests.append(Sent(path=path, authorization=authorization, body=body, wamid=wamid, status=status))
        return status, payload


def _error(message: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": uuid.uuid4().hex[:12]}}
