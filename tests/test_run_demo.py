"""`make demo` runs `run_demo`: `kill` (SIGTERM) on it must stop the web server and the worker
with everything they started, not orphan them."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process now running (Linux /proc)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ")".
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":  # a zombie has stopped already
            parents[int(entry)] = int(fields[1])
    return parents


def _descendants(pid: int) -> set[int]:
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def _alive(pids: set[int]) -> set[int]:
    return pids & set(_parents())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_stops_server_worker_and_their_children(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CURATOR_CACHE_URL")
    }
    # SQLite and the file-system broker: what `make demo` uses on a bare machine.
    env.update(CURATOR_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="curator.settings")
    port = _free_port()
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "run_demo", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert demo.poll() is None, "run_demo exited on its own"
            started = _descendants(demo.pid)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                time.sleep(0.5)
                continue
            if len(started) >= 3:  # celery, gunicorn's master and at least one of its workers
                break
            time.sleep(0.5)
        started = _descendants(demo.pid)
        assert len(started) >= 3, f"the demo did not start its processes: {started}"

        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=40) is not None
        deadline = time.monotonic() + 5
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(started), f"left running after SIGTERM: {_alive(started)}"
    finally:
        for pid in _alive(started | {demo.pid}):
            os.kill(pid, signal.SIGKILL)
