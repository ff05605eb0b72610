"""Composition of the stages: reading, decoding, transforming and delivering changes."""
