"""Readiness checks: named callables probing the pipeline's dependencies, each timed and bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    detail: str = ""
    latency_seconds: float | None = None


# A check returns None or True (ready), False (not ready), or a CheckResult; raising means not ready.
ReadinessCheck = Callable[[], CheckResult | bool | None]


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    ready: bool
    checks: dict[str, CheckResult]

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "checks": {
                name: {
                    "status": "ok" if r.ok else "error",
                    "detail": r.detail,
                    "latency_ms": None if r.latency_seconds is None else round(r.latency_seconds * 1000, 3),
                }
                for name, r in self.checks.items()
            },
        }


def run_checks(checks: Mapping[str, ReadinessCheck], timeout: float = 2.0) -> ReadinessReport:
    """Runs every check concurrently; one that has not answered within ``timeout`` seconds is not ready.

    Each runs in a daemon thread so a hung dependency can neither hang the probe nor the process exit.
    """
    results: dict[str, CheckResult] = {}
    lock = threading.Lock()

    def run(name: str, check: ReadinessCheck) -> None:
        started = time.perf_counter()
        try:
            outcome = check()
            elapsed = time.perf_counter() - started
            if isinstance(outcome, CheckResult):
                result = (
                    outcome if outcome.latency_seconds is not None else CheckResult(outcome.ok, outcome.detail, elapsed)
                )
            elif outcome is None or outcome is True:
                result = CheckResult(True, "", elapsed)
            elif outcome is False:
                result = CheckResult(False, "check reported not ready", elapsed)
            else:
                result = CheckResult(False, f"check returned {outcome!r}, not a CheckResult, bool or None", elapsed)
        except Exception as exc:  # any failure of a dependency probe means "not ready", with its reason
            result = CheckResult(False, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
        with lock:
            results[name] = result

    threads = {
        name: threading.Thread(target=run, args=(name, check), name=f"ready-{name}", daemon=True)
        for name, check in checks.items()
    }
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        final = {
            name: results.get(name, CheckResult(False, f"no answer within {timeout:g} s", timeout)) for name in checks
        }
    return ReadinessReport(all(r.ok for r in final.values()), final)
