"""`make run` and `make test`: the embedded services around the web, worker and beat processes.

    python -m supportbot.devstack run    # bootstrap, then web + worker + beat (Ctrl-C stops all)
    python -m supportbot.devstack test   # the pytest suite; extra arguments go to pytest

When DATABASE_URL / REDIS_URL are unset, the embedded PostgreSQL and Redis are started first
and stopped again at the end (Ctrl-C included), so nothing keeps running behind the user's back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _start_embedded() -> list[str]:
    from supportbot import embedded

    # Only servers started here are stopped at the end: one that was already running
    # (another `make run`, a developer's shell) belongs to someone else.
    started = []
    if "DATABASE_URL" not in os.environ:
        if not embedded.postgres_running():
            print("Starting embedded PostgreSQL + pgvector (var/pgdata) ...", flush=True)
            started.append("postgres")
        embedded.postgres_url()
    if "REDIS_URL" not in os.environ:
        if not embedded.redis_running():
            print("Starting embedded Redis (var/redis) ...", flush=True)
            started.append("redis")
        embedded.redis_url()
    return started


def _stop_embedded(started: list[str]) -> None:
    from supportbot import embedded

    if "postgres" in started and embedded.stop_postgres():
        print("Embedded PostgreSQL stopped.", flush=True)
    if "redis" in started and embedded.stop_redis():
        print("Embedded Redis stopped.", flush=True)


def _venv_on_path() -> None:
    """honcho starts gunicorn and celery by name: find them in this interpreter's venv."""
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def run() -> int:
    os.environ.setdefault("DEBUG", "1")
    _venv_on_path()
    started = _start_embedded()
    try:
        subprocess.run([sys.executable, "manage.py", "bootstrap"], cwd=ROOT, check=True)
        port = os.environ.setdefault("PORT", "8000")
        host = os.environ.setdefault("HOST", "127.0.0.1")
        print(f"\n  Supportbot is starting at http://{host}:{port}/  (Ctrl-C stops everything)\n", flush=True)
        honcho = subprocess.Popen([sys.executable, "-m", "honcho", "start", "-f", "Procfile"], cwd=ROOT)
        try:
            return honcho.wait()
        except KeyboardInterrupt:
            # honcho got the same SIGINT from the terminal and is stopping its children.
            try:
                return honcho.wait(timeout=20)
            except subprocess.TimeoutExpired:
                honcho.send_signal(signal.SIGTERM)
                return honcho.wait()
    except subprocess.CalledProcessError as error:
        return error.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        _stop_embedded(started)


def test(pytest_args: list[str]) -> int:
    _venv_on_path()
    # Importing this package set DJANGO_SETTINGS_MODULE (celery.py); pytest wants the test settings.
    os.environ["DJANGO_SETTINGS_MODULE"] = "supportbot.test_settings"
    started = _start_embedded()
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT)
        if result.returncode == 5:
            print("pytest collected no tests: that is a failure, not a pass.", file=sys.stderr)
            return 1
        return result.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        _stop_embedded(started)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in {"run", "test"}:
        print(__doc__, file=sys.stderr)
        return 2
    return run() if argv[1] == "run" else test(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
