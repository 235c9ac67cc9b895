"""Keep a child process running: ``approvals serve --with-worker`` runs the timer worker this way.

A worker that exits (a crash, "database is locked", a kill) is started again after a back-off that
doubles up to a minute and resets once a run has lasted a minute; each restart is logged, and
``/healthz`` shows the worker's heartbeat, so a worker that keeps dying is seen.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0
MAX_DELAY = 60.0
STEADY = 60.0  # a run this long counts as healthy: the next failure starts the back-off afresh


class Supervisor:
    def __init__(self, command: Sequence[str], *, first_delay: float = FIRST_DELAY, max_delay: float = MAX_DELAY):
        self.command = list(command)
        self.first_delay, self.max_delay = first_delay, max_delay
        self.restarts = 0
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)
        self._owner = 0  # the process that started it

    def start(self) -> Supervisor:
        self._owner = os.getpid()
        self._thread.start()
        return self

    def _run(self) -> None:
        delay = self.first_delay
        while not self._stop.is_set():
            began = time.monotonic()
            self._process = subprocess.Popen(self.command)  # noqa: S603 - our own command and arguments
            code = self._process.wait()
            if self._stop.is_set():
                return
            if time.monotonic() - began >= STEADY:
                delay = self.first_delay
            log.warning("the timer worker exited with code %s; starting it again in %.0f s", code, delay)
            if self._stop.wait(delay):
                return
            self.restarts += 1
            delay = min(delay * 2, self.max_delay)

    def stop(self, timeout: float = 30) -> None:
        # gunicorn forks its workers from the process that started the supervisor, and a worker
        # leaving unwinds the same ``finally`` that stops it: such a copy must leave the child alone
        # (it terminated the timer worker, then waited 30 s on a process that was not its child).
        if os.getpid() != self._owner:
            return
        self._stop.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._thread.join(timeout=timeout)
