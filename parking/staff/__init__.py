"""Staff accounts of an operator: roles, console sessions, API tokens, and the FastAPI dependencies that guard
every operator-facing route."""
