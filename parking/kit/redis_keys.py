"""Every Redis key and pub/sub channel the platform uses, named once.

Redis holds mirrors and streams only (PostgreSQL is the truth), so a renamed key here is a cache miss, not data
loss; but a key spelt two ways in two modules is a silent split, which is why they all live here.
"""

from __future__ import annotations

import uuid

OCCUPANCY_CHANNEL = "occupancy"
"""Every change of a lot's occupancy counters (JSON: lot_id, class, occupied, capacity)."""

LANE_HEARTBEAT_PATTERN = "lane:*:hb"


def occupancy(lot_id: uuid.UUID | str) -> str:
    """Hash ``{vehicle_class: occupied}`` mirroring ``lot_capacities`` of one lot."""
    return f"occ:{lot_id}"


def lane_heartbeat(lane_id: uuid.UUID | str) -> str:
    """The lane's last heartbeat (JSON), expiring when the lane goes quiet: its presence means online."""
    return f"lane:{lane_id}:hb"


def lane_commands(lane_id: uuid.UUID | str) -> str:
    """Channel of commands for one lane (open the barrier after a payment, an operator's override)."""
    return f"lane:{lane_id}:commands"


def lot_events(lot_id: uuid.UUID | str) -> str:
    """Channel of the gate events of one lot, for live feeds."""
    return f"lot:{lot_id}:events"
