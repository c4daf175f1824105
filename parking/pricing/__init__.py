"""Pricing engine: regulated and declared parking tariffs as versioned data, and explainable fees.

Pure: no database, no network, no clock. See docs/pricing.md.
"""

from parking.pricing.engine import parse_instant, quote
from parking.pricing.errors import (
    ExitBeforeEntry,
    InvalidDatetime,
    NaiveDatetime,
    NoTariffInForce,
    NoVatRate,
    PassNotApplicable,
    PricingError,
    TariffFileError,
    UnknownTariff,
    UnknownVehicleClass,
    UnknownZone,
)
from parking.pricing.loader import TariffBook, load_tariff_book, load_tariff_file
from parking.pricing.model import VEHICLE_CLASSES, Exemption, Pass, Quote, QuoteLine, TariffVersion
from parking.pricing.vat import VatTable, split_inclusive

__all__ = [
    "VEHICLE_CLASSES",
    "Exemption",
    "ExitBeforeEntry",
    "InvalidDatetime",
    "NaiveDatetime",
    "NoTariffInForce",
    "NoVatRate",
    "Pass",
    "PassNotApplicable",
    "PricingError",
    "Quote",
    "QuoteLine",
    "TariffBook",
    "TariffFileError",
    "TariffVersion",
    "UnknownTariff",
    "UnknownVehicleClass",
    "UnknownZone",
    "VatTable",
    "load_tariff_book",
    "load_tariff_file",
    "parse_instant",
    "quote",
    "split_inclusive",
]
