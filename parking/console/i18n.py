"""Console translations: gettext catalogues (Babel .po files) compiled in memory at start.

The .po files are the source (``pybabel extract -F babel.cfg -o messages.pot parking/console`` then
``pybabel update``); compiling them when the process starts means no binary .mo file to keep in step.
"""

from __future__ import annotations

import gettext
import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
LOCALE_DIR = Path(__file__).parent / "locales"


@lru_cache
def translations(locale: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def pick(cookie: str | None, user_locale: str | None = None) -> str:
    for choice in (cookie, user_locale):
        if choice in LOCALES:
            return choice
    return DEFAULT_LOCALE
