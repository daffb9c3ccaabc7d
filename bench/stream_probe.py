"""`make streamprobe`: N concurrent web-chat streams on a slow model, and the site meanwhile.

    python -m bench.stream_probe [--streams 20] [--model-seconds 20] [--ramp 10] [--page-rounds 20] [--port 8056]

Starts the paced fake model (bench/fake_llm.py: 1 s to the first token, the rest streamed)
and the same production-like stack as `make loadtest` (gunicorn + Celery worker from the
Procfile, DEBUG off, a fresh `loadtest` database with N customers logged in), then opens N
chat streams over --ramp seconds the way the web chat does: the htmx POST /chat/send/, then a
GET of the server-sent-events stream it points to, read to its `done` event. Meanwhile it measures:
 - page latency: --page-rounds rounds of GET /help/, /orders/ (as a logged-in customer) and
   /healthz, half a second apart, once every stream is open and waiting on the model, compared
   with the same pages before the streams;
 - memory: RSS of the web processes (gunicorn master and workers) before the streams and at
   the peak with them open; the growth divided by N is "memory per open stream".
It also reports how many streams the server was actually serving at once (headers received,
`done` not yet), because a stream the client opened may still wait in the listen queue.

Bounded: N ≤ 1000, every request has a timeout, the whole probe stops at --timeout seconds;
traffic goes only to 127.0.0.1; it stops what it started. Exit status 0 when every stream
got its answer, 1 otherwise (slow is reported, not an error).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlencode

import psutil
import requests

from bench.run_loadtest import (
    log_in_everyone,
    prepare_stack,
    start,
    start_fake_llm,
    stop,
    wait_healthy,
)

PAGES = ("/help/", "/orders/", "/healthz")
STREAM_URL = re.compile(r'data-stream-url="([^"]+)"')
MAX_STREAMS = 1000


def log(message: str) -> None:
    print(f"[streamprobe] {message}", flush=True)


@dataclass
class StreamResult:
    sent: float = 0.0  # POST /chat/send/ answered (monotonic)
    opened: float = 0.0  # the stream's response headers arrived: a web worker is serving it
    first_token: float = 0.0
    finished: float = 0.0  # `done` event received
    error: str = ""


class Probe:
    def __init__(self, base_url: str, sessions: list[dict], deadline: float) -> None:
        self.base_url = base_url
        self.sessions = sessions
        self.deadline = deadline
        self.results = [StreamResult() for _ in sessions]
        self.started = threading.Event()

    def _cookies(self, account: dict) -> dict[str, str]:
        return {
            "Cookie": f"sessionid={account['sessionid']}; csrftoken={account['csrftoken']}",
            "X-CSRFToken": account["csrftoken"],
        }

    def _timeout(self) -> float:
        return max(1.0, self.deadline - time.monotonic())

    def one_stream(self, index: int, delay: float = 0.0) -> None:
        account, result = self.sessions[index], self.results[index]
        self.started.wait()
        time.sleep(delay)
        try:
            response = requests.post(
                f"{self.base_url}/chat/send/",
                data=urlencode({"text": "Where is my order?"}),
                headers={
                    **self._cookies(account),
                    "HX-Request": "true",
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                timeout=self._timeout(),
            )
            match = STREAM_URL.search(response.text)
            if response.status_code != 200 or not match:
                result.error = f"send: HTTP {response.status_code}"
                return
            result.sent = time.monotonic()
            with requests.get(
                self.base_url + match.group(1),
                headers={**self._cookies(account), "Accept": "text/event-stream"},
                stream=True,
                timeout=self._timeout(),
            ) as stream:
                result.opened = time.monotonic()
                for line in stream.iter_lines():
                    if time.monotonic() > self.deadline:
                        result.error = "probe timeout"
                        return
                    if line.startswith(b"event: token") and not result.first_token:
                        result.first_token = time.monotonic()
                    elif line.startswith(b"event: done"):
                        result.finished = time.monotonic()
                        return
                    elif line.startswith((b"event: error", b"event: failure")):
                        result.error = line.decode()
                        return
                result.error = "stream ended without done"
        except requests.RequestException as exc:
            result.error = type(exc).__name__

    def page_latencies(self, account: dict, rounds: int, pause: float) -> dict[str, list[float]]:
        latencies: dict[str, list[float]] = {page: [] for page in PAGES}
        for number in range(rounds):
            for page in PAGES:
                if time.monotonic() > self.deadline:
                    return latencies
                started = time.monotonic()
                try:
                    response = requests.get(
                        self.base_url + page,
                        headers=self._cookies(account),
                        allow_redirects=False,
                        timeout=self._timeout(),
                    )
                    ok = response.status_code == 200
                except requests.RequestException:
                    ok = False
                latencies[page].append((time.monotonic() - started) * 1000 if ok else float("inf"))
            log(
                f"page round {number + 1}/{rounds}: "
                + ", ".join(f"{page} {values[-1]:.0f} ms" for page, values in latencies.items() if values)
            )
            time.sleep(pause)
        return latencies


def web_rss(web: subprocess.Popen[bytes]) -> int:
    """Resident memory of the web process tree (shell, gunicorn master and its workers), bytes."""
    root = psutil.Process(web.pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _summary(values: list[float]) -> str:
    if not values:
        return "no requests"
    return (
        f"p50 {statistics.median(values):.0f} ms, p95 {_p95(values):.0f} ms, max {max(values):.0f} ms (n={len(values)})"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Concurrent web-chat streams on a slow fake model.")
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--model-seconds", type=float, default=20.0, help="the fake model's time per answer")
    parser.add_argument(
        "--page-rounds", type=int, default=20, help="rounds of page requests during the streams (a p95 needs ~20)"
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=10.0,
        help="seconds over which the streams are opened (customers arrive over time, not in one instant)",
    )
    parser.add_argument("--port", type=int, default=8056)
    parser.add_argument("--timeout", type=float, default=300.0, help="the whole probe stops after this many seconds")
    parser.add_argument("--skip-setup", action="store_true", help="reuse the loadtest database and logins")
    args = parser.parse_args(argv)
    if not 1 <= args.streams <= MAX_STREAMS:
        parser.error(f"--streams {args.streams}: between 1 and {MAX_STREAMS}")
    if not 1.0 <= args.model_seconds <= 120.0:
        parser.error(f"--model-seconds {args.model_seconds:g}: between 1 and 120")
    if not 0 <= args.ramp < args.model_seconds:
        parser.error(f"--ramp {args.ramp:g}: from 0 to under --model-seconds, so every stream is open at once")
    if not 1 <= args.page_rounds <= 50 or not 10 <= args.timeout <= 1800:
        parser.error("--page-rounds 1..50 and --timeout 10..1800 seconds: the probe is bounded")

    base_url = f"http://127.0.0.1:{args.port}"
    fake_llm, llm_base_url = start_fake_llm(1.0, args.model_seconds - 1.0)
    processes = [fake_llm]
    try:
        _, env, accounts_path = prepare_stack(
            users=args.streams,
            port=args.port,
            skip_setup=args.skip_setup,
            llm_base_url=llm_base_url,
            model_seconds=args.model_seconds,
        )
        web = start("web", env)
        processes += [web, start("worker", env)]
        wait_healthy(base_url, web)
        accounts = json.loads(accounts_path.read_text())
        accounts["customers"] = accounts["customers"][: args.streams]  # a reused database may hold more
        if len(accounts["customers"]) < args.streams:
            raise SystemExit(
                f"The reused database has {len(accounts['customers'])} customers for {args.streams} streams; "
                "run without --skip-setup."
            )
        sessions = log_in_everyone(base_url, accounts)["customers"]
        probe = Probe(base_url, sessions, deadline=time.monotonic() + args.timeout)
        log("pages before the streams:")
        before = probe.page_latencies(sessions[0], rounds=2, pause=0.2)
        rss_before = web_rss(web)
        log(f"web RSS before: {rss_before / 2**20:.0f} MiB; opening {args.streams} streams")

        rss_peak, serving_peak = rss_before, 0
        sampling = threading.Event()

        def sample() -> None:
            nonlocal rss_peak, serving_peak
            while not sampling.is_set():
                rss_peak = max(rss_peak, web_rss(web))
                serving = sum(1 for r in probe.results if r.opened and not r.finished and not r.error)
                serving_peak = max(serving_peak, serving)
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        launched = time.monotonic()
        with ThreadPoolExecutor(args.streams) as pool:
            futures = [
                pool.submit(probe.one_stream, index, args.ramp * index / args.streams) for index in range(args.streams)
            ]
            probe.started.set()
            # Pages are measured once every stream has been opened, while they wait on the model.
            time.sleep(args.ramp + 1.0)
            open_streams = sum(1 for r in probe.results if r.opened and not r.finished and not r.error)
            log(f"{open_streams} streams open; measuring pages")
            during = probe.page_latencies(sessions[0], rounds=args.page_rounds, pause=0.5)
            last_report = 0.0
            while not all(future.done() for future in futures) and time.monotonic() < probe.deadline:
                if time.monotonic() - last_report >= 5:
                    done = sum(1 for r in probe.results if r.finished)
                    log(f"{time.monotonic() - launched:.0f} s: {done}/{args.streams} streams answered")
                    last_report = time.monotonic()
                time.sleep(0.5)
        sampling.set()
        sampler.join()
    finally:
        for process in reversed(processes):
            stop(process)

    results = probe.results
    answered = [r for r in results if r.finished]
    print(
        f"\nStreams: {args.streams} opened over {args.ramp:g} s on a {args.model_seconds:g} s model (web chat: POST + SSE)"
    )
    print(f"  answered (done event): {len(answered)}; failed: {sum(1 for r in results if r.error)}")
    for error in sorted({r.error for r in results if r.error}):
        print(f"    {sum(1 for r in results if r.error == error)} × {error}")
    print(f"  served at once (stream headers received, done not yet), peak: {serving_peak}")
    if answered:
        totals = [(r.finished - launched) * 1000 for r in answered]
        print(f"  time from launch to answer: {_summary(totals)}")
    for page in PAGES:
        print(
            f"\n{page}\n  before the streams: {_summary(before[page])}\n  with the streams:   {_summary(during[page])}"
        )
    growth = max(0, rss_peak - rss_before)
    print(
        f"\nMemory: web RSS {rss_before / 2**20:.0f} MiB before, {rss_peak / 2**20:.0f} MiB peak with the streams; "
        f"per open stream {growth / args.streams / 2**10:.0f} KiB ((peak − before) / {args.streams})"
    )
    return 0 if len(answered) == args.streams else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
