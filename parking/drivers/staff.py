"""Which staff may act on the driver-side queues (disputes, problem reports, plate claims, lot settings).

Staff accounts (``parking.staff``) replaced the shared operator key: these are the role checks of the driver-side
operator routes, in one place. Every route still scopes its query by ``staff.lot_ids`` (another operator's
dispute, report, claim or lot answers 404 and never appears in a list).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from parking.staff.deps import staff_dependency
from parking.staff.service import Staff

# Operators and supervisors work the queues; auditors read them (read-only roles are refused on writes);
# admin passes every role check.
Desk = Annotated[Staff, Depends(staff_dependency("supervisor", "operator", "auditor"))]
Admin = Annotated[Staff, Depends(staff_dependency("admin"))]

__all__ = ["Admin", "Desk", "Staff"]
