"""A stand-in for Cassandra: generated workloads written as real commit-log segments into cdc_raw.

Only the project's encoder, proven byte for byte against Cassandra's own segments, writes here.
"""
