from tests.parking.drivers.conftest import idp  # noqa: F401
