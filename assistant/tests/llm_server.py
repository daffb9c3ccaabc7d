"""A scripted LLM: a real HTTP server speaking the Chat Completions API, for tests and benchmarks.

It listens on 127.0.0.1 (random port) in a thread and answers POST /v1/chat/completions from
a script, in order. Each step is one of

    ScriptedLLM.text("Hello")                           an answer
    ScriptedLLM.calls(("get_order_details", {...}), …)  one or more (parallel) tool calls
    ScriptedLLM.failure(500)                            an HTTP error
    ScriptedLLM.text("late", delay=2.0)                 any step, answered after a delay
    a callable(request_json) -> step                    decided from what the client sent

Requests are recorded (`server.requests`, the parsed JSON bodies) so tests can assert what
the agent sent: the tools, the history, the retrieved citations. Both plain and streamed
(`"stream": true`, server-sent events, usage chunk included) responses are produced, with
tool calls streamed in fragments as real providers do. The real `openai` client talks to it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "scripted-test-model"


@dataclass
class Step:
    content: str = ""
    tool_calls: list[tuple[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    # Send a 200 whose body has no "choices" (a malformed provider response).
    malformed: bool = False


StepOrFactory = Step | Callable[[dict[str, Any]], Step]


class ScriptedLLM:
    def __init__(self) -> None:
        self._script: deque[StepOrFactory] = deque()
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.exhausted = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- the script -------------------------------------------------------------------------
    @staticmethod
    def text(content: str, *, delay: float = 0.0) -> Step:
        return Step(content=content, delay=delay)

    @staticmethod
    def calls(*calls: tuple[str, Any], content: str = "", delay: float = 0.0) -> Step:
        return Step(content=content, tool_calls=list(calls), delay=delay)

    @staticmethod
    def failure(status: int = 500, *, delay: float = 0.0) -> Step:
        return Step(status=status, delay=delay)

    @staticmethod
    def malformed() -> Step:
        return Step(malformed=True)

    def add(self, *steps: StepOrFactory) -> ScriptedLLM:
        with self._lock:
            self._script.extend(steps)
        return self

    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def _next(self, body: dict[str, Any]) -> Step:
        with self._lock:
            self.requests.append(body)
            if not self._script:
                self.exhausted += 1
                return Step(status=500, content="script exhausted")
            step = self._script.popleft()
        return step(body) if callable(step) else step

    # --- the server -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> ScriptedLLM:
        llm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle's algorithm on, the body
            # waits for the client's delayed ACK (~40 ms per response on Linux).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib API
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                step = llm._next(body)
                if step.delay:
                    time.sleep(step.delay)
                try:
                    if step.status != 200:
                        self._json(
                            step.status,
                            {"error": {"message": step.content or "scripted failure", "type": "server_error"}},
                        )
                    elif step.malformed:
                        self._json(200, {"id": "x", "object": "chat.completion", "model": MODEL})
                    elif body.get("stream"):
                        self._stream(step, body)
                    else:
                        self._json(200, _completion(step, body))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test): nothing to answer

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, step: Step, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in _stream_chunks(step, body):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _usage(step: Step, body: dict[str, Any]) -> dict[str, int]:
    prompt = len(json.dumps(body.get("messages", []))) // 4
    completion = max(1, len(step.content) // 4 + 12 * len(step.tool_calls))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def _completion(step: Step, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.content or None}
    if step.tool_calls:
        message["tool_calls"] = [
            {"id": _call_id(), "type": "function", "function": {"name": name, "arguments": _arguments(arguments)}}
            for name, arguments in step.tool_calls
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if step.tool_calls else "stop"}],
        "usage": _usage(step, body),
    }


def _stream_chunks(step: Step, body: dict[str, Any]) -> list[dict[str, Any]]:
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    words = step.content.split(" ")
    for index, word in enumerate(words):
        if word or index:
            chunks.append(chunk({"content": word if index == 0 else " " + word}))
    for index, (name, arguments) in enumerate(step.tool_calls):
        text = _arguments(arguments)
        middle = len(text) // 2
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": _call_id(),
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for piece in (text[:middle], text[middle:]):
            chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    chunks.append(chunk({}, "tool_calls" if step.tool_calls else "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": _usage(step, body)})
    return chunks
