"""Configuration cannot break the access rules (issue 15, item 4): nobody routing can reach is an
admin or inactive, no employee key is one of the service's own actor names, and the database URL
parses. Each refusal is one line naming its key."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from typing import Any

import pytest
from sqlmodel import Session, col, select

from ingest.api.auth import Principal
from ingest.config import ConfigError, parse_config
from ingest.inquiries.access import visible
from storage.models import Inquiry
from storage.staff_models import Role
from tests.pipeline_office import MAIL, pipeline_office
from tests.support import ROOT, deep_merge, example_document


def employee_index(doc: dict[str, Any], key: str) -> int:
    return next(i for i, e in enumerate(doc["employees"]) if e["key"] == key)


def refused(doc: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(doc, base_dir=ROOT, env={})
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("change", [{"role": "admin"}, {"active": False}])
@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("koordinatore", "routing.fallback_employee: 'koordinatore'"),
        ("valde", "routing.board_member: 'valde'"),
        ("siltums", r"topics[1].employees: 'siltums'"),
    ],
)
def test_admin_or_inactive_employee_in_routing_is_refused(change: dict[str, Any], key: str, expected: str) -> None:
    doc = example_document()
    doc["employees"][employee_index(doc, key)].update(change)
    message = refused(doc)
    assert message.startswith(expected), message
    assert ("admin" if "role" in change else "not active") in message


@pytest.mark.parametrize("change", [{"role": "admin"}, {"active": False}])
def test_deputy_and_supervisor_must_receive_inquiries(change: dict[str, Any]) -> None:
    doc = example_document()
    doc["employees"].append(
        {"key": "aizstajeja", "name": "Ina", "surname": "Liepa", "position": "x", "email": "ina@example.lv", **change}
    )
    deputy_doc = copy.deepcopy(doc)
    deputy_doc["employees"][employee_index(doc, "siltums")]["deputy"] = "aizstajeja"
    i = employee_index(doc, "siltums")
    assert refused(deputy_doc).startswith(f"employees[{i}].deputy: 'aizstajeja'")
    doc["employees"][i]["supervisor"] = "aizstajeja"
    assert refused(doc).startswith(f"employees[{i}].supervisor: 'aizstajeja'")


def test_admin_and_inactive_employees_outside_routing_are_fine() -> None:
    doc = example_document()
    doc["employees"].append({"key": "it-admin", "name": "A", "surname": "B", "position": "IT", "role": "admin",
                             "email": "it@example.lv", "supervisor": "valde"})  # fmt: skip
    doc["employees"].append({"key": "bijusi", "name": "C", "surname": "D", "position": "x", "active": False,
                             "email": "old@example.lv", "supervisor": "it-admin", "deputy": "bijusi"})  # fmt: skip
    parse_config(doc, base_dir=ROOT, env={})


@pytest.mark.parametrize("key", ["system", "unknown-sender", "cli"])
def test_reserved_actor_names_are_refused_as_keys(key: str) -> None:
    doc = example_document()
    doc["employees"].append({"key": key, "name": "S", "surname": "T", "position": "x", "email": "s@example.lv"})
    last = len(doc["employees"]) - 1
    assert refused(doc) == f"employees[{last}].key: {key!r} is reserved for the service's own actions"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://ingest:s3cret@db:abc/ingest", "database.url: not a database URL"),
        ("postgresql+psycopg://ingest:s3cret@[::1/ingest", "database.url: not a database URL"),
        ("nonsense", "database.url: not a database URL"),
        ("postgresql+psycopg://ingest:s3cret@db:99999/ingest", "database.url: port 99999 is out of range"),
        ("mysql://ingest:s3cret@db/ingest", "database.url: unsupported database 'mysql'"),
    ],
)
def test_database_url_that_cannot_be_used_is_refused_without_the_password(url: str, expected: str) -> None:
    message = refused(deep_merge(example_document(), {"database": {"url": url}}))
    assert message.startswith(expected), message
    assert "s3cret" not in message


def test_check_config_names_the_bad_port() -> None:
    env = {**os.environ, "INGEST__DATABASE__URL": "postgresql+psycopg://u:pw@h:x/db"}
    command = [sys.executable, "-m", "ingest.cli", "check-config", str(ROOT / "config.example.toml")]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert "database.url: not a database URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_employee_keyed_like_the_system_actor_sees_nothing(make_settings: Any) -> None:
    # Refused by check-config; should such a key reach the database anyway, events the service
    # wrote as "system" are not that employee's doing.
    with pipeline_office(make_settings()) as office:
        office.store.store_sync(office.pipeline.channels["email"], source="smtp", raw=MAIL, meta={})
        office.pipeline.process_due()
        with Session(office.engine) as session:
            assert session.exec(select(col(Inquiry.id))).all()
            dialect = session.get_bind().dialect.name
            who = Principal(employee_id=-1, key="system", role=Role.EMPLOYEE, token_id=0, remote_addr=None)
            assert session.exec(select(col(Inquiry.id)).where(visible(who, dialect))).all() == []
