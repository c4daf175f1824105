"""The double-entry ledger: the source of truth for money (what drivers owe, what came in, what went back).

`rules` is pure (builds balanced journal entries), `repository` stores and reads them, `service` holds the
checks. Used by payments, passes (drivers) and invoices; next by reconciliation.
"""
