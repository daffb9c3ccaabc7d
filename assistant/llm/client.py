"""The one place that talks to an LLM provider (any OpenAI-compatible Chat Completions API).

Model, endpoint, key and timeout come from settings (LLM_BASE_URL, LLM_MODEL, LLM_API_KEY,
LLM_TIMEOUT); the `openai` package is imported lazily so the offline assistant never loads
it. Calls are asynchronous (`achat_completion`, the `openai` package's async client): a web
request waiting on the model holds a connection on the event loop, not a thread or a worker
(docs/architecture.md, "Serving"); `chat_completion` is the same step for synchronous callers
(Celery tasks, staff drafts). The client's own retries are off: the step retries transient failures (timeout,
connection error, 429, 5xx, a response without choices) with exponential backoff, but only
while the total stays within LLM_RETRY_BUDGET seconds — a customer waiting for an answer is
better served by a quick apology than by a minute of silence. Past the budget it raises
LLMUnavailable, which the turn turns into an apology and the offer of a person.

Token accounting: each response carries its usage; `usage_totals()` keeps per-process sums
for the metrics endpoint and every call logs model, tokens and time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.conf import settings

if TYPE_CHECKING:
    from openai import AsyncOpenAI

logger = logging.getLogger(__name__)

BACKOFF_FIRST = 0.25
BACKOFF_MAX = 4.0


def llm_enabled() -> bool:
    """Whether the assistant (chat turns, staff drafts) uses the LLM: ASSISTANT_BRAIN "llm", or
    "auto" with LLM_BASE_URL and LLM_MODEL set. Settings refuse "llm" without them at start-up."""
    choice = settings.ASSISTANT_BRAIN
    return choice == "llm" or (choice == "auto" and bool(settings.LLM_BASE_URL and settings.LLM_MODEL))


class LLMUnavailable(Exception):
    """The provider failed and the retry budget is spent."""


class MalformedResponse(Exception):
    pass


@dataclass
class LLMToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text as the model wrote it; the registry validates it


@dataclass
class LLMResponse:
    content: str
    tool_calls: list[LLMToolCall] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    finish_reason: str = ""
    elapsed_ms: float = 0.0
    streamed: bool = False
    attempts: int = 1


_totals_lock = threading.Lock()
_totals: dict[str, float] = {
    "requests": 0,
    "failures": 0,
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "elapsed_ms": 0.0,
}


def usage_totals() -> dict[str, float]:
    with _totals_lock:
        return dict(_totals)


def _count(**increments: float) -> None:
    with _totals_lock:
        for key, value in increments.items():
            _totals[key] += value


# One client per event loop: its connection pool belongs to the loop that opened it. A web
# process has one loop for its life; a synchronous caller gets a fresh loop per call
# (async_to_sync), whose client is dropped once that loop has closed.
_clients_lock = threading.Lock()
_clients: dict[tuple[int, str, str, float], tuple[asyncio.AbstractEventLoop, AsyncOpenAI]] = {}


def get_client() -> AsyncOpenAI:
    from openai import AsyncOpenAI

    loop = asyncio.get_running_loop()
    key = (id(loop), settings.LLM_BASE_URL, settings.LLM_API_KEY, float(settings.LLM_TIMEOUT))
    with _clients_lock:
        for stale in [k for k, (owner, _client) in _clients.items() if owner.is_closed()]:
            del _clients[stale]
        entry = _clients.get(key)
        if entry is None or entry[0] is not loop:
            # Local servers (Ollama, llama.cpp, vLLM) accept any key; the client insists on one.
            client = AsyncOpenAI(base_url=key[1], api_key=key[2] or "not-needed", timeout=key[3], max_retries=0)
            entry = _clients[key] = (loop, client)
        return entry[1]


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        return float(header) if header else None
    except ValueError:
        return None


def _is_transient(exc: Exception) -> bool:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(
        exc, openai.APITimeoutError | openai.APIConnectionError | MalformedResponse | openai.APIResponseValidationError
    )


def chat_completion(
    *,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    on_token: Callable[[str], None] | None = None,
) -> LLMResponse:
    """`achat_completion` for synchronous code (Celery tasks, staff drafts)."""
    return async_to_sync(achat_completion)(messages=messages, tools=tools, on_token=on_token)


async def achat_completion(
    *,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    on_token: Callable[[str], None] | None = None,
) -> LLMResponse:
    """One model step. Streams content through `on_token` when given. Raises LLMUnavailable.

    `on_token` is called on the event loop: it must not block.
    """
    deadline = time.monotonic() + float(settings.LLM_RETRY_BUDGET)
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        try:
            response = await _request(messages=messages, tools=tools, on_token=on_token)
        except Exception as exc:  # noqa: BLE001 - classified just below
            _count(failures=1)
            if not _is_transient(exc):
                logger.warning("LLM request failed: %s", exc.__class__.__name__)
                raise LLMUnavailable(str(exc)) from exc
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            delay = max(delay, _retry_after(exc) or 0.0)
            if time.monotonic() + delay >= deadline:
                logger.warning("LLM unavailable after %d attempt(s): %s", attempt, exc.__class__.__name__)
                raise LLMUnavailable(str(exc)) from exc
            logger.info("LLM request failed (%s), retrying in %.2fs", exc.__class__.__name__, delay)
            await asyncio.sleep(delay)
            continue
        response.elapsed_ms = (time.perf_counter() - started) * 1000
        response.attempts = attempt
        _count(
            requests=1,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            elapsed_ms=response.elapsed_ms,
        )
        logger.info(
            "LLM step",
            extra={
                "llm_model": response.model,
                "prompt_tokens": response.prompt_tokens,
                "completion_tokens": response.completion_tokens,
                "elapsed_ms": round(response.elapsed_ms, 1),
                "tool_calls": len(response.tool_calls),
            },
        )
        return response


async def _request(
    *, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, on_token: Callable[[str], None] | None
) -> LLMResponse:
    client = get_client()
    # The conversation and the tool schemas travel in `extra_body`, which the client sends as
    # they are: passed as `messages=`/`tools=`, the client walks every nested value against its
    # type hints before sending, a cost that grows with the context and the tool schemas and is
    # paid on every request of a turn. They are plain JSON already, built by llm_brain.
    body: dict[str, Any] = {"messages": messages}
    if tools:
        body["tools"] = tools
        body["parallel_tool_calls"] = True
    kwargs: dict[str, Any] = {"model": settings.LLM_MODEL, "messages": [], "extra_body": body}
    if on_token is None:
        completion = await client.chat.completions.create(**kwargs)
        if not getattr(completion, "choices", None):
            raise MalformedResponse("the response has no choices")
        choice = completion.choices[0]
        message = choice.message
        calls = [
            LLMToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments or "")
            for call in (message.tool_calls or [])
            if getattr(call, "function", None) is not None
        ]
        usage = completion.usage
        return LLMResponse(
            content=message.content or "",
            tool_calls=calls,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            model=completion.model or settings.LLM_MODEL,
            finish_reason=choice.finish_reason or "",
        )
    return await _stream(client=client, kwargs=kwargs, on_token=on_token)


async def _stream(*, client: AsyncOpenAI, kwargs: dict[str, Any], on_token: Callable[[str], None]) -> LLMResponse:
    stream = await client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
    content: list[str] = []
    # Tool-call fragments arrive keyed by index: the id and name first, the arguments in pieces.
    calls: dict[int, dict[str, str]] = {}
    result = LLMResponse(content="", model=settings.LLM_MODEL, streamed=True)
    received = False
    async for chunk in stream:
        received = True
        if chunk.model:
            result.model = chunk.model
        if chunk.usage:
            result.prompt_tokens = chunk.usage.prompt_tokens
            result.completion_tokens = chunk.usage.completion_tokens
        for choice in chunk.choices or []:
            delta = choice.delta
            if delta.content:
                content.append(delta.content)
                on_token(delta.content)
            for fragment in delta.tool_calls or []:
                slot = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                if fragment.id:
                    slot["id"] = fragment.id
                if fragment.function is not None:
                    slot["name"] += fragment.function.name or ""
                    slot["arguments"] += fragment.function.arguments or ""
            if choice.finish_reason:
                result.finish_reason = choice.finish_reason
    if not received:
        raise MalformedResponse("the stream ended without a chunk")
    result.content = "".join(content)
    result.tool_calls = [
        LLMToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=slot["arguments"])
        for index, slot in sorted(calls.items())
    ]
    return result
