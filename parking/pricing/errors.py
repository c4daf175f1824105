"""Errors of the pricing engine.

Every error carries a stable snake_case ``code`` (the HTTP layer maps it to the shared error shape)
and a message that names the problem in the words an operator or a driver would use.
"""

from __future__ import annotations

from pathlib import Path


class PricingError(Exception):
    code = "pricing_error"

    def __init__(self, message: str, *, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, object] = details or {}

    def __str__(self) -> str:
        return self.message


class ExitBeforeEntry(PricingError):
    code = "exit_before_entry"


class NaiveDatetime(PricingError):
    code = "naive_datetime"


class InvalidDatetime(PricingError):
    code = "invalid_datetime"


class UnknownTariff(PricingError):
    code = "unknown_tariff"


class UnknownZone(PricingError):
    code = "unknown_zone"


class UnknownVehicleClass(PricingError):
    code = "unknown_vehicle_class"


class NoTariffInForce(PricingError):
    code = "no_tariff_in_force"


class NoVatRate(PricingError):
    code = "no_vat_rate"


class PassNotApplicable(PricingError):
    code = "pass_not_applicable"


class TariffFileError(PricingError):
    """A tariff or VAT file that does not validate. The message starts with the file name."""

    code = "invalid_tariff_file"

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}", details={"file": self.path, "problem": problem})
