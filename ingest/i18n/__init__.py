"""Message catalogs: the workspace's texts in Latvian (the default), Russian and English.

Texts are written in English in the code and the templates (``_("Log out")``) and translated
in ``locale/<lang>/LC_MESSAGES/messages.po``, edited as text and read with Babel; they are
compiled in memory when the service starts, so an installation needs no build step. Plural
forms come from each catalog's header (Latvian has three). After changing a text, extract the
catalog template and update the translations (see README, "Languages")::

    pybabel extract -F ingest/i18n/babel.cfg -o ingest/i18n/messages.pot ingest
    pybabel update -i ingest/i18n/messages.pot -d ingest/i18n/locale
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("lv", "ru", "en")
DEFAULT_LANGUAGE = "lv"
DOMAIN = "messages"


def N_(text: str) -> str:
    """Mark ``text`` for extraction into the catalogs; translated later, where it is shown."""
    return text


@dataclass(frozen=True)
class Catalogs:
    """The compiled catalog of every language."""

    by_language: Mapping[str, Translations]

    def get(self, language: str | None) -> Translations:
        """The language's catalog; Latvian for anything else."""
        return self.by_language.get(language or DEFAULT_LANGUAGE) or self.by_language[DEFAULT_LANGUAGE]


def language_of(value: str | None) -> str:
    """A supported language code, or the default."""
    code = (value or "").strip().lower()[:2]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def po_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalog(language: str, locale_dir: Path = LOCALE_DIR) -> Translations:
    """The ``.po`` file read and compiled in memory (fuzzy entries are left out, as msgfmt does)."""
    with po_path(language, locale_dir).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def load_catalogs(locale_dir: Path = LOCALE_DIR) -> Catalogs:
    return Catalogs(by_language={language: compile_catalog(language, locale_dir) for language in LANGUAGES})
