"""No wrong charges: may the exit charge the session's linked account without asking? (pure)

A linked account is charged silently only when the exit camera read the session's own plate, character
for character, with a fused read confidence at or above the operating threshold (chosen on held-out
photos for a wrong-accept rate of at most 0.1 %, see docs/plate-reading.md). Anything weaker shows the
VietQR with the plate for the driver to confirm, or goes to review.
"""

from __future__ import annotations

import re

_NON_PLATE = re.compile(r"[^A-Z0-9]")


def _norm(text: str | None) -> str:
    # The same normalisation as vnplate.normalize (Đ is written D), kept local: this module stays pure.
    return _NON_PLATE.sub("", (text or "").upper().replace("Đ", "D"))


def linked_charge_refusal(
    session_plate: str | None, exit_read: str | None, read_confidence: float | None, min_confidence: float
) -> str | None:
    """None when the linked charge may go ahead, else the reason it may not (a snake_case flag)."""
    session = _norm(session_plate)
    if not session:
        return "no_session_plate"
    if exit_read is None or read_confidence is None:
        return "exit_read_unknown"
    if _norm(exit_read) != session:
        return "exit_plate_differs"
    if not read_confidence >= min_confidence:  # also refuses NaN
        return "read_not_confident"
    return None
