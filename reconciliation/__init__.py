"""Nightly reconciliation (the next milestone; nothing here runs yet).

It will import each provider's settlement file, match it against ``payments`` (the unique
``(provider, provider_txn_id)`` and the VietQR reference in ``payment_intents``) and the double-entry
ledger, explain every gap with the classes listed in ``../shared/domain/README.md`` section 5.2, and
catch up e-invoices with ``parking.invoices.verify``. What it builds on today: ``parking/payments``
(payments, notifications kept raw, ledger) and ``parking/invoices/verify.py``.
"""
