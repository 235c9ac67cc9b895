"""Real `approvals serve` and `approvals worker` processes for tests that stop, kill and restart them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """An `approvals` command in its own process group, so a kill takes its children with it."""

    def __init__(self, url: str, *args: str):
        self.command = [sys.executable, "-m", "approvals.cli", "--database-url", url, *args]
        self.process: subprocess.Popen | None = None

    def start(self) -> Process:
        # Its log (JSON lines, one per request) goes to a file: a pipe nobody reads would fill up
        # and stop the server.
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True
        )
        return self

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the whole group: no handler runs, as when the machine loses power."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self._reap()

    def _reap(self) -> None:
        self.process.wait(timeout=30)
        self.log.close()


class Server(Process):
    """`approvals serve` (gunicorn) on a fixed port, so that clients find it again after a restart."""

    def __init__(self, url: str, workers: int = 2, *options: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        super().__init__(url, "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), *options)

    def start(self) -> Server:
        super().start()
        for _ in range(150):
            try:
                if requests.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or busy starting
                time.sleep(0.2)
        said = self.log_text()[-2000:]
        self.stop()  # and its log closed: nothing left open for a later test to trip over
        raise AssertionError("the server did not start: " + said)


@contextmanager
def serving(url: str):
    server = Server(url).start()
    try:
        yield server.base
    finally:
        server.stop()
