"""The load-test tooling: the paced fake model serves many streams at once, and --llm-latency parses."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bench.fake_llm import ANSWER, FakeLLM
from bench.pacing import chat_turns_allowed
from bench.run_loadtest import build_parser

STREAMS = 50


@pytest.fixture
def paced_llm() -> Iterator[FakeLLM]:
    llm = FakeLLM(first=0.4, stream=0.6).start()
    yield llm
    llm.stop()


def _stream(base_url: str) -> tuple[str, float, float]:
    """(streamed text, seconds to the first token, seconds to [DONE]) of one streamed completion."""
    started = time.monotonic()
    first_token = 0.0
    text = []
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with requests.post(f"{base_url}/chat/completions", json=body, stream=True, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        for line in response.iter_lines():
            if not line.startswith(b"data: "):
                continue
            if line == b"data: [DONE]":
                return "".join(text), first_token, time.monotonic() - started
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                first_token = first_token or time.monotonic() - started
                text.append(delta["content"])
    raise AssertionError("stream ended without [DONE]")


@pytest.mark.slow
def test_fake_llm_streams_at_its_pace_to_many_clients_at_once(paced_llm: FakeLLM) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(STREAMS) as pool:
        results = list(pool.map(lambda _: _stream(paced_llm.base_url), range(STREAMS)))
    wall = time.monotonic() - started

    assert len(results) == STREAMS
    assert all(text == ANSWER for text, _, _ in results)
    # Paced: no token before the first-token time, and [DONE] only after the whole model time.
    assert min(first for _, first, _ in results) >= 0.4
    assert min(total for _, _, total in results) >= 1.0 - 0.05
    # Concurrent: 50 one-second answers one after another would take 50 s.
    assert wall < 10, f"{STREAMS} streams of a 1 s model took {wall:.1f} s: the server serialises them"


def test_fake_llm_answers_plain_requests_with_json_after_the_whole_model_time(paced_llm: FakeLLM) -> None:
    started = time.monotonic()
    response = requests.post(
        f"{paced_llm.base_url}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert time.monotonic() - started >= 1.0 - 0.05
    body = response.json()
    assert body["choices"][0]["message"] == {"role": "assistant", "content": ANSWER}
    assert "tool_calls" not in body["choices"][0]["message"]


def test_llm_latency_is_parsed_as_first_and_stream_seconds() -> None:
    args = build_parser().parse_args(["--llm-latency", "1.0,1.5"])
    assert args.llm_latency == (1.0, 1.5)
    assert build_parser().parse_args([]).llm_latency is None


@pytest.mark.parametrize("value", ["2.5", "1,2,3", "fast,1", "-1,2", "0,0", "1,nan", "500,1"])
def test_a_bad_llm_latency_is_refused_naming_the_value(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([f"--llm-latency={value}"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"--llm-latency {value!r}" in error
    assert "FIRST,STREAM" in error


def test_pacing_allows_the_issue_figure_for_100_customers_on_a_2_5_s_model() -> None:
    # 100 × 0.6 / (1.0 + 0.6 × 2.5) = 24 chat turns/s (issue 19).
    assert chat_turns_allowed(users=100, model_seconds=2.5) == pytest.approx(24.0)
