"""Configuration: the example runs as it is; problems name the key; the environment wins."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest.config import ConfigError, load_config, parse_config
from tests.support import ROOT, example_document


def test_example_config_is_valid_and_describes_the_office() -> None:
    settings = load_config(ROOT / "config.example.toml", env={})
    keys = {e.key for e in settings.employees}
    assert {"koordinatore", "valde", "siltums", "celi", "nami", "rekini"} <= keys
    assert settings.routing.fallback_employee == "koordinatore"
    assert settings.routing.board_member == "valde"
    assert {t.key for t in settings.topics} == {"atkritumi", "siltums", "celi", "nami", "rekini"}
    # Relative paths are taken from the file's folder, not the working directory.
    assert settings.service.data_dir == (ROOT / "var").resolve()
    assert settings.database_url().startswith("sqlite:///")


def test_environment_overrides_file_values() -> None:
    env = {
        "INGEST__DATABASE__URL": "postgresql+psycopg://u@h/db",
        "INGEST__OUTGOING_MAIL__PASSWORD": "1234",
        "INGEST__HTTP__PORT": "9090",
        "INGEST__SMTP_LISTENER__RECIPIENTS": '["Info@Example.LV"]',
        "UNRELATED": "x",
    }
    settings = load_config(ROOT / "config.example.toml", env=env)
    assert settings.database_url() == "postgresql+psycopg://u@h/db"
    assert settings.outgoing_mail.password == "1234"
    assert settings.http.port == 9090
    assert settings.smtp_listener.recipients == ["info@example.lv"]


def test_environment_merges_into_tables_and_names_its_mistakes() -> None:
    example = ROOT / "config.example.toml"
    # A key below a table is merged into the file's table, not replacing it.
    settings = load_config(example, env={"INGEST__WORKING_TIME__HOURS__SATURDAY": "09:00-13:00"})
    assert settings.working_time.hours["saturday"] == "09:00-13:00"
    assert settings.working_time.hours["monday"] == "08:00-17:00"
    # A misspelt section is an error, not a variable silently ignored (a secret left unset).
    with pytest.raises(ConfigError, match=r"^databse: unknown key$"):
        load_config(example, env={"INGEST__DATABSE__URL": "postgresql+psycopg://u@h/db"})
    with pytest.raises(ConfigError, match=r"^INGEST__SMTP_LISTENER__RECIPIENTS: not valid JSON$"):
        load_config(example, env={"INGEST__SMTP_LISTENER__RECIPIENTS": "[klienti@example.lv"})


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"http": {"port": "eighty"}}, "http.port:"),
        ({"routing": {"fallback_employee": "nobody"}}, "routing.fallback_employee: unknown employee 'nobody'"),
        ({"service": {"timezone": "Mars/Olympus"}}, "service.timezone: unknown time zone"),
        ({"smtp_listener": {"recipients": ["not-an-address"]}}, "smtp_listener.recipients[0]:"),
        ({"database": {"urll": "x"}}, "database.urll: unknown key"),
        ({"working_time": {"hours": {"funday": "08:00-17:00"}}}, "working_time.hours: unknown weekday 'funday'"),
        ({"working_time": {"hours": {"monday": "17:00-08:00"}}}, "working_time.hours.monday:"),
    ],
)
def test_bad_values_are_reported_by_key(change: dict[str, Any], expected: str) -> None:
    from tests.support import deep_merge

    with pytest.raises(ConfigError) as err:
        parse_config(deep_merge(example_document(), change), base_dir=ROOT, env={})
    assert expected in str(err.value)


def test_unknown_employee_in_topic_is_reported() -> None:
    doc = example_document()
    doc["topics"][1]["employees"] = ["siltums", "ghost"]
    with pytest.raises(ConfigError, match=r"topics\[1\]\.employees: unknown employee 'ghost'"):
        parse_config(doc, base_dir=ROOT, env={})


@pytest.mark.slow  # three real `ingest` processes
def test_check_config_command_reports_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[http]\nport = "x"\n', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "ingest.cli", "check-config", str(bad)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "configuration error" in run.stderr
    assert "Traceback" not in run.stderr
    assert "routing: Field required" in run.stderr

    broken = tmp_path / "broken.toml"
    broken.write_text("[http\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "check-config", str(broken)], capture_output=True, text=True
    )
    assert run.returncode == 2 and "not valid TOML" in run.stderr and "Traceback" not in run.stderr

    good = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "check-config", str(ROOT / "config.example.toml")],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stderr
    assert "OK" in good.stdout
