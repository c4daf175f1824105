"""What the driver sees (issue 12.8): one plate format from the grammar, the receipt's columns, local times
and payment method, the exit and lot-full screens."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import vnplate
from parking.invoices import service as invoice_service
from parking.invoices.render import local
from parking.kit.db import transaction
from parking.models import Lot, ParkingSession, Payment
from tests.factories import LotHandle, event, make_lot, random_car_plate
from tests.factories.invoices import confirm_in

DIGITS = st.text("0123456789", min_size=4, max_size=5)
MOTO_SERIES = st.builds(
    lambda a, d: a + d, st.sampled_from(sorted(vnplate.SERIES_LETTERS)), st.sampled_from("123456789")
)


@given(st.sampled_from(sorted(vnplate.PROVINCE_CODES)), MOTO_SERIES, DIGITS)
def test_a_motorbike_plate_is_shown_in_the_motorbike_layout(province: str, series: str, number: str) -> None:
    norm = f"{province}{series}{number}"
    shown = vnplate.display(norm, "motorbike")
    assert shown.startswith(f"{province}-{series} ")  # 54-Y9 3476, never 54Y-934.76
    assert vnplate.normalize(shown) == norm
    assert vnplate.display(shown, "motorbike") == shown  # idempotent


@given(st.sampled_from(sorted(vnplate.PROVINCE_CODES)), MOTO_SERIES, st.text("0123456789", min_size=5, max_size=5))
def test_a_motorbike_only_plate_is_never_a_cars(province: str, series: str, number: str) -> None:
    from parking.drivers.service import plate_fits_class

    norm = f"{province}{series}{number}"  # letter + digit series and 5 digits: only a motorbike layout fits
    assert plate_fits_class(norm, "motorbike")
    assert not plate_fits_class(norm, "car_small") and not plate_fits_class(norm, "car_large")


def test_the_issues_examples() -> None:
    assert vnplate.display("54Y93476", "motorbike") == "54-Y9 3476"
    assert vnplate.display("72L21703", "motorbike") == "72-L2 1703"
    assert vnplate.display("72L21703", "car_small") == "72L-217.03"
    assert vnplate.display("not a plate") == "NOT A PLATE"


def test_receipt_times_read_as_local_dates() -> None:
    assert local("2026-12-01T10:18:23") == "01/12/2026 10:18"
    assert local("2026-12-01") == "01/12/2026"
    assert local("2026-11-01T00:00:00 - 2026-12-01T00:00:00") == "01/11/2026 00:00 - 01/12/2026 00:00"


async def test_motorbike_receipt_plate_columns_times_and_payment_method(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    lot = await make_lot(sessionmaker, capacities={"motorbike": 10})
    exit_at = datetime.now(UTC)
    async with transaction(sessionmaker) as db:
        ps = ParkingSession(
            id=uuid.uuid4(),
            lot_id=lot.id,
            vehicle_class="motorbike",
            plate="54Y93476",
            status="closed",
            entry_at=exit_at - timedelta(hours=2),
            exit_at=exit_at,
            fee_vnd=5000,
            tariff_id="hanoi-44-2017",
            tariff_version="1",
            flags=[],
        )
        db.add(ps)
        await db.flush()
        p = Payment(
            id=uuid.uuid4(),
            session_id=ps.id,
            purpose="session",
            amount_vnd=5000,
            status="pending",
            method="vietqr",
            provider="testbank",
            flags=[],
        )
        db.add(p)
        await db.flush()
        inv = await confirm_in(db, p.id)
    assert inv is not None
    page = (await client.get(invoice_service.lookup_path(inv.mccqt))).text
    assert "54-Y9 3476" in page and "54Y-934.76" not in page
    assert '<th class="num">SL</th>' in page and '<th class="num">Đơn giá</th>' in page
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", page)  # no raw ISO time anywhere
    local_entry = (exit_at - timedelta(hours=2)).astimezone(invoice_service.X.VN_TZ).strftime("%d/%m/%Y %H:%M")
    assert local_entry in page
    assert 'id="payment-method"' in page and 'id="issued-at"' in page
    # The fee proof is on the receipt page too, with a way to dispute the stay.
    assert "id='fee-proof'" in page and f"/m/sessions/{ps.id}" in page


async def test_exit_screen_shows_entry_time_stay_and_breakdown(client: httpx.AsyncClient, lot: LotHandle) -> None:
    plate = random_car_plate()
    entry = datetime.now(UTC) - timedelta(hours=3, minutes=5)
    await client.post("/v1/gate/events", json=event("entry", plate, at=entry), headers=lot.entry.headers)
    d = (await client.post("/v1/gate/events", json=event("exit", plate), headers=lot.exit.headers)).json()
    lines = d["display"]["lines"]
    local_entry = entry.astimezone(invoice_service.X.VN_TZ).strftime("%d/%m/%Y %H:%M")
    assert any(line.startswith(f"Vào lúc {local_entry} · gửi 3 giờ 5 phút") for line in lines), lines
    assert "Giờ thứ 1–2: 2 giờ × 25.000 đ = 50.000 đ" in lines
    assert "Giờ thứ 3–4: 2 giờ × 35.000 đ = 70.000 đ" in lines


async def test_lot_full_screen_names_the_class_in_vietnamese_and_suggests_nearby_lots(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    full = await make_lot(sessionmaker, capacities={"car_small": 1})
    near = await make_lot(sessionmaker, capacities={"car_small": 7})
    lat, lon = 48.8566, 2.3522 + float(uuid.uuid4().int % 1000) / 10000
    for handle, dlat in ((full, 0.0), (near, 0.004)):
        async with sessionmaker() as db:
            await db.execute(
                update(Lot)
                .where(Lot.id == handle.id)
                .values(
                    latitude=Decimal(f"{lat + dlat:.6f}"), longitude=Decimal(f"{lon:.6f}"), name=f"Bãi {handle.code}"
                )
            )
            await db.commit()
    await client.post("/v1/gate/events", json=event("entry", random_car_plate()), headers=full.entry.headers)
    d = (
        await client.post("/v1/gate/events", json=event("entry", random_car_plate()), headers=full.entry.headers)
    ).json()
    assert d["action"] == "refuse"
    lines = d["display"]["lines"]
    assert lines[0] == "Hết chỗ cho ô tô đến 9 chỗ (1/1)" and "car_small" not in " ".join(lines)
    assert f"Bãi {near.code} · 445 m · còn 7 chỗ" in lines


async def test_unreadable_plate_decision_is_flagged_for_the_kiosk(client: httpx.AsyncClient, lot: LotHandle) -> None:
    d = (
        await client.post(
            "/v1/gate/events", json=event("entry", "30A-111.22", confidence=0.1), headers=lot.entry.headers
        )
    ).json()
    # The kiosk hides the plate when the server flags it unusable (gate_agent._agent._act_online).
    assert d["action"] == "attendant" and "plate_unreadable" in d["flags"]
