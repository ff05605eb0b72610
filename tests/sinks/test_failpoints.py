"""CDC_FAILPOINT: parsing, counting, probability, and a real SIGKILL of a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from cassandra_cdc.sinks.failpoints import FailpointSpecError, parse_rules, should_fail


def test_parse_rules() -> None:
    assert parse_rules("a:3, b:0.25,") == {"a": 3, "b": 0.25}
    for bad in ("a", "a:0", "a:1.5", "a:x", ":3"):
        with pytest.raises(FailpointSpecError):
            parse_rules(bad)


def test_count_fires_once_on_the_nth_hit_and_probability_is_seeded() -> None:
    env = {"CDC_FAILPOINT": "p:3"}
    assert [should_fail("p", env) for _ in range(5)] == [False, False, True, False, False]
    assert not should_fail("other", env)
    assert not should_fail("p", {})
    env = {"CDC_FAILPOINT": "q:0.5", "CDC_FAILPOINT_SEED": "7"}
    first = [should_fail("q", env) for _ in range(40)]
    env2 = {"CDC_FAILPOINT": "q:0.50", "CDC_FAILPOINT_SEED": "7"}  # a changed variable re-seeds
    assert [should_fail("q", env2) for _ in range(40)] == first
    assert 5 < sum(first) < 35


def test_failpoint_kills_the_process_with_sigkill() -> None:
    code = (
        "from cassandra_cdc.sinks.failpoints import failpoint\n"
        "failpoint('after_data_before_position')\n"
        "print('survived first', flush=True)\n"
        "failpoint('after_data_before_position')\n"
        "print('survived second', flush=True)\n"
    )
    env = {**os.environ, "CDC_FAILPOINT": "after_data_before_position:2"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL
    assert result.stdout == "survived first\n"
