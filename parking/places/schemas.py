"""HTTP shapes of find-a-space (names follow the APDS Place/Rate/Occupancy vocabulary where it fits)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Stay(BaseModel):
    hours: int
    total_vnd: int


class RateNow(BaseModel):
    tariff_id: str
    tariff_version: int
    rule: str
    legal_source: str
    certainty: str
    prices_include_vat: bool
    stays: list[Stay]


class ClassAvailability(BaseModel):
    name_vi: str
    name_en: str
    capacity: int
    occupied: int
    free: int
    full: bool
    rate: RateNow | None


class OpeningHours(BaseModel):
    always_open: bool
    opens_at: str | None
    closes_at: str | None
    timezone: str
    open_now: bool
    text_vi: str


class PaymentWays(BaseModel):
    linked_account: bool
    vietqr: bool
    cash: bool


class Place(BaseModel):
    id: str
    code: str
    name: str
    address: str
    latitude: float
    longitude: float
    distance_m: int
    opening_hours: OpeningHours
    payment: PaymentWays
    availability: dict[str, ClassAvailability]
    availability_source: str
    availability_at: str


class Origin(BaseModel):
    latitude: float
    longitude: float


class PlacesOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "origin": {"latitude": 21.0285, "longitude": 105.8542},
                    "radius_m": 1000,
                    "vehicle_class": "motorbike",
                    "at": "2026-12-01T03:00:00+00:00",
                    "places": [
                        {
                            "id": "0b9f2c1e-2a4d-4c55-9d8e-6b1f0a7c3e21",
                            "code": "HK-MOTO-01",
                            "name": "Bãi xe máy Đinh Tiên Hoàng",
                            "address": "Đinh Tiên Hoàng, phường Hoàn Kiếm, Hà Nội",
                            "latitude": 21.030653,
                            "longitude": 105.852382,
                            "distance_m": 300,
                            "opening_hours": {
                                "always_open": False,
                                "opens_at": "06:00",
                                "closes_at": "23:00",
                                "timezone": "Asia/Ho_Chi_Minh",
                                "open_now": True,
                                "text_vi": "Mở cửa 06:00–23:00",
                            },
                            "payment": {"linked_account": True, "vietqr": True, "cash": False},
                            "availability": {
                                "motorbike": {
                                    "name_vi": "Xe máy",
                                    "name_en": "Motorbike",
                                    "capacity": 300,
                                    "occupied": 120,
                                    "free": 180,
                                    "full": False,
                                    "rate": {
                                        "tariff_id": "hanoi-44-2017",
                                        "tariff_version": 1,
                                        "rule": "motorbike-urban",
                                        "legal_source": "Decision 44/2017/QĐ-UBND",
                                        "certainty": "confirmed",
                                        "prices_include_vat": True,
                                        "stays": [
                                            {"hours": 1, "total_vnd": 5000},
                                            {"hours": 2, "total_vnd": 5000},
                                            {"hours": 4, "total_vnd": 5000},
                                        ],
                                    },
                                }
                            },
                            "availability_source": "redis",
                            "availability_at": "2026-12-01T03:00:00.120000+00:00",
                        }
                    ],
                }
            ]
        }
    )

    origin: Origin
    radius_m: float
    vehicle_class: str | None
    at: str
    places: list[Place]


class LotSettingsIn(BaseModel):
    """What the operator sets for a lot; fields left out keep their value."""

    opens_at: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["06:00"])
    closes_at: str | None = Field(None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["23:00"])
    always_open: bool | None = Field(None, description="true clears the opening hours")
    accepts_linked: bool | None = None
    accepts_vietqr: bool | None = None
    qr_lane_wait_s: int | None = Field(None, ge=5, le=300, description="How long an unpaid VietQR holds the exit")
    unpaid_qr_policy: str | None = Field(None, pattern="^(debt|attendant)$")


class LotSettingsOut(BaseModel):
    code: str
    opens_at: str | None
    closes_at: str | None
    accepts_linked: bool
    accepts_vietqr: bool
    qr_lane_wait_s: int
    unpaid_qr_policy: str
