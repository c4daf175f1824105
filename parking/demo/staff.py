"""Demo staff: one account per role for the demo operator, passwords generated once per installation.

The passwords live in ``data_dir/demo/staff.json`` (mode 0600) and are printed by ``parking run``; they are
never in the repository. The demo "operator" account is limited to the first demo lot, to show lot scoping.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from parking.models import STAFF_ROLES, Lot, Operator, StaffUser
from parking.staff import passwords
from parking.staff import service as staff_service

NAMES = {
    "admin": "Nguyễn Văn Quản",
    "supervisor": "Trần Thị Giám",
    "operator": "Lê Văn Vận",
    "finance": "Phạm Thị Kế",
    "auditor": "Hoàng Văn Kiểm",
}


def email_for(role: str) -> str:
    return f"{role}@demo.parking.vn"


def read_passwords(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.is_file() else {}


def write_passwords(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(values, fh, indent=2)
    tmp.replace(path)


async def seed_demo_staff(db: AsyncSession, operator_code: str, known: dict[str, str]) -> list[dict[str, Any]]:
    """Create the missing accounts (or reset a password nobody knows any more); returns who logs in with what."""
    op = (await db.execute(select(Operator).where(Operator.code == operator_code))).scalar_one()
    lots = list((await db.execute(select(Lot.id, Lot.code).where(Lot.operator_id == op.id).order_by(Lot.code))).all())
    out = []
    for role in STAFF_ROLES:
        email = email_for(role)
        password = known.get(email) or secrets.token_urlsafe(9)
        limited = (lots[0].id,) if role == "operator" and len(lots) > 1 else ()
        user = (await db.execute(select(StaffUser).where(StaffUser.email == email))).scalar_one_or_none()
        if user is None:
            await staff_service.create_user(
                db,
                operator_id=op.id,
                email=email,
                name=NAMES[role],
                role=role,
                password=password,
                lot_ids=limited,
                actor="system:demo-seed",
            )
        elif not passwords.verify_password(password, user.password_hash):
            user.password_hash = passwords.hash_password(password)
        out.append(
            {
                "role": role,
                "email": email,
                "password": password,
                "lots": [lot.code for lot in lots if not limited or lot.id in limited],
            }
        )
    await db.flush()
    return out
