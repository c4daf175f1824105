"""Secrets in settings: refused when default, empty or weak outside demo/test mode; generated per
installation (kept in the data folder) in demo mode.

A secret setting is any ``str`` field of a settings class whose name says so (secret, api key, password,
token, hmac, private key). ``None`` means "that channel is off" (e.g. a notification shape that is then
refused) and is allowed; an empty string, a value shipped as a default, or one shorter than 16 characters
is not.

Modes (``PARKING_MODE``): ``production`` (the default: refuse to start on any such secret), ``demo``
(``parking run`` / ``make run``: every secret not configured is generated once per installation into
``{data_dir}/secrets.json``, mode 0600), ``test`` (the test suite: the fixed development values, which its
simulators share).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import types
import typing
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

SECRET_NAME = re.compile(r"secret|api_key|password|(^|_)token$|hmac|private_key", re.IGNORECASE)
# Values that were ever shipped as defaults or are well known placeholders: refused whatever the field.
KNOWN_DEFAULTS = frozenset(
    {"dev-provider-secret", "dev-operator-key", "dev-only-lookup-secret", "changeme", "secret", "password"}
)
MIN_LENGTH = 16
# Env names that must share one generated value: the demo payment simulator takes one secret for its API
# bearer, the SePay API key and HMAC, and the VNPAY hash.
SHARED = {
    "PARKING_PAYMENTS_PROVIDER_SECRET": "payment_provider",
    "PARKING_PAYMENTS_SEPAY_API_KEY": "payment_provider",
    "PARKING_PAYMENTS_SEPAY_HMAC_SECRET": "payment_provider",
    "PARKING_PAYMENTS_VNPAY_HASH_SECRET": "payment_provider",
}


class InsecureConfiguration(RuntimeError):
    pass


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of the platform (imported lazily: kit must not import the domains at load)."""
    from parking.invoices.settings import InvoiceSettings
    from parking.payments.settings import PaymentSettings
    from parking.settings import Settings

    return [Settings, PaymentSettings, InvoiceSettings]


def _is_str_field(annotation: Any) -> bool:
    if annotation is str:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return str in typing.get_args(annotation)
    return False


def secret_fields(cls: type[BaseSettings]) -> list[tuple[str, str, Any]]:
    """(field name, env var name, default) of the secret settings of ``cls``."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    return [
        (name, f"{prefix}{name}".upper(), f.default)
        for name, f in cls.model_fields.items()
        if SECRET_NAME.search(name) and _is_str_field(f.annotation)
    ]


def problems(instances: list[BaseSettings]) -> list[str]:
    """What is wrong with the secrets of these settings, one line per setting (empty: all good)."""
    out: list[str] = []
    for inst in instances:
        for name, env, default in secret_fields(type(inst)):
            value = getattr(inst, name)
            if value is None:
                continue  # that channel is switched off
            if value == "":
                out.append(f"{env} is empty")
            elif value in KNOWN_DEFAULTS or (isinstance(default, str) and default and value == default):
                out.append(f"{env} is the shipped default")
            elif len(value) < MIN_LENGTH:
                out.append(f"{env} is shorter than {MIN_LENGTH} characters")
    return out


def current_instances(settings: BaseSettings | None = None) -> list[BaseSettings]:
    from parking.invoices.settings import get_invoice_settings
    from parking.payments.settings import get_payment_settings
    from parking.settings import get_settings

    return [settings or get_settings(), get_payment_settings(), get_invoice_settings()]


def clear_caches() -> None:
    from parking.invoices.settings import get_invoice_settings
    from parking.payments import settings as payments
    from parking.settings import get_settings

    get_settings.cache_clear()
    payments._from_env.cache_clear()
    get_invoice_settings.cache_clear()


def installation_secrets(data_dir: Path) -> dict[str, str]:
    """The demo secrets of this installation (env name -> value), generated on first use and kept."""
    path = data_dir / "secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = {env for cls in settings_classes() for _, env, _ in secret_fields(cls)}
    changed = False
    for env in sorted(wanted):
        key = SHARED.get(env, env)
        if key not in stored:
            stored[key] = secrets.token_urlsafe(32)
            changed = True
    if changed:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=2)
        tmp.replace(path)
    return {env: stored[SHARED.get(env, env)] for env in sorted(wanted)}


def apply_demo_secrets(data_dir: Path) -> None:
    """Demo mode: every secret not configured explicitly takes this installation's generated value."""
    for env, value in installation_secrets(data_dir).items():
        os.environ.setdefault(env, value)
    clear_caches()


def enforce(mode: str, data_dir: Path, settings: BaseSettings | None = None) -> None:
    """Call before serving: demo fills in generated secrets; production refuses weak ones; test passes."""
    if mode == "test":
        return
    if mode == "demo":
        apply_demo_secrets(data_dir)
    found = problems(current_instances(settings))
    if found:
        raise InsecureConfiguration(
            f"Refusing to start in {mode} mode with default, empty or weak secrets:\n  - "
            + "\n  - ".join(found)
            + "\nSet each to a long random value (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`),"
            " or run the demo with PARKING_MODE=demo (secrets generated per installation)."
        )
