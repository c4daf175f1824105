"""One Jinja2 environment per locale (gettext installed into each), autoescaped."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from parking.console.i18n import translations

TEMPLATES = Path(__file__).parent / "templates"
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def vnd(value: int | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}".replace(",", ".") + " ₫"


def local(value: datetime | None, fmt: str = "%d/%m %H:%M:%S") -> str:
    return value.astimezone(HANOI).strftime(fmt) if value else "—"


@lru_cache
def env(locale: str) -> Environment:
    e = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    e.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    e.filters["vnd"] = vnd
    e.filters["local"] = local
    return e


def render(locale: str, name: str, **ctx: Any) -> str:
    return env(locale).get_template(name).render(locale=locale, **ctx)
