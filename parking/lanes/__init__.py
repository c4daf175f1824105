"""Lanes: the entry and exit gates of a lot, each with its own credential."""
