"""Destinations: each keeps Cassandra's per-cell state and converges to Cassandra's final state."""
