from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from curator.celery import ensure_broker_folders
from curator.demo import DEMO_PROJECTS
from curator.management.commands.load_demo import DEMO_USERS


class Stop(Exception):
    """SIGTERM or SIGHUP arrived (e.g. `kill` on `make demo`): stop like Ctrl-C."""


def _stop(signum: int, frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the child and everything it started (gunicorn's workers, celery's beat): each child
    leads its own process group, so none is left behind when its leader is slow to pass it on."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _group_alive(process: subprocess.Popen) -> bool:
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


class Command(BaseCommand):
    help = "Run the web server and a Celery worker process together until Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--password", default="curator-demo")

    def handle(self, *args, port: int, password: str, **options) -> None:
        ensure_broker_folders()
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGHUP, _stop)
        parent = os.getppid()
        bin_dir = os.path.dirname(sys.executable)
        worker = subprocess.Popen(
            [
                os.path.join(bin_dir, "celery"), "-A", "curator", "worker",
                "-Q", "cpu,gpu", "--pool", "solo", "--loglevel", "INFO",
                # Beat in the same process runs the job sweep (dead workers' jobs come back).
                "-B", "-s", str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
            start_new_session=True,
        )  # fmt: skip
        web = subprocess.Popen(
            [
                os.path.join(bin_dir, "gunicorn"), "curator.wsgi",
                "--bind", f"127.0.0.1:{port}", "--threads", "8", "--access-logfile", "-",
            ],
            start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/"
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.stdout.write(
            self.style.SUCCESS(
                f"\ncurator demo at {url}  (projects: "
                + ", ".join(f"{url}p/{slug}/" for slug, *_ in DEMO_PROJECTS)
                + ")"
            )
        )
        self.stdout.write(f"database: {database}; broker: {settings.CELERY_BROKER_URL}")
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {role:<10} login: {username} / {password}")
        self.stdout.write("Ctrl-C stops the server and the worker.\n")
        try:
            # A parent that went away (make killed) would leave us running with nobody to stop us.
            while worker.poll() is None and web.poll() is None and os.getppid() == parent:
                time.sleep(0.5)
        except (KeyboardInterrupt, Stop):
            pass
        finally:
            # Their own sessions keep Ctrl-C from reaching them directly: pass it on, to the
            # whole group of each, then make sure.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for process in (web, worker):
                _signal_group(process, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(map(_group_alive, (web, worker))):
                for process in (web, worker):
                    process.poll()  # reap the leader so its group can empty
                time.sleep(0.2)
            for process in (web, worker):
                _signal_group(process, signal.SIGKILL)
                process.wait()
