"""Issue 13.3: outside demo/test mode the platform refuses to start with a default, empty or weak secret;
demo secrets are generated once per installation and kept (0600) in the data folder."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from parking import secret_settings as ss
from parking.app import create_app
from parking.payments import settings as payment_settings
from parking.settings import REPO_ROOT, Settings

SECRET_ENVS = sorted({env for cls in ss.settings_classes() for _, env, _ in ss.secret_fields(cls)})
AT_IMPORT = {env: os.environ.get(env) for env in SECRET_ENVS}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    saved = {env: os.environ.pop(env) for env in SECRET_ENVS if env in os.environ}
    override = payment_settings._override  # other tests install explicit payment settings: read the environment here
    payment_settings.use_payment_settings(None)
    ss.clear_caches()
    yield monkeypatch
    payment_settings.use_payment_settings(override)
    monkeypatch.undo()
    for env in SECRET_ENVS:  # demo mode sets them in os.environ directly: never leak into other tests
        os.environ.pop(env, None)
    os.environ.update(saved)
    ss.clear_caches()


def _prod(tmp_path: Path) -> Settings:
    return Settings(
        mode="production", database_url="postgresql+asyncpg://x@/x", redis_url="redis://x", data_dir=tmp_path
    )


def test_every_known_secret_setting_is_found() -> None:
    assert {
        "PARKING_PAYMENTS_PROVIDER_SECRET",
        "PARKING_PAYMENTS_SEPAY_API_KEY",
        "PARKING_PAYMENTS_SEPAY_HMAC_SECRET",
        "PARKING_PAYMENTS_VNPAY_HASH_SECRET",
        "PARKING_CONSOLE_SECRET_KEY",
        "PARKING_INVOICE_LOOKUP_SECRET",
    } <= set(SECRET_ENVS)
    assert "PARKING_PAYMENTS_OPERATOR_API_KEY" not in SECRET_ENVS  # the shared operator key is gone (issue 11.1)


def test_production_with_the_shipped_defaults_refuses_to_start(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ss.InsecureConfiguration) as exc:
        create_app(_prod(tmp_path))
    # Every secret shipped with a default value is named; a channel with no default (None: switched off until
    # configured, e.g. a SePay or VNPAY webhook) is not a problem to report.
    with_default = {env for cls in ss.settings_classes() for _, env, default in ss.secret_fields(cls) if default}
    assert with_default, "there are shipped defaults to refuse"
    for env in SECRET_ENVS:
        assert (env in str(exc.value)) == (env in with_default), env


def test_production_refuses_an_empty_or_short_secret_and_starts_with_strong_ones(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    for env in SECRET_ENVS:
        clean_env.setenv(env, secrets.token_urlsafe(32))
    clean_env.setenv("PARKING_INVOICE_LOOKUP_SECRET", "")
    clean_env.setenv("PARKING_CONSOLE_SECRET_KEY", "short-key")
    ss.clear_caches()
    with pytest.raises(ss.InsecureConfiguration) as exc:
        create_app(_prod(tmp_path))
    msg = str(exc.value)
    assert "PARKING_INVOICE_LOOKUP_SECRET is empty" in msg and "PARKING_CONSOLE_SECRET_KEY is shorter" in msg
    assert "PARKING_PAYMENTS_PROVIDER_SECRET" not in msg
    clean_env.setenv("PARKING_INVOICE_LOOKUP_SECRET", secrets.token_urlsafe(32))
    clean_env.setenv("PARKING_CONSOLE_SECRET_KEY", secrets.token_urlsafe(32))
    clean_env.setenv("PARKING_PAYMENTS_VNPAY_HASH_SECRET", "dev-provider-secret")  # a shipped default, anywhere
    ss.clear_caches()
    with pytest.raises(ss.InsecureConfiguration, match="VNPAY_HASH_SECRET is the shipped default"):
        create_app(_prod(tmp_path))
    clean_env.setenv("PARKING_PAYMENTS_VNPAY_HASH_SECRET", secrets.token_urlsafe(32))
    ss.clear_caches()
    assert create_app(_prod(tmp_path)) is not None


def test_demo_secrets_are_generated_per_installation_and_kept(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    a1 = ss.installation_secrets(tmp_path / "a")
    a2 = ss.installation_secrets(tmp_path / "a")
    b = ss.installation_secrets(tmp_path / "b")
    assert a1 == a2 and set(a1) == set(SECRET_ENVS)
    assert all(a1[k] != b[k] for k in a1)  # another installation, other secrets
    assert ss.problems([]) == [] and all(len(v) >= ss.MIN_LENGTH for v in a1.values())
    # the payment simulator takes one secret for all its channels
    assert len({a1[k] for k in ss.SHARED}) == 1
    assert stat.S_IMODE((tmp_path / "a" / "secrets.json").stat().st_mode) == 0o600
    settings = Settings(
        mode="demo", database_url="postgresql+asyncpg://x@/x", redis_url="redis://x", data_dir=tmp_path / "a"
    )
    assert create_app(settings) is not None  # demo mode starts: its secrets are its own
    assert os.environ["PARKING_INVOICE_LOOKUP_SECRET"] == a1["PARKING_INVOICE_LOOKUP_SECRET"]
    assert ss.problems(ss.current_instances(settings)) == []


def test_no_generated_secret_leaks_into_the_test_process() -> None:
    assert {env: os.environ.get(env) for env in SECRET_ENVS} == AT_IMPORT


def test_parking_serve_in_production_mode_refuses_before_starting_anything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENVS and not k.startswith("PARKING_")}
    env.update({"PARKING_MODE": "production", "PARKING_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)})
    r = subprocess.run(
        [sys.executable, "-m", "parking", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Refusing to start in production mode" in r.stderr and "PARKING_PAYMENTS_PROVIDER_SECRET" in r.stderr
    assert not (tmp_path / "pg").exists()  # no embedded PostgreSQL was started
