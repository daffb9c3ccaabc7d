"""`make loadtest`: a bounded headless Locust run against a production-like start on 127.0.0.1.

    python -m bench.run_loadtest [--users 60] [--duration 60] [--port 8055] [--llm-latency FIRST,STREAM]

What it does, in order
 1. Creates a fresh `loadtest` database on the embedded PostgreSQL (or uses
    LOADTEST_DATABASE_URL), so the development data is never touched, and uses Redis
    database LOADTEST_REDIS_DB (default 15) of the embedded Redis (or LOADTEST_REDIS_URL).
 2. Production settings: DEBUG off, a freshly generated SECRET_KEY, SECURE_SSL_REDIRECT off
    (plain HTTP on loopback), no LLM configured (the offline assistant answers) — or, with
    --llm-latency FIRST,STREAM, the paced fake model of bench/fake_llm.py started on loopback
    (FIRST seconds to the first token, STREAM seconds of tokens; plain text, no tool calls, so
    each chat turn is one model call) and the stack pointed at it (LLM_BASE_URL, LLM_MODEL).
 3. `manage.py bootstrap` (migrate, static files, demo store seeded with enough customers for
    --users, help center, NLU model), then `bench.prepare` gives N seeded customers a login.
 4. Starts `web` (gunicorn) and `worker` (Celery) exactly as the Procfile says, waits for
    /healthz, and logs every load-test customer in through the real login form.
 5. Runs Locust headless for --duration seconds (bench/locustfile.py), then prints
    throughput, p50/p95/p99 per endpoint and the errors, chat turns/s next to what the locust
    pacing allows (bench/pacing.py), chat p95 minus the model's time, checks the targets, and
    verifies in
    the database that no message was lost: every chat turn the server acknowledged is stored,
    and every stored customer message has an assistant answer after it.
 6. Stops what it started. The `loadtest` database stays for inspection until the next run.

Exit status: 0 when there were no 5xx responses and no lost messages (performance targets
are reported, PASS or MISS, but a slow machine is not an error), 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.pacing import CHAT_SHARE, PACING_FORMULA, WAIT_MAX, WAIT_MIN, chat_turns_allowed
from supportbot import embedded

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "loadtest"
DATABASE_NAME = "loadtest"
CHAT_ENDPOINT = "POST /api/chat/message"
TARGET_CHAT_RPS = 25.0
TARGET_CHAT_P95_MS = 150.0
# With a model configured (issue 19): the share of the pacing served, the p95 over the model's
# own time, and every page's p95.
TARGET_LLM_PACING_SHARE = 0.9
TARGET_LLM_OVERHEAD_P95_MS = 500.0
TARGET_PAGE_P95_MS = 300.0
MAX_LLM_SECONDS = 120.0
CHAT_SHARE_TEXT = f"{CHAT_SHARE:g}"
MEAN_WAIT_TEXT = f"{(WAIT_MIN + WAIT_MAX) / 2:g}"
# seed_demo's default store has 60 customers; bigger runs seed more, with ~4 orders each so
# that every load-test customer has orders to ask about.
DEMO_CUSTOMERS = 60
ORDERS_PER_CUSTOMER = 4


def log(message: str) -> None:
    print(f"[loadtest] {message}", flush=True)


# --- services ------------------------------------------------------------------------------


def _embedded_database_url() -> str:
    """A fresh `loadtest` database on the embedded PostgreSQL (started if needed, never stopped)."""
    import psycopg

    url = embedded.postgres_url()
    socket_dir = url.split("host=", 1)[1]
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return f"postgres://postgres@/{DATABASE_NAME}?host={socket_dir}"


def _redis_url() -> str:
    if os.environ.get("LOADTEST_REDIS_URL"):
        return os.environ["LOADTEST_REDIS_URL"]
    return f"{embedded.redis_url()}?db={int(os.environ.get('LOADTEST_REDIS_DB', '15'))}"


def parse_llm_latency(value: str) -> tuple[float, float]:
    """`FIRST,STREAM` in seconds (argparse type): time to the first token, then of the tokens."""
    usage = f"--llm-latency {value!r}: expected FIRST,STREAM in seconds, e.g. 1.0,1.5"
    parts = value.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(usage)
    try:
        first, stream = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(usage) from None
    if not all(math.isfinite(x) and 0 <= x <= MAX_LLM_SECONDS for x in (first, stream)) or first + stream <= 0:
        raise argparse.ArgumentTypeError(
            f"{usage}; each between 0 and {MAX_LLM_SECONDS:.0f} s, and not both 0 (that is no model at all)"
        )
    return first, stream


def start_fake_llm(first: float, stream: float) -> tuple[subprocess.Popen[bytes], str]:
    """The paced fake model in its own process (so it never competes with the runner); its /v1 URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_llm", "--first", str(first), "--stream", str(stream)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=(OUT / "fake_llm.log").open("wb"),
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    if not line.startswith("listening on "):
        stop(process)
        raise SystemExit(f"the fake model did not start; see {OUT / 'fake_llm.log'}")
    base_url = line.removeprefix("listening on ")
    log(f"fake model: {first:g} s to the first token + {stream:g} s of tokens at {base_url}")
    return process, base_url


