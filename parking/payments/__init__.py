"""Payments: linked accounts, VietQR, provider notifications, ledger."""
