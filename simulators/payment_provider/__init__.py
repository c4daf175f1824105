"""Payment provider / bank simulator: a real HTTP service (see app.py)."""

from simulators.payment_provider.app import SimConfig, create_app

__all__ = ["SimConfig", "create_app"]
