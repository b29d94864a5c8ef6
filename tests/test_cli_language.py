"""The CLI speaks the language of the person at the terminal, chosen the gettext way (issue 12):
Latvian or Russian when the environment says so, English for C, POSIX and everything else, so
that scripts and CI read what they always read. Machine-readable output is never translated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.cli.common import LANGUAGE_VARIABLES, cli_language, cli_translations
from tests.support import ROOT, write_config

INGEST = [sys.executable, "-m", "ingest.cli"]
PASSWORD = "a long enough passphrase 42"


@pytest.mark.parametrize(
    ("env", "language"),
    [
        ({"LANG": "lv_LV.UTF-8"}, "lv"),
        ({"LANG": "ru_RU"}, "ru"),
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "C"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),  # no German catalog: English, not the dashboard's Latvian
        ({}, "en"),
        ({"LANGUAGE": "ru", "LANG": "lv_LV.UTF-8"}, "ru"),  # LANGUAGE beats LANG
        ({"LANGUAGE": "lv:ru", "LC_ALL": "C.UTF-8"}, "lv"),  # a list: its first language
        ({"LANGUAGE": "", "LANG": "lv_LV.UTF-8"}, "lv"),  # set but empty: the next one counts
        ({"LC_ALL": "ru_RU.UTF-8", "LC_MESSAGES": "lv_LV.UTF-8", "LANG": "C"}, "ru"),
        ({"LC_MESSAGES": "lv_LV.UTF-8", "LANG": "ru_RU.UTF-8"}, "lv"),
        ({"LC_ALL": "C.UTF-8", "LANG": "lv_LV.UTF-8"}, "en"),  # the first one set wins, even C
        ({"LC_CTYPE": "lv_LV.UTF-8"}, "en"),  # not where messages' language is read
    ],
)
def test_the_terminal_language_is_chosen_the_gettext_way(env: dict[str, str], language: str) -> None:
    assert cli_language(env) == language


def test_english_is_the_text_in_the_code() -> None:
    english = cli_translations({"LANG": "C.UTF-8"})
    assert english.gettext("nothing parked, nothing failed") == "nothing parked, nothing failed"
    # The counts read as they always have, the plural noun for one too.
    assert english.ngettext("%(count)s attempts", "%(count)s attempts", 1) % {"count": 1} == "1 attempts"


def terminal(language: str) -> dict[str, str]:
    """This process's environment with the terminal's language set to ``language`` alone."""
    env = {k: v for k, v in os.environ.items() if k not in LANGUAGE_VARIABLES}
    return {**env, "LANG": language}


def ingest(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*INGEST, *args], input=stdin, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # real `ingest` processes
def test_a_c_terminal_reads_todays_english_byte_for_byte(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    c = terminal("C.UTF-8")
    password = ingest("password", "set", "valde", "--stdin", "--config", str(config), env=c, stdin=PASSWORD + "\n")
    assert password.returncode == 0, password.stderr
    assert password.stdout == "password set for valde; log in at /dashboard/login\n"

    example = ROOT / "config.example.toml"
    checked = ingest("check-config", str(example), env=c)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{example}: OK (8 employees, 5 topics, database sqlite)\n"

    retry = ingest("retry", env=c)
    assert retry.returncode == 2
    assert retry.stderr == "ingest: say what to retry: --all, --receipt ID, --outbox ID or --media ID\n"

    doctor = ingest("doctor", "--config", str(config), env=c)
    assert doctor.returncode == 0, doctor.stderr
    assert doctor.stdout.endswith("\nnothing parked, nothing failed\n")


@pytest.mark.slow  # real `ingest` processes
def test_a_latvian_terminal_reads_latvian_and_machine_output_stays(tmp_path: Path) -> None:
    """Passes once the CLI's texts are in the catalogs (``pybabel extract`` and ``update``, then translated)."""
    config = write_config(tmp_path)
    lv = terminal("lv_LV.UTF-8")
    password = ingest("password", "set", "valde", "--stdin", "--config", str(config), env=lv, stdin=PASSWORD + "\n")
    assert password.returncode == 0, password.stderr
    assert password.stdout == "parole darbiniekam valde iestatīta; pieteikties var /dashboard/login\n"

    # The JSON counts are for scripts: the same in any language; the sentence after them is Latvian.
    doctor = ingest("doctor", "--config", str(config), env=lv)
    english = ingest("doctor", "--config", str(config), env=terminal("C.UTF-8"))
    assert doctor.stdout.splitlines()[:2] == english.stdout.splitlines()[:2]
    assert doctor.stdout.startswith("receipts: {")
    assert doctor.stdout.endswith("\nnekas nav atlikts, nekas nav neizdevies\n")

    retry = ingest("retry", env=lv)
    assert retry.stderr == "ingest: norādiet, ko atkārtot: --all, --receipt ID, --outbox ID vai --media ID\n"
