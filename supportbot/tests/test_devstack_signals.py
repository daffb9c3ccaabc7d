"""`make run` stops whole however it is stopped, and `make stop` clears what a SIGKILL left.

Real processes: GNU make runs a recipe that supervises honcho, honcho runs a Procfile of
sleepers, and the signal goes to make's PID alone, as an IDE's stop button or a supervisor
sends it. (The real `make run` adds bootstrap and the embedded servers around the same
`supervise`.)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from supportbot.devstack import ROOT, stop_left_behind

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")

SUPERVISOR = """
import sys
from pathlib import Path
from supportbot.devstack import supervise
sys.exit(supervise([sys.executable, "-m", "honcho", "start", "-f", "Procfile"], cwd=Path(__file__).parent, grace=10))
"""
PROCFILE = """web: exec python -c "import time; time.sleep(600)"
worker: exec python -c "import time; time.sleep(600)"
"""


def _signals_as_a_new_terminal_gives_them() -> None:
    """Blocked and ignored signals survive exec: make must not inherit what earlier tests in this
    process (threads, event loops, native libraries) left set, but start as from a fresh shell."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _signal_state(process: psutil.Process) -> str:
    """Blocked, ignored and caught signal masks of a process that outlived the stop, for the report."""
    try:
        lines = Path(f"/proc/{process.pid}/status").read_text().splitlines()
    except OSError:
        return "gone"
    return " ".join(line.replace("\t", "") for line in lines if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def _start_make(tmp_path: Path) -> tuple[subprocess.Popen[bytes], list[psutil.Process]]:
    (tmp_path / "supervise.py").write_text(SUPERVISOR)
    (tmp_path / "Procfile").write_text(PROCFILE)
    # No shell characters in the recipe: make runs it directly, as it runs `make run`'s.
    (tmp_path / "Makefile").write_text(f"run:\n\t{sys.executable} supervise.py\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    make = subprocess.Popen(
        ["make", "-s", "run"],
        cwd=tmp_path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_signals_as_a_new_terminal_gives_them,  # noqa: PLW1509 - a reset between fork and exec
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tree = psutil.Process(make.pid).children(recursive=True)
        sleepers = [p for p in tree if "time.sleep(600)" in " ".join(p.cmdline())]
        if len(sleepers) == 2:
            return make, tree
        time.sleep(0.2)
    make.kill()
    raise AssertionError("honcho did not start both processes")


def _all_gone(processes: list[psutil.Process], timeout: float = 30) -> list[str]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    left = [
        f"{' '.join(p.cmdline())} ({_signal_state(p)})"
        for p in alive
        if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]
    for process in alive:
        process.kill()
    return left


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_make_alone_stops_every_process(tmp_path: Path, sig: signal.Signals) -> None:
    make, tree = _start_make(tmp_path)
    os.kill(make.pid, sig)
    make.wait(timeout=30)
    assert _all_gone(tree) == []


@pytest.mark.slow
def test_make_stop_ends_what_a_sigkill_left_behind(tmp_path: Path) -> None:
    # After `kill -9` nothing runs the graceful stop: stand-ins for web and worker keep running
    # from this checkout, each leading its own process group as honcho starts them.
    left = [
        subprocess.Popen(["bash", "-c", f'exec -a "{name}" sleep 600'], cwd=tmp_path, start_new_session=True)
        for name in ("gunicorn supportbot.wsgi --bind 127.0.0.1:8000", "celery -A supportbot worker")
    ]
    unrelated = subprocess.Popen(
        ["bash", "-c", 'exec -a "gunicorn supportbot.wsgi" sleep 600'], cwd=ROOT, start_new_session=True
    )
    try:
        stopped = stop_left_behind(root=tmp_path, grace=5)
        assert sorted(stopped) == sorted(process.pid for process in left)
        for process in left:
            process.wait(timeout=10)  # stop_left_behind's wait may have reaped it already
            assert not psutil.pid_exists(process.pid) or psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE
        assert unrelated.poll() is None  # another checkout's processes are not ours to stop
    finally:
        unrelated.kill()
        unrelated.wait()
