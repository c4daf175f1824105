"""The one place the driver-side modules (drivers, disputes, city, fee proof) ask "is this operator staff?".

Today that is the shared operator key of the payments module (``X-Operator-Key``); when staff accounts replace
it, only this module changes.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header

from parking.kit.errors import AppError
from parking.payments.settings import get_payment_settings


def staff_actor(key: str | None) -> str | None:
    """The staff actor's name if ``key`` is a valid operator credential, else None."""
    expected = get_payment_settings().operator_api_key
    if key and expected and hmac.compare_digest(key.encode(), expected.encode()):
        return "operator"
    return None


async def require_staff(x_operator_key: Annotated[str | None, Header(alias="X-Operator-Key")] = None) -> str:
    actor = staff_actor(x_operator_key)
    if actor is None:
        raise AppError("unauthorized", "Operator staff only: send X-Operator-Key.", 401)
    return actor


async def optional_staff(x_operator_key: Annotated[str | None, Header(alias="X-Operator-Key")] = None) -> str | None:
    return staff_actor(x_operator_key)


Staff = Annotated[str, Depends(require_staff)]
OptionalStaff = Annotated[str | None, Depends(optional_staff)]
