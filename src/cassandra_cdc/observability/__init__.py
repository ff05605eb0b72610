"""Observability: Prometheus metrics, the HTTP endpoint and status page, structured logs and tracing.

Used by every stage of the pipeline and depending on none of them: the runner feeds it plain values.
"""
