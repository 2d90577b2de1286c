"""Shared front: R's formula language and the data, turned into model matrices (every model family)."""
