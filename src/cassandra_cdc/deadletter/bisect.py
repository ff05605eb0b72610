"""Narrowing a refused batch down to the changes that poison it.

When a sink refuses a batch for good (a non-retryable SinkError, e.g. a ValueOutOfRangeError),
the batch is split in halves, recursively, and each half written WITHOUT positions until every
change has either landed or been isolated on its own as refused. The poison changes go to
``on_poison`` (the dead-letter queue); only then is an empty batch carrying the positions written,
so positions are committed only when every change of the batch is written or dead-lettered. A crash
in between replays the batch (sinks merge idempotently, so the landed halves change nothing).

A batch where nearly everything fails is not a poison change but a broken destination: past
``max_poison`` isolated changes the original error is raised instead and nothing is dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cassandra_cdc.changes.model import RowChange
from cassandra_cdc.sinks.base import ChangeBatch, SinkError

WriteFn = Callable[[ChangeBatch], None]
PoisonFn = Callable[[RowChange, Exception], None]


def is_poison_error(exc: BaseException) -> bool:
    """A refusal that writing the same change again cannot fix."""
    return isinstance(exc, SinkError) and not exc.retryable


class TooManyPoisonedError(SinkError):
    """Bisection found more refused changes than ``max_poison``: the destination is likely broken."""

    def __init__(self, count: int, total: int, cause: BaseException) -> None:
        super().__init__(
            f"{count} of {total} changes refused (more than the dead-letter limit): {cause}", retryable=False
        )
        self.count = count
        self.total = total


@dataclass(slots=True)
class BisectResult:
    """What happened to a batch: how many changes landed, which were refused, how many writes it took."""

    written: int = 0
    poisoned: list[tuple[RowChange, Exception]] = field(default_factory=list)
    writes: int = 0


def write_with_bisect(
    write: WriteFn,
    batch: ChangeBatch,
    on_poison: PoisonFn,
    *,
    is_poison: Callable[[BaseException], bool] = is_poison_error,
    max_poison: int | None = None,
) -> BisectResult:
    """Write ``batch``; on a poison error, isolate the refused changes (see the module docstring).

    ``write`` should already retry retryable errors (errors it raises that are not poison
    propagate, positions uncommitted). ``on_poison`` must be durable when it returns; if it raises,
    the positions are not committed either. ``max_poison`` defaults to no limit.
    """
    result = BisectResult()
    result.writes += 1
    try:
        write(batch)
        result.written = len(batch.changes)
        return result
    except Exception as exc:
        if not is_poison(exc):
            raise
        first = exc
    if len(batch.changes) == 1:
        result.poisoned.append((batch.changes[0], first))
    else:
        middle = len(batch.changes) // 2
        # Both halves are written: which half failed the whole batch is unknown.
        for part in (batch.changes[:middle], batch.changes[middle:]):
            _bisect(write, part, result, is_poison)
    if max_poison is not None and len(result.poisoned) > max_poison:
        raise TooManyPoisonedError(len(result.poisoned), len(batch.changes), first) from first
    for change, error in result.poisoned:
        on_poison(change, error)
    if batch.positions:
        result.writes += 1
        write(ChangeBatch([], dict(batch.positions)))
    return result


def _bisect(
    write: WriteFn, changes: list[RowChange], result: BisectResult, is_poison: Callable[[BaseException], bool]
) -> None:
    # An explicit stack rather than recursion: depth stays at log2(n) anyway, but this keeps order simple.
    stack = [changes]
    while stack:
        part = stack.pop()
        if not part:
            continue
        result.writes += 1
        try:
            write(ChangeBatch(list(part), {}))
            result.written += len(part)
        except Exception as exc:
            if not is_poison(exc):
                raise
            if len(part) == 1:
                result.poisoned.append((part[0], exc))
            else:
                middle = len(part) // 2
                stack.append(part[middle:])
                stack.append(part[:middle])  # popped first: poison is reported in batch order
