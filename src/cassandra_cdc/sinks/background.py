"""One destination write at a time on a thread of the sink's own, overlapping the caller's next work.

A sink converts or folds batch N+1 in the lane's thread while batch N is written here: the
destination works in its own process, so on two cores the two overlap. At most one write is in
flight. A write that fails with a retryable error is kept and retried, in the caller's thread,
before anything new is accepted; while it still fails the error goes to the caller (the lane backs
off and calls again), so nothing is dropped and writes land in the order they were submitted. A
write that fails for good is not kept: the error goes to the caller (the lane stops, and what was
not committed is read again from the committed positions on the next start).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from cassandra_cdc.changes.model import SourcePosition
from cassandra_cdc.sinks.base import SinkError

log = logging.getLogger(__name__)

W = TypeVar("W")


class InFlight(Generic[W]):
    """Runs ``apply(work)`` for one work at a time; ``background=False`` runs it in the caller's thread."""

    def __init__(self, name: str, apply: Callable[[W], None], *, background: bool = True) -> None:
        self.name = name
        self._apply = apply
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-write") if background else None
        self._future: Future[None] | None = None
        self._work: W | None = None
        self._failed: W | None = None

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing failed."""
        return self._future is None and self._failed is None

    def join(self, timeout: float | None = None) -> None:
        """Wait until the write in flight has finished, without collecting it (its outcome stays pending)."""
        future = self._future
        if future is not None:
            future.exception(timeout)

    def settle(self, *, wait: bool) -> None:
        """Collect the write in flight once it has finished (with ``wait``, when it finishes), then
        retry a failed one here; raises while it still fails."""
        future = self._future
        if future is not None and (wait or future.done()):
            self._future = None
            work, self._work = self._work, None
            try:
                future.result()
            except Exception as exc:
                if not _retryable(exc):
                    raise
                log.warning("sink %s: a background write failed (%s); retrying it", self.name, exc)
                self._failed = work
        if self._failed is not None:
            work, self._failed = self._failed, None
            self._run(work)

    def submit(self, work: W) -> None:
        """Start writing ``work`` once the previous write has landed (raises if that one still fails)."""
        self.settle(wait=True)
        if self._executor is None:
            self._run(work)
            return
        self._work = work
        self._future = self._executor.submit(self._apply, work)

    def _run(self, work: W) -> None:
        """Apply ``work`` here; kept for a retry if it fails with a retryable error."""
        try:
            self._apply(work)
        except Exception as exc:
            if _retryable(exc):
                self._failed = work
            raise

    def close(self) -> None:
        """Wait for the write in flight (retrying it if it failed), then stop the thread."""
        try:
            self.settle(wait=True)
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)


class DurablePositions:
    """Each node's position up to which a sink's writes have landed (advanced from its writer's thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._positions: dict[str, SourcePosition] = {}

    def advance(self, positions: Mapping[str, SourcePosition]) -> None:
        with self._lock:
            self._positions.update(positions)

    def snapshot(self) -> dict[str, SourcePosition]:
        with self._lock:
            return dict(self._positions)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, SinkError) and exc.retryable
