"""The demo operator, its two Hanoi lots and their lanes."""
