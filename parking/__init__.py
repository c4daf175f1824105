"""parking."""
