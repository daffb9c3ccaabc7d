"""A paced fake LLM: a Chat Completions server whose answers take a fixed time, for load tests.

    python -m bench.fake_llm --first 1.0 --stream 1.5 [--port 0]

Every answer is the same plain text (no tool calls, so each chat turn is one model call),
sent after `first` seconds to the first token and then spread evenly over `stream` seconds:
a streamed request (`"stream": true`) gets server-sent events (`data:` chunks with
`choices[0].delta.content`, a usage chunk when asked, then `data: [DONE]`); a plain request
gets the whole completion as JSON after first + stream seconds.

One asyncio event loop serves every connection: a waiting answer is a sleeping coroutine,
not a thread, so hundreds of concurrent streams cost the server next to nothing and the
stack under test, not this server, is what a load test measures. Run as a module it prints
`listening on http://127.0.0.1:PORT/v1` once it accepts connections (the runners wait for
that line); `FakeLLM` runs the same server in a background thread for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
import uuid
from typing import Any

MODEL = "paced-fake-model"
ANSWER = (
    "Thanks for your message. Your order is on its way and should arrive within three to five "
    "business days; you can follow it from the My orders page at any time."
)
MAX_BODY_BYTES = 8 * 1024 * 1024


class PacedLLMServer:
    """The asyncio server; `first` and `stream` are seconds."""

    def __init__(self, *, first: float, stream: float, answer: str = ANSWER) -> None:
        self.first = first
        self.stream = stream
        self.answer = answer
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        # A deep backlog: a burst of hundreds of connections must queue, not be refused.
        self.server = await asyncio.start_server(self._connection, host, port, backlog=2048)
        return int(self.server.sockets[0].getsockname()[1])

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-answer: nothing left to answer
        finally:
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; True when the connection stays open for another."""
        request_line = await reader.readline()
        if not request_line:
            return False
        method, path, _ = request_line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            await _send_json(writer, 413, {"error": {"message": "request too large"}}, keep_alive=False)
            return False
        raw = await reader.readexactly(length) if length else b"{}"
        keep_alive = headers.get("connection", "").lower() != "close"
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            await _send_json(writer, 404, {"error": {"message": f"no route {method} {path}"}}, keep_alive=keep_alive)
            return keep_alive
        try:
            body = json.loads(raw)
        except ValueError:
            await _send_json(writer, 400, {"error": {"message": "body is not JSON"}}, keep_alive=keep_alive)
            return keep_alive
        self.requests += 1
        if body.get("stream"):
            await self._stream(writer, body)
            return False
        await asyncio.sleep(self.first + self.stream)
        await _send_json(writer, 200, self._completion(body), keep_alive=keep_alive)
        return keep_alive

    async def _stream(self, writer: asyncio.StreamWriter, body: dict[str, Any]) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        base = {"id": f"chatcmpl-{uuid.uuid4().hex[:10]}", "object": "chat.completion.chunk", "model": MODEL}
        await asyncio.sleep(self.first)
        words = self.answer.split(" ")
        pause = self.stream / len(words)
        started = time.monotonic()
        await _event(writer, {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        for index, word in enumerate(words):
            delta = {"content": word if index == 0 else " " + word}
            await _event(writer, {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            # Paced against the start, so event-loop jitter doesn't add up over the words.
            await asyncio.sleep(max(0.0, started + pause * (index + 1) - time.monotonic()))
        await _event(writer, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await _event(writer, {**base, "choices": [], "usage": self._usage(body)})
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": self.answer}, "finish_reason": "stop"}
            ],
            "usage": self._usage(body),
        }

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        prompt = len(json.dumps(body.get("messages", []))) // 4
        completion = len(self.answer) // 4
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def _event(writer: asyncio.StreamWriter, payload: dict[str, Any]) -> None:
    writer.write(f"data: {json.dumps(payload)}\n\n".encode())
    await writer.drain()


async def _send_json(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any], *, keep_alive: bool) -> None:
    data = json.dumps(payload).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large"}[status]
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n".encode()
        + data
    )
    await writer.drain()


class FakeLLM:
    """The server on its own event loop in a daemon thread (tests; the runners use a process)."""

    def __init__(self, *, first: float, stream: float) -> None:
        self.server = PacedLLMServer(first=first, stream=stream)
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-llm", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeLLM:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(timeout=10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self.server.server is not None:
                self.server.server.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Paced fake Chat Completions server (127.0.0.1 only).")
    parser.add_argument("--first", type=float, required=True, help="seconds to the first token")
    parser.add_argument("--stream", type=float, required=True, help="seconds from the first token to the last")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)

    async def serve() -> None:
        server = PacedLLMServer(first=args.first, stream=args.stream)
        port = await server.start(port=args.port)
        print(f"listening on http://127.0.0.1:{port}/v1", flush=True)
        assert server.server is not None
        await server.server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
