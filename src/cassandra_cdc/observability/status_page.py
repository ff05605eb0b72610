"""The built-in HTML status page: one table per destination and source node, refreshed every few seconds.

Rendered on the server from a :class:`PipelineSnapshot`, so it needs no JavaScript; a meta refresh
reloads it (at most every ``refresh_seconds``, never below 5).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from importlib import resources
from string import Template

from cassandra_cdc.observability.metrics import DestinationSnapshot, NodeSnapshot, Percentiles, PipelineSnapshot
from cassandra_cdc.observability.readiness import ReadinessReport

MIN_REFRESH_SECONDS = 5


@dataclass(frozen=True, slots=True)
class StatusThresholds:
    lag_warning: float = 30.0  # seconds of lag before a destination shows as lagging
    stall_after: float = 60.0  # no commit for this long while lag exceeds it: stalled


def _template() -> Template:
    text = resources.files("cassandra_cdc.observability").joinpath("status_page.html").read_text("utf-8")
    return Template(text)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds == 0:
        return "0 s"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    if seconds < 3600:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes}m {rest:02d}s"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h {rest // 60:02d}m"


def format_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_rate(per_second: float) -> str:
    return f"{per_second:,.1f}/s"


def destination_state(d: DestinationSnapshot, now: float, thresholds: StatusThresholds) -> str:
    """ok, lagging, stalled, or idle (nothing reported yet)."""
    if d.lag_seconds is None and d.last_commit_at is None:
        return "idle"
    lag = d.lag_seconds or 0.0
    since_commit = None if d.last_commit_at is None else now - d.last_commit_at
    if (
        (d.backlog_depth or 0) > 0
        and lag > thresholds.stall_after
        and (since_commit is None or since_commit > thresholds.stall_after)
    ):
        return "stalled"
    if lag > thresholds.lag_warning:
        return "lagging"
    return "ok"


_SEVERITY = {"ok": 0, "idle": 1, "lagging": 2, "not-ready": 3, "stalled": 4}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(field: str, text: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f'<td data-field="{field}"{cls}>{_e(text)}</td>'


def _percentiles(p: Percentiles) -> str:
    if p.samples == 0:
        return "—"
    return " / ".join(format_duration(v) for v in (p.p50, p.p95, p.p99))


def _destination_row(d: DestinationSnapshot, now: float, thresholds: StatusThresholds) -> str:
    state = destination_state(d, now, thresholds)
    lag_css = "num-bad" if state == "stalled" else "num-warn" if state == "lagging" else ""
    errors = str(d.errors_total)
    if d.errors_by_type:
        errors += " (" + ", ".join(f"{k} {v}" for k, v in d.errors_by_type.items()) + ")"
    last = "never" if d.last_commit_at is None else f"{format_duration(max(0.0, now - d.last_commit_at))} ago"
    cells = [
        _cell("destination", d.destination, "name"),
        f'<td data-field="state" class="text"><span class="badge state-{state}">{state}</span></td>',
        _cell("lag", format_duration(d.lag_seconds), lag_css),
        _cell("events_per_second", format_rate(d.events_per_second)),
        _cell("events_total", f"{d.events_total:,}"),
        _cell("errors", errors, "num-bad" if d.errors_total else ""),
        _cell("backlog", format_bytes(d.backlog_depth)),
        _cell("end_to_end", _percentiles(d.end_to_end)),
        _cell("pipeline", _percentiles(d.pipeline)),
        _cell("last_commit", last),
    ]
    return f'      <tr data-destination="{_e(d.destination)}">{"".join(cells)}</tr>'


def _node_row(n: NodeSnapshot) -> str:
    bar = '<span class="sub">—</span>'
    if n.cdc_raw_bytes is not None and n.cdc_raw_capacity_bytes:
        share = n.cdc_raw_bytes / n.cdc_raw_capacity_bytes
        css = "bad" if share > 0.8 else "warn" if share > 0.6 else ""
        width = min(100.0, share * 100)
        bar = f'<span class="bar {css}"><span style="width:{width:.1f}%"></span></span> {share * 100:.1f}%'
    cells = [
        _cell("node", n.node, "name"),
        _cell("segment_id", "—" if n.segment_id is None else str(n.segment_id)),
        _cell("position", "—" if n.position is None else f"{n.position:,}"),
        _cell("cdc_raw_bytes", format_bytes(n.cdc_raw_bytes)),
        _cell("cdc_raw_capacity_bytes", format_bytes(n.cdc_raw_capacity_bytes)),
        f'<td data-field="usage" class="text">{bar}</td>',
    ]
    return f'      <tr data-node="{_e(n.node)}">{"".join(cells)}</tr>'


def _check_rows(readiness: ReadinessReport | None) -> str:
    if readiness is None or not readiness.checks:
        return '      <tr><td class="empty text" colspan="4">no readiness checks configured</td></tr>'
    rows = []
    for name, r in readiness.checks.items():
        state = "ok" if r.ok else "not-ready"
        label = "ready" if r.ok else "not ready"
        rows.append(
            f'      <tr data-check="{_e(name)}">{_cell("check", name, "name")}'
            f'<td data-field="status" class="text"><span class="badge state-{state}">{label}</span></td>'
            f"{_cell('latency', format_duration(r.latency_seconds))}{_cell('detail', r.detail, 'text')}</tr>"
        )
    return "\n".join(rows)


def render_status_page(
    snapshot: PipelineSnapshot,
    readiness: ReadinessReport | None = None,
    *,
    title: str = "cassandra-cdc",
    refresh_seconds: int = MIN_REFRESH_SECONDS,
    thresholds: StatusThresholds | None = None,
) -> str:
    """The page's HTML; ``refresh_seconds`` below 5 is raised to 5 (the page must not hammer the process)."""
    limits = thresholds or StatusThresholds()
    now = snapshot.taken_at
    states = [destination_state(d, now, limits) for d in snapshot.destinations]
    if readiness is not None and not readiness.ready:
        states.append("not-ready")
    overall = max(states, key=lambda s: _SEVERITY[s], default="idle")
    dest_rows = "\n".join(_destination_row(d, now, limits) for d in snapshot.destinations) or (
        '      <tr><td class="empty text" colspan="10">no destinations yet</td></tr>'
    )
    node_rows = "\n".join(_node_row(n) for n in snapshot.nodes) or (
        '      <tr><td class="empty text" colspan="6">no source nodes yet</td></tr>'
    )
    taken = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return _template().substitute(
        title=_e(title),
        refresh=max(MIN_REFRESH_SECONDS, int(refresh_seconds)),
        overall=_e(overall.replace("-", " ")),
        overall_class=_e(overall),
        taken_at=_e(taken),
        destination_rows=dest_rows,
        node_rows=node_rows,
        check_rows=_check_rows(readiness),
    )
