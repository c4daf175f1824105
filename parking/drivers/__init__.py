"""Driver accounts: vehicles, linked payment methods, monthly passes, sessions and debts (`/v1/drivers`)."""
