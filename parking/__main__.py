"""`python -m parking ...` is the same command line as the `parking` script."""

from parking.cli import app

app()
