"""Workflows kept warm: the workflow a change of this process saved, by instance, so that the
instance's next change here takes it instead of deserializing the state again (issue 19).

A kept workflow is taken only when the state the database holds is, character for character,
the state it was saved as, and for the same model runtime: a change by another process, a
rolled-back change or a migration never matches. Taking removes it, so one change owns a workflow
at a time; a change that fails after taking one simply keeps nothing. Bounded, oldest out first.

A read that needs the workflow (a step's send-back targets) borrows it the same way and gives it
back: a step's page, read before the step is completed, leaves the workflow warm for that change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIZE = 128  # workflows of the bundled models take 0.1–1 MB each


class WarmWorkflows:
    def __init__(self, size: int = SIZE):
        self.size = size
        self._kept: OrderedDict[int, tuple[str, Any, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.taken = 0  # how many loads it saved (for the benchmark and tests)

    def take(self, instance_id: int, state: str, runtime: Any) -> Any | None:
        """The workflow saved as ``state`` for ``instance_id`` on ``runtime``, or None."""
        with self._lock:
            kept = self._kept.pop(instance_id, None)
        if kept is None or kept[1] is not runtime or kept[0] != state:
            return None
        self.taken += 1
        return kept[2]

    def keep(self, instance_id: int, state: str, runtime: Any, workflow: Any) -> None:
        with self._lock:
            self._put(instance_id, (state, runtime, workflow))

    @contextmanager
    def lent(self, instance_id: int, state: str, runtime: Any) -> Iterator[Any]:
        """For a read that leaves it as it is: the workflow saved as ``state`` (taken, or loaded by
        ``runtime``), kept afterwards for the instance's next change, unless a change kept a newer
        one meanwhile (the reader held the state it read, which may be older by then)."""
        workflow = self.take(instance_id, state, runtime)
        if workflow is None:
            workflow = runtime.load(state)
        yield workflow
        with self._lock:
            if instance_id not in self._kept:
                self._put(instance_id, (state, runtime, workflow))

    def _put(self, instance_id: int, kept: tuple[str, Any, Any]) -> None:
        self._kept[instance_id] = kept
        self._kept.move_to_end(instance_id)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)

    def forget(self, instance_id: int) -> None:
        with self._lock:
            self._kept.pop(instance_id, None)


WARM = WarmWorkflows()
