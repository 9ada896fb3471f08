"""The live server for browser tests: gunicorn on the test database, its mail worker, Chromium's flags."""
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.app import ROOT, free_port

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


class LiveMailWorker:
    """`flask deliver-mail` for the live server; stopped (SIGTERM, it finishes its batch)
    while in-process tests use the same database, started again for browser tests."""

    def __init__(self, command, env, log):
        self.command, self.env, self.log = command, env, log
        self.process = None

    def start(self):
        """Run the worker unless it is running."""
        if self.process is None or self.process.poll() is not None:
            with open(self.log, "a") as log:
                self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env,
                                                stdout=log, stderr=subprocess.STDOUT)

    def stop(self):
        """Stop the worker and wait until it has."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


# The live server's secret key (links it signs, such as unsubscribe tokens, are made with it).
LIVE_SECRET_KEY = "browser-test-secret"

# The running worker of each database's live server (the `app` fixture stops it for in-process tests).
LIVE_MAIL_WORKERS: dict[str, LiveMailWorker] = {}


def start_live_server(database_url: str, smtp_port: int, logs: Path):
    """gunicorn serving the app on the test database, plus its mail worker; returns (base, server, worker)."""
    port = free_port()
    env = {
        **os.environ,
        "KIL_ENV": "development",
        "DATABASE_URL": database_url,
        "SECRET_KEY": LIVE_SECRET_KEY,
        "HTMX_URL": "local",
        "RATELIMIT_ENABLED": "false",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_POLL_SECONDS": "0.3",
        "BASE_URL": f"http://127.0.0.1:{port}",
    }
    bindir = Path(sys.executable).parent
    with open(logs / "server.log", "w") as log:
        server = subprocess.Popen(
            [str(bindir / "gunicorn"), "--no-control-socket", "-b", f"127.0.0.1:{port}", "-w", "2",
             "--threads", "4", "--log-level", "warning", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    worker = LiveMailWorker([str(bindir / "flask"), "--app", "wsgi", "deliver-mail"], env, logs / "worker.log")
    worker.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90  # three processes import the app at once: slow on a loaded 2-core machine
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return base, server, worker
        except OSError as exc:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                worker.stop()
                raise RuntimeError((logs / "server.log").read_text()) from exc
            time.sleep(0.2)


def stop_live_server(server, worker) -> None:
    """Stop the mail worker and gunicorn."""
    worker.stop()
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
