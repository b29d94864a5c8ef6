"""Links the service suggests between an e-mail address and a phone number (issue 18).

An e-mail whose signature has the number of a WhatsApp client, or the same name on an e-mail
client and a WhatsApp client, is a suggestion staff see over the API and in the workspace.
Accepted, the two are one client (as linked by hand, audited as ``contact.link``) and the next
message from either joins by the threading rules; dismissed, the pair is not suggested again.
The pipeline's part stays cheap: no statement for a message without a number-like text.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, inspect, text
from sqlmodel import Session, select

from ingest.api.tokens import create_token
from ingest.pipeline.link_suggest import phone_numbers_in
from storage.db import make_engine, migrate, transaction
from storage.link_models import ContactLinkSuggestion
from storage.models import Contact, Employee, Event, Inquiry
from storage.names import name_key
from storage.staff_models import AuditLog
from tests.client_desk_helpers import ClientDesk, client_desk
from tests.dashboard_helpers import csrf_of
from tests.pipeline_office import PipelineOffice, pipeline_office
from tests.twilio_helpers import twilio_section

migration_name_key = importlib.import_module("storage.migrations.versions.0016_contact_link_suggestions").name_key

ANNA, BRUNO, CILDA, DACE = "+37129111222", "+37129333444", "+37126555666", "+37129777888"
SIGNATURE = "Ar cieņu,\nAnna\nTālr. +371 2911 1222"


def test_latvian_numbers_are_read_from_a_text_and_other_digits_are_not() -> None:
    found = phone_numbers_in("Zvaniet: +371 2911 1222, darbā 67-000-100 vai 0037126555666.\nTālr. 29111222")
    assert found == ["+37129111222", "+37167000100", "+37126555666"]
    for no_number in ("Līgums Nr. 2026-03-11", "Konts LV80BANK0000435195001", "Rēķins 1234 29111222 5",
                      "Klienta kods 291112223", "Pasta indekss LV-1050, mājas nr. 12"):  # fmt: skip
        assert phone_numbers_in(no_number) == [], no_number


# A suggestion is decided by who may see an inquiry of each of its two clients: the coordinator
# (a supervisor) here, as the two clients' inquiries usually go to different employees.
COORDINATOR = "koordinatore"


@pytest.fixture
def desk(make_settings: Any) -> Iterator[ClientDesk]:
    with client_desk(make_settings) as desk:
        yield dataclasses.replace(desk, token=token_of(desk, COORDINATOR))


def token_of(desk: ClientDesk, key: str) -> str:
    with transaction(desk.service.sessions) as session:
        return create_token(session, employee_key=key, name="test", now=desk.clock()).secret


def suggestions(desk: ClientDesk, token: str | None = None) -> list[dict[str, Any]]:
    listed = desk.call("GET", "/api/v1/contacts/link-suggestions", token=token)
    assert listed.status_code == 200, listed.text
    return list(listed.json())


def contact_of(desk: ClientDesk, **where: str) -> Contact:
    (contact,) = desk.rows(Contact, *(getattr(Contact, k) == v for k, v in where.items()))
    return contact


def test_a_number_in_an_e_mail_signature_is_suggested_accepted_and_the_client_is_one(desk: ClientDesk) -> None:
    desk.whatsapp("SM1", ANNA, "Labdien, pie mājas netiek izvesti atkritumi.", profile="Anna L.")
    desk.mail("a1@client.example", "Anna <anna.l@client.example>", "Konteiners",
              f"Lūdzu, atvediet jaunu konteineru.\n\n{SIGNATURE}")  # fmt: skip
    assert len(desk.rows(Inquiry)) == 2  # not linked yet: the address is a client of its own
    by_phone, by_email = contact_of(desk, phone=ANNA), contact_of(desk, email="anna.l@client.example")
    mail_message = desk.message_with("jaunu konteineru")
    (suggested,) = suggestions(desk)
    assert suggested | {"id": 0, "created_at": ""} == {
        "id": 0, "reason": "phone_in_text", "state": "open", "email": "anna.l@client.example", "email_name": "Anna",
        "phone": ANNA, "phone_name": "Anna L.", "whatsapp": True, "message_id": mail_message.id, "created_at": "",
    }  # fmt: skip
    # Someone who may see neither client's inquiry does not see the suggestion, nor does the
    # employee who has only the WhatsApp client's (the e-mail went to her colleague).
    assert suggestions(desk, token_of(desk, "siltums")) == []
    (waste,) = desk.rows(Employee, Employee.key == "atkritumi-1")
    assert [i.contact_id for i in desk.rows(Inquiry, Inquiry.employee_id == waste.id)] == [by_phone.id]
    assert suggestions(desk, token_of(desk, "atkritumi-1")) == []
    accepted = desk.call("POST", f"/api/v1/contacts/link-suggestions/{suggested['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["contact_id"], body["email"], body["phone"]) == (by_phone.id, "anna.l@client.example", ANNA)
    assert body["merged_contact_id"] == by_email.id and len(body["moved_inquiries"]) == 1
    assert suggestions(desk) == []
    again = desk.call("POST", f"/api/v1/contacts/link-suggestions/{suggested['id']}/accept")
    assert again.status_code == 404  # decided already
    (row,) = desk.rows(ContactLinkSuggestion)
    assert (row.state, row.decided_by) == ("accepted", COORDINATOR)
    (audited,) = desk.rows(AuditLog, AuditLog.action == "contact.link")
    assert audited.detail["suggestion_id"] == row.id and audited.detail["contact_id"] == by_phone.id
    assert "anna.l@client.example" not in str(audited.detail)  # ids only, as a link made by hand
    # One client now: the next e-mail and the next WhatsApp message join, no third inquiry.
    desk.mail("a2@client.example", "Anna <anna.l@client.example>", "Vēl", "Vai konteineru atvedīs rīt?")
    desk.whatsapp("SM2", ANNA, "Vai konteiners būs rīt?")
    assert len(desk.rows(Inquiry)) == 2 and {i.contact_id for i in desk.rows(Inquiry)} == {by_phone.id}
    joined = [e.data["joined"]["rule"] for e in desk.rows(Event, Event.type == "message_received")]
    assert len(joined) == 2 and set(joined) <= {"same_channel", "cross_channel"}


def test_a_dismissed_suggestion_is_not_made_again(desk: ClientDesk) -> None:
    desk.whatsapp("SM1", BRUNO, "Labdien, atkritumu konteiners ir pilns.", profile="Bruno")
    desk.mail("b1@client.example", "Māja <maja@client.example>", "Konteiners",
              "Lūdzu izvest atkritumus.\n--\nBruno, 2933 3444")  # fmt: skip
    (suggested,) = suggestions(desk)
    workspace = desk.workspace(COORDINATOR)
    listed = workspace.get("/dashboard/contacts/link")
    assert f'id="suggestion-{suggested["id"]}"' in listed.text and "29333444" in listed.text
    dismissed = workspace.post(f"/dashboard/contacts/link-suggestions/{suggested['id']}/dismiss",
                               data={"csrf": csrf_of(listed.text)})  # fmt: skip
    assert dismissed.status_code == 200 and 'id="dismissed"' in dismissed.text
    assert f'id="suggestion-{suggested["id"]}"' not in dismissed.text and 'id="no-suggestions"' in dismissed.text
    (audited,) = desk.rows(AuditLog, AuditLog.action == "contact.link_dismiss")
    assert audited.detail["suggestion_id"] == suggested["id"] and audited.actor == COORDINATOR
    # The address writes again with the number: nothing new is suggested, nothing was linked.
    desk.mail("b2@client.example", "Māja <maja@client.example>", "Atkal", "Joprojām pilns.\n--\nBruno, 29333444")
    assert suggestions(desk) == []
    (row,) = desk.rows(ContactLinkSuggestion)
    assert row.state == "dismissed" and contact_of(desk, phone=BRUNO).email is None


def test_the_same_name_is_suggested_either_way_and_accepted_in_the_workspace(desk: ClientDesk) -> None:
    desk.whatsapp("SM1", CILDA, "Labdien, netiek izvesti atkritumi.", profile="Cilda Bērziņa")
    desk.mail("c1@client.example", "CILDA BERZINA <cilda@client.example>", "Atkritumi", "Kad izvedīs atkritumus?")
    desk.mail("d1@client.example", "Dace Kalna <dace@client.example>", "Atkritumi", "Konteiners ir salauzts.")
    desk.whatsapp("SM2", DACE, "Labdien, konteiners salauzts.", profile="Kalna Dace")
    by_pair = {(s["email"], s["phone"]): s for s in suggestions(desk)}
    assert set(by_pair) == {("cilda@client.example", CILDA), ("dace@client.example", DACE)}
    assert {s["reason"] for s in by_pair.values()} == {"same_name"}
    cilda = by_pair[("cilda@client.example", CILDA)]
    workspace = desk.workspace(COORDINATOR)
    form = workspace.get("/dashboard/contacts/link")
    done = workspace.post(f"/dashboard/contacts/link-suggestions/{cilda['id']}/accept",
                          data={"csrf": csrf_of(form.text)})  # fmt: skip
    assert done.status_code == 200 and 'id="linked"' in done.text
    assert contact_of(desk, phone=CILDA).email == "cilda@client.example"
    (audited,) = desk.rows(AuditLog, AuditLog.action == "contact.link")
    assert audited.detail["suggestion_id"] == cilda["id"] and audited.detail["via"] == "dashboard"
    (dace,) = suggestions(desk)
    assert dace["phone"] == DACE
    dismissed = desk.call("POST", f"/api/v1/contacts/link-suggestions/{dace['id']}/dismiss")
    assert dismissed.status_code == 200 and dismissed.json()["state"] == "dismissed"
    assert suggestions(desk) == [] and contact_of(desk, phone=DACE).email is None


def test_staff_who_may_see_only_one_of_the_two_clients_neither_see_nor_decide_the_suggestion(
    desk: ClientDesk,
) -> None:
    desk.whatsapp("SM1", BRUNO, "Labdien, atkritumu konteiners ir pilns.", profile="Bruno")
    desk.mail("b1@client.example", "Māja <maja@client.example>", "Konteiners",
              "Lūdzu izvest atkritumus.\n--\nBruno, 2933 3444")  # fmt: skip
    (suggested,) = suggestions(desk)
    # The heating specialist is given the e-mail client's inquiry only, never the WhatsApp one's.
    (mailed,) = desk.rows(Inquiry, Inquiry.contact_id == contact_of(desk, email="maja@client.example").id)
    with transaction(desk.service.sessions) as session:
        (heating,) = session.exec(select(Employee).where(Employee.key == "siltums")).all()
        row = session.get(Inquiry, mailed.id)
        assert row is not None
        row.employee_id = heating.id
        session.add(row)
    token = token_of(desk, "siltums")
    assert suggestions(desk, token) == []
    for decision in ("accept", "dismiss"):
        refused = desk.call("POST", f"/api/v1/contacts/link-suggestions/{suggested['id']}/{decision}", token=token)
        assert refused.status_code == 404, refused.text  # as an unknown one: nothing of it is shown
    (row_after,) = desk.rows(ContactLinkSuggestion)
    assert row_after.state == "open" and contact_of(desk, phone=BRUNO).email is None
    assert desk.rows(AuditLog, AuditLog.action.in_(("contact.link", "contact.link_dismiss"))) == []  # type: ignore[attr-defined]
    assert [s["id"] for s in suggestions(desk)] == [suggested["id"]]  # who sees both clients still does


def test_an_initial_is_not_a_word_of_a_name(desk: ClientDesk) -> None:
    for name in ("Anna L.", "L. Anna", "A. B. Liepa", "Anna"):
        assert name_key(name) is None and migration_name_key(name) is None, name
    assert name_key("J. Anna Liepa") == migration_name_key("J. Anna Liepa") == "anna liepa"
    desk.whatsapp("SM1", ANNA, "Labdien, netiek izvesti atkritumi.", profile="Anna L.")
    desk.mail("l1@client.example", "L. Anna <anna.l@client.example>", "Atkritumi", "Kad izvedīs atkritumus?")
    assert contact_of(desk, phone=ANNA).name_key is None and suggestions(desk) == []


# --- the pipeline's cost, and the migration ---------------------------------------------------


@pytest.fixture
def world(make_settings: Any) -> Iterator[PipelineOffice]:
    with pipeline_office(make_settings(twilio=twilio_section())) as office:
        yield office


def mail(world: PipelineOffice, mid: str, body: str) -> None:
    raw = (f"From: Anna <anna@client.example>\r\nTo: klienti@example.lv\r\nSubject: Konteiners\r\n"
           f"Message-ID: <{mid}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()  # fmt: skip
    world.store.store_sync(world.pipeline.channels["email"], source="smtp", raw=raw, meta={})
    while world.pipeline.process_due():
        pass


def test_the_pipeline_asks_about_links_only_for_a_message_with_a_number(world: PipelineOffice) -> None:
    asked: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "contact_link_suggestion" in statement or "name_key =" in statement:
            asked.append(statement)

    event.listen(world.engine, "before_cursor_execute", seen)
    mail(world, "m1@client.example", "Konteiners ir pilns.")  # a new client named "Anna": one word, no name look-up
    mail(world, "m2@client.example", "Un vēl: līgums Nr. 2026-03-11, konts LV80BANK0000435195001.")
    assert asked == []
    mail(world, "m3@client.example", "Zvaniet man: 2911 1222 vai 26555666.")
    assert len(asked) == 1 and asked[0].lstrip().upper().startswith("INSERT")
    with Session(world.engine) as session:
        assert session.exec(select(ContactLinkSuggestion)).all() == []  # no client has those numbers


def test_the_migration_gives_existing_contacts_their_name_keys(database_url: str) -> None:
    from alembic import command

    from storage.db import WRITE_OPTION, alembic_config

    engine = make_engine(database_url)
    try:
        # The test's PostgreSQL database is emptied by truncating, so it is at the newest revision
        # already, where upgrading to 0015 would do nothing: its tables go, alembic's too.
        tables = inspect(engine).get_table_names()
        if tables:
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.connect().execution_options(**{WRITE_OPTION: True}) as connection, connection.begin():
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0015")
            for name in ("Jānis Bērziņš", "Anna", None, "Anna L."):
                connection.execute(text("INSERT INTO contact (kind, name, created_at) VALUES ('person', :n, :t)"),
                                   {"n": name, "t": "2026-03-10 10:00:00+00:00"})  # fmt: skip
        migrate(engine)
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT name, name_key FROM contact ORDER BY id")).all()
        assert [tuple(k) for k in keys] == [
            ("Jānis Bērziņš", "berzins janis"),
            ("Anna", None),
            (None, None),
            ("Anna L.", None),
        ]
    finally:
        engine.dispose()
