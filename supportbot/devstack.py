"""`make run` and `make test`: the embedded services around the web, worker and beat processes.

    python -m supportbot.devstack run    # bootstrap, then web + worker + beat (Ctrl-C stops all)
    python -m supportbot.devstack test   # the pytest suite; extra arguments go to pytest
    python -m supportbot.devstack stop   # stop what a killed `make run` left behind, then the embedded servers

When DATABASE_URL / REDIS_URL are unset, the embedded PostgreSQL and Redis are started first
and stopped again at the end (Ctrl-C included), so nothing keeps running behind the user's back.

`make run` stops cleanly however it is stopped: Ctrl-C in the terminal reaches every process,
but an IDE's stop button or a supervisor signals only make's own PID. Make passes SIGTERM on to
this process; SIGINT it passes on to nobody and waits, so `supervise` watches make's signal
handlers (Linux /proc) and asks the kernel for a SIGTERM should make die. Each is treated like
Ctrl-C: honcho stops web, worker and beat, then the embedded servers stop. Whatever a SIGKILL
still leaves behind, `make stop` finds by its working directory and command line.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from supportbot import embedded

ROOT = Path(__file__).resolve().parent.parent


def _start_embedded() -> list[str]:
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
    if "postgres" in started and embedded.stop_postgres():
        print("Embedded PostgreSQL stopped.", flush=True)
    if "redis" in started and embedded.stop_redis():
        print("Embedded Redis stopped.", flush=True)


def _venv_on_path() -> None:
    """honcho starts gunicorn and celery by name: find them in this interpreter's venv."""
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


class _Stop(Exception):
    """SIGTERM (or make's death) arrived: stop like Ctrl-C does."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


_PR_SET_PDEATHSIG = 1


def _signal_me_when_parent_dies(sig: int = signal.SIGTERM) -> None:
    """Ask Linux for `sig` when our parent exits; elsewhere a no-op (Ctrl-C still works)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        return


_SIGINT_BIT = 1 << (signal.SIGINT - 1)


def _catches_sigint(pid: int) -> bool | None:
    """Whether `pid` has a SIGINT handler installed, read from /proc (None where it can't tell).

    GNU make, given SIGINT, resets its handler and then waits for its recipe without passing the
    signal on: it expects the terminal to have signalled the whole process group. Sent to make's
    PID alone, the SIGINT is visible to the recipe only as that reset.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & _SIGINT_BIT)
    except OSError:
        return None
    return None


def supervise(command: list[str], *, cwd: Path = ROOT, grace: float = 20.0) -> int:
    """Run `command` (a process manager) until it exits, or Ctrl-C, SIGTERM, or our parent stops.

    On a stop it gets SIGINT (honcho's graceful stop of all its processes), then SIGKILL after
    `grace` seconds. The manager itself gets SIGTERM if this process dies without that chance.
    """
    parent = os.getppid()
    _signal_me_when_parent_dies()
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    manager = subprocess.Popen(command, cwd=cwd, preexec_fn=_signal_me_when_parent_dies)  # noqa: PLW1509 - Linux prctl only
    watch_parent = _catches_sigint(parent) is True
    try:
        while True:
            if os.getppid() != parent:
                raise _Stop  # the parent died before the death signal was armed
            try:
                return manager.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            if watch_parent and _catches_sigint(parent) is False:
                raise _Stop
    except (KeyboardInterrupt, _Stop):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if manager.poll() is None:
            manager.send_signal(signal.SIGINT)
        try:
            manager.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            manager.kill()
            manager.wait()
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def run() -> int:
    os.environ.setdefault("DEBUG", "1")
    _venv_on_path()
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    started: list[str] = []
    try:
        started = _start_embedded()
        subprocess.run([sys.executable, "manage.py", "bootstrap"], cwd=ROOT, check=True)
        port = os.environ.setdefault("PORT", "8000")
        host = os.environ.setdefault("HOST", "127.0.0.1")
        print(f"\n  Supportbot is starting at http://{host}:{port}/  (Ctrl-C stops everything)\n", flush=True)
        signal.signal(signal.SIGTERM, previous)
        return supervise([sys.executable, "-m", "honcho", "start", "-f", "Procfile"])
    except subprocess.CalledProcessError as error:
        return error.returncode
    except (KeyboardInterrupt, _Stop):
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop_embedded(started)


# What `make run` starts from the Procfile; `stop` looks for these in this checkout only.
_LEFT_BEHIND = ("honcho start", "gunicorn supportbot", "celery -A supportbot")


def stop_left_behind(*, root: Path = ROOT, grace: float = 10.0) -> list[int]:
    """SIGTERM (then SIGKILL) the process groups of web, worker, beat and honcho run from `root`.

    A `make run` killed with SIGKILL leaves them running. Each Procfile process leads its own
    process group (honcho starts them in new sessions), so the group takes gunicorn's and
    celery's forked children with it. Returns the pids found.
    """
    found: list[psutil.Process] = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["cwd"] == str(root) and process.pid != os.getpid() and any(m in cmdline for m in _LEFT_BEHIND):
            found.append(process)
    groups = set()
    for process in found:
        try:
            groups.add(os.getpgid(process.pid))
        except ProcessLookupError:
            continue
    groups.discard(os.getpgid(0))
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
    _, alive = psutil.wait_procs(found, timeout=grace)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    return [process.pid for process in found]


def stop() -> int:
    stopped = stop_left_behind()
    print(f"Stopped {len(stopped)} process(es) left by make run." if stopped else "No web, worker or beat was running.")
    print(f"PostgreSQL stopped: {embedded.stop_postgres()}; Redis stopped: {embedded.stop_redis()}")
    return 0


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
    if len(argv) < 2 or argv[1] not in {"run", "test", "stop"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "stop":
        return stop()
    return run() if argv[1] == "run" else test(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
