"""Fail points for crash tests: kill the process at a named point when the environment asks for it.

``CDC_FAILPOINT`` holds one or more comma-separated rules ``NAME:SPEC``:

* ``NAME:N`` (an integer >= 1): die on the N-th time the point is reached in this process;
* ``NAME:P`` (a number with a dot, 0 < P <= 1): die each time with probability P
  (``CDC_FAILPOINT_SEED`` seeds the draw so a crash test is reproducible).

A sink calls ``failpoint("after_data_before_position")`` between its data write and its position
write: a crash there must be harmless (the data is replayed and the merge makes the replay change
nothing). The process gets SIGKILL: no cleanup, no flush, no exit handlers, as in a real crash.
Without the variable a fail point costs one dictionary look-up.
"""

from __future__ import annotations

import os
import random
import signal
import threading

ENV_VAR = "CDC_FAILPOINT"
SEED_VAR = "CDC_FAILPOINT_SEED"

# Known points (sinks may add more; an unknown name in the variable simply never fires).
AFTER_DATA_BEFORE_POSITION = "after_data_before_position"


class FailpointSpecError(ValueError):
    """A ``CDC_FAILPOINT`` rule that cannot be understood."""


def parse_rules(text: str) -> dict[str, int | float]:
    """``"a:3,b:0.5"`` -> ``{"a": 3, "b": 0.5}``; ints count hits, floats are probabilities."""
    rules: dict[str, int | float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, spec = part.partition(":")
        name, spec = name.strip(), spec.strip()
        if not sep or not name or not spec:
            raise FailpointSpecError(f"{ENV_VAR}: rule {part!r} is not NAME:COUNT or NAME:PROBABILITY")
        try:
            if "." in spec or "e" in spec.lower():
                probability = float(spec)
                if not 0.0 < probability <= 1.0:
                    raise ValueError
                rules[name] = probability
            else:
                count = int(spec)
                if count < 1:
                    raise ValueError
                rules[name] = count
        except ValueError:
            raise FailpointSpecError(
                f"{ENV_VAR}: rule {part!r}: expected a hit count >= 1 or a probability in (0, 1]"
            ) from None
    return rules


class _State:
    """Hit counters of this process (fail points are per process by nature)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.text: str | None = None
        self.rules: dict[str, int | float] = {}
        self.hits: dict[str, int] = {}
        self.rng = random.Random()


_state = _State()


def should_fail(name: str, environ: dict[str, str] | None = None) -> bool:
    """Whether the point ``name`` fires now (counts the hit); no side effect beyond the counter."""
    env = os.environ if environ is None else environ
    text = env.get(ENV_VAR)
    if not text:
        return False
    with _state.lock:
        if text != _state.text:  # (re)read when the variable changes, e.g. between tests
            _state.rules = parse_rules(text)
            _state.text = text
            _state.hits = {}
            seed = env.get(SEED_VAR)
            _state.rng = random.Random(int(seed)) if seed else random.Random()
        rule = _state.rules.get(name)
        if rule is None:
            return False
        hits = _state.hits.get(name, 0) + 1
        _state.hits[name] = hits
        if isinstance(rule, int):
            return hits == rule
        return _state.rng.random() < rule


def failpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``CDC_FAILPOINT`` says point ``name`` fires now."""
    if should_fail(name):
        os.kill(os.getpid(), signal.SIGKILL)
