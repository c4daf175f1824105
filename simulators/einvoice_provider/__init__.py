"""Fake e-invoice provider (TCTN) as a real HTTP service, for the demo and the tests.

Run: ``python -m simulators.einvoice_provider --port 8790 --cert operator-cert.pem``.
"""
