"""Row-level change events: the contract between capture (commit log) and delivery (transform, sinks).

Nothing here imports the commit-log reader or any sink, so a durable stream can carry these events
between the two.
"""
