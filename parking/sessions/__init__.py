"""Parking sessions: one stay of one vehicle in one lot, opened at entry and closed at exit."""