def llm_env(base_url: str, model_seconds: float) -> dict[str, str]:
    return {
        "LLM_BASE_URL": base_url,
        "LLM_MODEL": "paced-fake-model",
        "LLM_API_KEY": "loadtest",
        "ASSISTANT_BRAIN": "llm",
        # Above the model's own time, so a turn queued behind others is measured, not cut off.
        "LLM_TIMEOUT": str(model_seconds + 60),
    }


def production_env(*, database_url: str, redis_url: str, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LLM_", "DJANGO_SETTINGS", "PYTEST"))}
    env.update(
        DJANGO_SETTINGS_MODULE="supportbot.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_SSL_REDIRECT="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        LOG_LEVEL="WARNING",
        HOST="127.0.0.1",
        PORT=str(port),
        TOKENIZERS_PARALLELISM="false",
        PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    )
    # Load-test customers chat far faster than people do (a message a second or two each): the
    # per-customer budget would refuse most of them and the test would measure the refusals.
    env["CHAT_RATE_LIMIT"] = "1000/m"
    env["API_RATE_LIMIT"] = "1000/m"
    # One Celery process: the load test drives the web tier; jobs only need to keep flowing.
    env["CELERY_WORKER_CONCURRENCY"] = "1"
    # Each gunicorn worker runs one request at a time: one math thread each keeps the workers
    # from fighting over the cores (PyTorch would start one thread per core in every worker).
    env["OMP_NUM_THREADS"] = "1"
    for knob in ("WEB_CONCURRENCY", "CELERY_WORKER_CONCURRENCY", "OMP_NUM_THREADS"):
        if os.environ.get(knob):
            env[knob] = os.environ[knob]
    return env


def procfile_command(name: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        process, _, command = line.partition(":")
        if process.strip() == name:
            return command.strip()
    raise SystemExit(f"Procfile has no {name!r} process")


def start(name: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log_file = (OUT / f"{name}.log").open("wb")
    command = procfile_command(name)
    log(f"starting {name}: {command}")
    return subprocess.Popen(
        ["sh", "-c", command], cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_healthy(base_url: str, web: subprocess.Popen[bytes], timeout: float = 120) -> dict:
    import requests

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {OUT / 'web.log'}")
        try:
            response = requests.get(f"{base_url}/healthz", timeout=5)
            body = response.json()
            if response.status_code == 200:
                return body
            last = json.dumps(body)
        except (requests.RequestException, ValueError) as exc:
            last = str(exc)
        time.sleep(1)
    raise SystemExit(f"/healthz not healthy within {timeout:.0f} s: {last}")


def seed_store(env: dict[str, str], customers: int) -> None:
    """A demo store with enough customers for `customers` logins (bootstrap then keeps it)."""
    if customers <= DEMO_CUSTOMERS:
        return
    # A margin: orders go to customers at random, and the few left without one can't be used.
    size = customers + customers // 5 + 10
    log(f"seeding a demo store with {size} customers and {size * ORDERS_PER_CUSTOMER} orders")
    subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "seed_demo",
            "--customers",
            str(size),
            "--orders",
            str(size * ORDERS_PER_CUSTOMER),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )


def log_in_everyone(base_url: str, accounts: dict) -> dict:
    """Log each customer in through the login form; returns the sessions for the locustfile."""
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from tqdm import tqdm

    def log_in(customer: dict) -> dict:
        with requests.Session() as http:
            page = http.get(f"{base_url}/accounts/login/", timeout=30)
            csrftoken = page.cookies["csrftoken"]
            # Secure cookies are not sent over http by a client: present them by hand (see locustfile).
            response = http.post(
                f"{base_url}/accounts/login/",
                data=urlencode(
                    {"username": customer["email"], "password": accounts["password"], "csrfmiddlewaretoken": csrftoken}
                ),
                headers={"Cookie": f"csrftoken={csrftoken}", "Content-Type": "application/x-www-form-urlencoded"},
                allow_redirects=False,
                timeout=30,
            )
            if response.status_code != 302 or "sessionid" not in response.cookies:
                raise SystemExit(f"login of {customer['email']} failed: HTTP {response.status_code}")
            return {
                **customer,
                "sessionid": response.cookies["sessionid"],
                "csrftoken": response.cookies.get("csrftoken", csrftoken),
            }

    # A few at a time: each login hashes the password in a gunicorn worker, and hundreds of
    # customers one after the other would take minutes.
    with ThreadPoolExecutor(4) as pool:
        sessions = list(
            tqdm(
                pool.map(log_in, accounts["customers"]),
                total=len(accounts["customers"]),
                desc="Logging customers in",
                unit="login",
            )
        )
    return {"customers": sessions, "articles": accounts["articles"]}


def warm_up(base_url: str, sessions: dict, *, rounds: int = 4, concurrency: int = 8) -> None:
    """Chat turns until every gunicorn worker has loaded its models (embedding, intent classifier).

    A cold worker spends seconds loading them on its first turn; that start-up cost is not
    what the load test measures, and requests queued behind it would distort every figure.
    """
    from concurrent.futures import ThreadPoolExecutor

    import requests

    def turn(index: int) -> float:
        account = sessions["customers"][index % len(sessions["customers"])]
        started = time.perf_counter()
        response = requests.post(
            f"{base_url}/api/chat/message",
            json={"text": "What is your return policy?"},
            timeout=120,
            headers={
                "Cookie": f"sessionid={account['sessionid']}; csrftoken={account['csrftoken']}",
                "X-CSRFToken": account["csrftoken"],
            },
        )
        response.raise_for_status()
        return time.perf_counter() - started

    with ThreadPoolExecutor(concurrency) as pool:
        for number in range(1, rounds + 1):
            slowest = max(pool.map(turn, range(concurrency)))
            log(f"warm-up round {number}: slowest turn {slowest * 1000:.0f} ms")


# --- results -------------------------------------------------------------------------------


def read_stats(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def print_report(stats: list[dict[str, str]], failures: list[dict[str, str]]) -> dict[str, float]:
    header = f"{'endpoint':<28} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>7}"
    print("\n" + header + "\n" + "-" * len(header))
    chat: dict[str, float] = {}
    for row in stats:
        name = row["Name"] if row["Name"] != "Aggregated" else "all endpoints"
        print(
            f"{name:<28} {row['Request Count']:>9} {float(row['Requests/s']):>7.1f} {row['50%']:>7} {row['95%']:>7} "
            f"{row['99%']:>7} {float(row['Max Response Time']):>7.0f} {row['Failure Count']:>7}"
        )
        if row["Name"] == CHAT_ENDPOINT:
            chat = {
                "rps": float(row["Requests/s"]),
                "p95": float(row["95%"]),
                "p50": float(row["50%"]),
                "p99": float(row["99%"]),
                "count": float(row["Request Count"]),
            }
    if failures:
        print("\nErrors:")
        for row in failures:
            print(f"  {row['Occurrences']:>6} × {row['Method']} {row['Name']}: {row['Error'][:150]}")
    else:
        print("\nErrors: none")
    return chat


def count_5xx(failures: list[dict[str, str]]) -> int:
    total = 0
    for row in failures:
        if "HTTP 5" in row["Error"]:  # the locustfile reports every non-200 as "HTTP <status>: ..."
            total += int(row["Occurrences"])
    return total


def verify_no_lost_messages(database_url: str, acknowledged: dict[str, int], since: float) -> tuple[int, int, int, int]:
    """(acknowledged turns, stored customer messages, unanswered, acknowledged-but-missing)."""
    import psycopg

    host = database_url.split("host=", 1)[1] if "host=" in database_url else None
    connect = (
        (lambda: psycopg.connect(host=host, user="postgres", dbname=DATABASE_NAME))
        if host
        else (lambda: psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)))
    )
    with connect() as conn:
        rows = conn.execute(
            """
            WITH ordered AS (
                SELECT m.conversation_id, m.role,
                       LEAD(m.role) OVER (PARTITION BY m.conversation_id ORDER BY m.created_at, m.id) AS next_role
                FROM chat_message m JOIN chat_conversation c ON c.id = m.conversation_id
                WHERE c.started_at >= to_timestamp(%s)
            )
            SELECT conversation_id,
                   count(*) FILTER (WHERE role = 'user') AS customer_messages,
                   count(*) FILTER (WHERE role = 'user' AND (next_role IS NULL OR next_role = 'user')) AS unanswered
            FROM ordered GROUP BY conversation_id
            """,
            [since],
        ).fetchall()
    stored = {str(conversation): (messages, unanswered) for conversation, messages, unanswered in rows}
    missing = sum(max(0, count - stored.get(conversation, (0, 0))[0]) for conversation, count in acknowledged.items())
    return (sum(acknowledged.values()), sum(m for m, _ in stored.values()), sum(u for _, u in stored.values()), missing)


# --- main ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Bounded headless load test of the production-like stack.")
    parser.add_argument("--users", type=int, default=int(os.environ.get("LOADTEST_USERS", "60")))
    parser.add_argument("--duration", type=int, default=int(os.environ.get("LOADTEST_DURATION", "60")), help="seconds")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOADTEST_PORT", "8055")))
    parser.add_argument(
        "--llm-latency",
        type=parse_llm_latency,
        metavar="FIRST,STREAM",
        help="answer with a local paced fake model: seconds to the first token, then seconds of tokens (e.g. 1.0,1.5)",
    )
    parser.add_argument(
        "--skip-setup", action="store_true", help="reuse the loadtest database and logins of the last run"
    )
    return parser


def prepare_stack(
    *, users: int, port: int, skip_setup: bool, llm_base_url: str | None = None, model_seconds: float = 0.0
) -> tuple[str, dict[str, str], Path]:
    """The `loadtest` database bootstrapped with `users` logins: (database URL, env, accounts file).

    Shared with bench.stream_probe, which runs the same stack.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
    database_url = os.environ.get("LOADTEST_DATABASE_URL") or (
        f"postgres://postgres@/{DATABASE_NAME}?host=" + (OUT / "pghost").read_text()
        if skip_setup
        else _embedded_database_url()
    )
    if "host=" in database_url and not os.environ.get("LOADTEST_DATABASE_URL"):
        (OUT / "pghost").write_text(database_url.split("host=", 1)[1])
    env = production_env(database_url=database_url, redis_url=_redis_url(), port=port)
    if llm_base_url:
        env.update(llm_env(llm_base_url, model_seconds))
    accounts_path = OUT / "customers.json"
    if not skip_setup:
        seed_store(env, users)
        log(f"database {DATABASE_NAME}: bootstrap (migrate, demo store, help center, NLU model)")
        subprocess.run([sys.executable, "manage.py", "bootstrap"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [sys.executable, "-m", "bench.prepare", "--customers", str(users), "--out", str(accounts_path)],
            cwd=ROOT,
            env=env,
            check=True,
        )
    return database_url, env, accounts_path


def settle(database_url: str, acknowledged: dict[str, int], since: float, *, wait: float) -> tuple[int, int, int, int]:
    """The message check, repeated for up to `wait` s while turns the server still holds finish."""
    deadline = time.monotonic() + wait
    while True:
        counts = verify_no_lost_messages(database_url, acknowledged, since)
        if counts[2] + counts[3] == 0 or time.monotonic() >= deadline:
            return counts
        time.sleep(2)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if not 1 <= args.duration <= 600:
        raise SystemExit("--duration must be 1..600 seconds: the load test is bounded.")
    if args.users < 1:
        raise SystemExit("--users must be at least 1.")
    OUT.mkdir(parents=True, exist_ok=True)
    first, stream = args.llm_latency or (0.0, 0.0)
    model_seconds = first + stream
    fake_llm, llm_base_url = start_fake_llm(first, stream) if args.llm_latency else (None, None)
    base_url = f"http://127.0.0.1:{args.port}"
    sessions_path, acks_path = OUT / "sessions.json", OUT / "acknowledged.json"
    processes = [fake_llm] if fake_llm else []
    try:
        database_url, env, accounts_path = prepare_stack(
            users=args.users,
            port=args.port,
            skip_setup=args.skip_setup,
            llm_base_url=llm_base_url,
            model_seconds=model_seconds,
        )
        processes += [start("web", env), start("worker", env)]
        health = wait_healthy(base_url, processes[-2])
        log(
            "healthy: "
            + ", ".join(f"{name} {'ok' if check['ok'] else 'down'}" for name, check in health["checks"].items())
        )
        sessions = log_in_everyone(base_url, json.loads(accounts_path.read_text()))
        sessions_path.write_text(json.dumps(sessions))
        warm_up(base_url, sessions)
        started_at = time.time()
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "--users",
            str(args.users),
            "--spawn-rate",
            str(max(1, args.users // 5)),
            "--run-time",
            f"{args.duration}s",
            "--host",
            base_url,
            "--csv",
            str(OUT / "locust"),
            "--only-summary",
            "--stop-timeout",
            "15",
            "--loglevel",
            "WARNING",
        ]
        log(f"locust: {args.users} customers for {args.duration} s against {base_url}")
        log("  " + shlex.join(command[1:]))
        locust_env = {**os.environ, "LOADTEST_SESSIONS": str(sessions_path), "LOADTEST_ACKS": str(acks_path)}
        acks_path.unlink(missing_ok=True)
        subprocess.run(
            command, cwd=ROOT, env=locust_env, stdout=(OUT / "locust.log").open("wb"), stderr=subprocess.STDOUT
        )
        # Turns the server accepted before locust stopped still finish: wait for them (a model
        # turn queued behind others can take a while) before calling a message unanswered.
        acknowledged = json.loads(acks_path.read_text()) if acks_path.exists() else {}
        settle_seconds = 2.0 + (60.0 + 4 * model_seconds if args.llm_latency else 0.0)
        acked, stored, unanswered, missing = settle(database_url, acknowledged, started_at - 1, wait=settle_seconds)
    finally:
        for process in reversed(processes):
            stop(process)

    stats = read_stats(OUT / "locust_stats.csv")
    failures = read_stats(OUT / "locust_failures.csv")
    chat = print_report(stats, failures)
    server_errors = count_5xx(failures)
    errors = sum(int(row["Occurrences"]) for row in failures)
    print(
        f"\nMessages: {acked} chat turns acknowledged, {stored} customer messages stored, "
        f"{unanswered} without an answer, {missing} acknowledged but not stored."
    )
    rps, p95 = chat.get("rps", 0.0), chat.get("p95", float("inf"))
    allowed = chat_turns_allowed(users=args.users, model_seconds=model_seconds)
    lost = unanswered + missing
    print(
        f"\nPacing: chat turns/s {rps:.1f} of {allowed:.1f} the locust pacing allows "
        f"({rps / allowed:.0%}; allowed = {PACING_FORMULA} = {args.users} × {CHAT_SHARE_TEXT} / "
        f"({MEAN_WAIT_TEXT} + {CHAT_SHARE_TEXT} × {model_seconds:g}))"
    )
    pages = {row["Name"]: float(row["95%"]) for row in stats if row["Name"].startswith("GET ")}
    if args.llm_latency:
        overhead = p95 - model_seconds * 1000
        worst_page = max(pages.values(), default=float("inf"))
        print(
            f"Chat p95 minus model time: {p95:.0f} − {model_seconds * 1000:.0f} = {overhead:.0f} ms; "
            "page p95 during the test: " + ", ".join(f"{name} {value:.0f} ms" for name, value in pages.items())
        )
        print(
            f"\nTargets (issue 19, 2 cores): chat turns/s {rps:.1f} "
            f"(≥ {TARGET_LLM_PACING_SHARE:.0%} of {allowed:.1f}: {_verdict(rps >= TARGET_LLM_PACING_SHARE * allowed)}), "
            f"chat p95 − model {overhead:.0f} ms (≤ {TARGET_LLM_OVERHEAD_P95_MS:.0f}: "
            f"{_verdict(overhead <= TARGET_LLM_OVERHEAD_P95_MS)}), "
            f"page p95 max {worst_page:.0f} ms (≤ {TARGET_PAGE_P95_MS:.0f}: {_verdict(worst_page <= TARGET_PAGE_P95_MS)}), "
            f"errors {errors} ({'PASS' if errors == 0 else 'FAIL'}), "
            f"lost or unanswered messages {lost} ({'PASS' if lost == 0 else 'FAIL'})"
        )
    else:
        print(
            f"\nTargets (2 cores): chat turns/s {rps:.1f} (≥ {TARGET_CHAT_RPS:.0f}: {_verdict(rps >= TARGET_CHAT_RPS)}), "
            f"chat p95 {p95:.0f} ms (≤ {TARGET_CHAT_P95_MS:.0f}: {_verdict(p95 <= TARGET_CHAT_P95_MS)}), "
            f"5xx {server_errors} ({'PASS' if server_errors == 0 else 'FAIL'}), "
            f"lost messages {lost} ({'PASS' if lost == 0 else 'FAIL'})"
        )
    print(f"Logs and CSVs: {OUT}")
    return 0 if server_errors == 0 and lost == 0 else 1


def _verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
