from __future__ import annotations

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


class Command(BaseCommand):
    help = "Run the web server and a Celery worker process together until Ctrl-C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--password", default="curator-demo")

    def handle(self, *args, port: int, password: str, **options) -> None:
        ensure_broker_folders()
        bin_dir = os.path.dirname(sys.executable)
        worker = subprocess.Popen(
            [
                os.path.join(bin_dir, "celery"), "-A", "curator", "worker",
                "-Q", "cpu,gpu", "--pool", "solo", "--loglevel", "INFO",
                # Beat in the same process runs the job sweep (dead workers' jobs come back).
                "-B", "-s", str(settings.VAR_DIR / "celerybeat-schedule"),
            ]
        )  # fmt: skip
        web = subprocess.Popen(
            [
                os.path.join(bin_dir, "gunicorn"), "curator.wsgi",
                "--bind", f"127.0.0.1:{port}", "--threads", "8", "--access-logfile", "-",
            ]
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
            while worker.poll() is None and web.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in (web, worker):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in (web, worker):
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
