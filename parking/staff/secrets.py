"""Secrets of the staff console: configured in production, generated once per installation in demo/test mode."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from parking.settings import Settings


@dataclass(frozen=True)
class StaffSecrets:
    console_key: str
    metrics_token: str


def _generated(folder: Path, name: str) -> str:
    path = folder / name
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return value
    folder.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # O_EXCL + 0600: a secret readable only by the installation's user, never overwritten by a second process.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def resolve(settings: Settings) -> StaffSecrets:
    """The configured secrets; in demo/test mode the missing ones are generated and kept in data_dir/secrets."""
    values: dict[str, str] = {}
    for name, configured in (
        ("console_secret_key", settings.console_secret_key),
        ("metrics_token", settings.metrics_token),
    ):
        if configured:
            values[name] = configured
        elif settings.mode in ("demo", "test"):
            values[name] = _generated(settings.data_dir / "secrets", name)
        else:
            raise RuntimeError(
                f"PARKING_{name.upper()} is not set. Outside demo/test mode (PARKING_MODE) no secret has a default: "
                f"set it to a long random value, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
            )
    return StaffSecrets(values["console_secret_key"], values["metrics_token"])
