"""Lots and their live occupancy."""
