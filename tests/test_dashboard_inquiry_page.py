"""The inquiry page over real HTTP (issue 12, items 2 and 4): the timeline as the client saw it,
the routing in words with the working time left, and a thank-you closed in one click without a
message to the client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from storage.db import transaction
from storage.models import Event, Inquiry, Message, Outbox
from tests.dashboard_helpers import NOW, PASSWORD, Clock, csrf_of, give_passwords, login, riga, seed
from tests.staff_api_helpers import settings_with_admin
from tests.support import running_service

STAFF_SUBJECT = "Re: [GK-2026-000002] Jauns klienta pieprasījums: Atkritumu izvešana"
SENT_TEXT = "Konteiners tiks iztukšots rīt.\n\nAr cieņu,\nJānis Kalniņš"


def answered_on_whatsapp_then_thanked(service: Any, reference: str) -> int:
    """Seed B: the employee's e-mail reply, the WhatsApp text that went out, then "Paldies!"."""
    with transaction(service.sessions) as session:
        inquiry = session.exec(select(Inquiry).where(Inquiry.reference == reference)).one()
        assert inquiry.id is not None
        at = riga("2026-03-05 09:00")
        reply = Message(inquiry_id=inquiry.id, direction="out", channel="email", external_id="mid:r@office",
                        sender="janis.kalnins@example.lv", subject=STAFF_SUBJECT, text="Konteiners tiks iztukšots rīt.",
                        received_at=at)  # fmt: skip
        row = Outbox(kind="client_answer", channel="whatsapp", recipient="+37120000002", inquiry_id=inquiry.id,
                     payload={"to": "+37120000002", "text": SENT_TEXT}, status="sent", created_at=at,
                     sent_at=at)  # fmt: skip
        session.add_all([reply, row])
        session.flush()
        session.add_all([
            Event(inquiry_id=inquiry.id, at=at, type="client_answer_queued", data={"outbox_id": row.id}),
            Event(inquiry_id=inquiry.id, at=at, type="answered", actor="atkritumi-1", actor_kind="employee",
                  data={"message_id": reply.id, "outbox_id": row.id}),
            Message(inquiry_id=inquiry.id, direction="in", channel="whatsapp", external_id="wa:thanks",
                    sender="+37120000002", text="Jā, der. Paldies!", received_at=at + timedelta(hours=2)),
        ])  # fmt: skip
        inquiry.status = "open"  # the thank-you reopened it, as any client message does
        session.add(inquiry)
        assert row.id is not None
        return row.id


@pytest.mark.slow  # a running service
def test_the_page_shows_what_the_client_got_and_closes_a_thank_you_in_one_click(make_settings: Any) -> None:
    with running_service(settings_with_admin(make_settings), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "atkritumi-1")
        refs = seed(service.sessions)
        sent_id = answered_on_whatsapp_then_thanked(service, refs["B"])
        client, _ = login(f"http://127.0.0.1:{service.http_port}", "atkritumi-1", PASSWORD)
        page = client.get(f"/dashboard/inquiries/{refs['B']}").text
        assert f'id="sent-{sent_id}"' in page and "Ar cieņu," in page and "+37120000002" in page
        assert STAFF_SUBJECT not in page, "the employee's e-mail reply is not what the client saw"
        assert 'id="thanks"' in page and "Jā, der. Paldies!" in page
        with service.sessions() as session:
            before = len(session.exec(select(Outbox)).all())
        closed = client.post(f"/dashboard/inquiries/{refs['B']}/close",
                             data={"csrf": csrf_of(page), "reason": "no_answer_needed"})  # fmt: skip
        assert closed.status_code == 303 and closed.headers["location"].endswith("?done=closed")
        with service.sessions() as session:
            inquiry = session.exec(select(Inquiry).where(Inquiry.reference == refs["B"])).one()
            assert inquiry.status == "closed" and len(session.exec(select(Outbox)).all()) == before
        assert 'id="thanks"' not in client.get(f"/dashboard/inquiries/{refs['B']}").text


@pytest.mark.slow  # a running service
def test_the_page_says_why_and_how_much_working_time_is_left(make_settings: Any) -> None:
    with running_service(settings_with_admin(make_settings), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "siltums")
        refs = seed(service.sessions)  # D: due 2026-03-11 17:00, now 10:00 the same day
        with transaction(service.sessions) as session:
            inquiry = session.exec(select(Inquiry).where(Inquiry.reference == refs["D"])).one()
            routed = session.exec(select(Event).where(Event.inquiry_id == inquiry.id, Event.type == "routed")).one()
            routed.data = {"rule": "topic-keyword", "employee": "siltums",
                           "facts": {"topic": "siltums", "keyword": "radiator", "matched_word": "radiatori",
                                     "absent": ["atkritumi-2"]}}  # fmt: skip
            session.add(routed)
        client, _ = login(f"http://127.0.0.1:{service.http_port}", "siltums", PASSWORD)
        page = client.get(f"/dashboard/inquiries/{refs['D']}").text
        assert "Atlikušais darba laiks: 7 st. 00 min." in page
        assert "Tēma «Siltumapgāde un karstais ūdens»: vārds «radiatori» atbilst atslēgvārdam «radiator»." in page
        assert "Šodien prombūtnē: Olga Petrova." in page


@pytest.mark.slow  # a running service
def test_after_a_merge_the_page_shows_what_was_sent_about_both_and_its_own_routing(make_settings: Any) -> None:
    with running_service(settings_with_admin(make_settings), clock=Clock(NOW)) as service:
        give_passwords(service.sessions, "atkritumi-1")
        refs = seed(service.sessions)  # C and G are both atkritumi-1's; G becomes the same client's
        with transaction(service.sessions) as session:
            c = session.exec(select(Inquiry).where(Inquiry.reference == refs["C"])).one()
            g = session.exec(select(Inquiry).where(Inquiry.reference == refs["G"])).one()
            assert c.id is not None and g.id is not None
            g.contact_id = c.contact_id
            at = riga("2026-03-10 11:00")
            reply = Message(inquiry_id=c.id, direction="out", channel="email", external_id="api-answer:x",
                            sender="janis.kalnins@example.lv", text="Rīt.", received_at=at)  # fmt: skip
            row = Outbox(kind="client_answer", channel="email", recipient="client3@client.example", inquiry_id=c.id,
                         payload={"subject": "Re: Konteiners", "text": "Rīt.\n\nAr cieņu,\nJānis Kalniņš"},
                         status="sent", created_at=at)  # fmt: skip
            session.add_all([g, reply, row])
            session.flush()
            session.add(Event(inquiry_id=c.id, at=at, type="answered", actor="atkritumi-1", actor_kind="employee",
                              data={"message_id": reply.id, "outbox_id": row.id}))  # fmt: skip
            for inquiry, keyword in ((c, "radiator"), (g, "konteiner")):
                routed = session.exec(select(Event).where(Event.inquiry_id == inquiry.id, Event.type == "routed")).one()
                facts = {"topic": "atkritumi", "keyword": keyword, "matched_word": keyword + "s"}
                routed.data = {"rule": "topic-keyword", "employee": "atkritumi-1", "facts": facts}
                session.add(routed)
            sent_id = row.id
        client, _ = login(f"http://127.0.0.1:{service.http_port}", "atkritumi-1", PASSWORD)
        page = client.get(f"/dashboard/inquiries/{refs['C']}").text
        merged = client.post(f"/dashboard/inquiries/{refs['C']}/merge", data={"csrf": csrf_of(page), "into": refs["G"]})
        assert merged.status_code == 303 and merged.headers["location"].endswith(f"{refs['G']}?done=merged")
        target = client.get(f"/dashboard/inquiries/{refs['G']}").text
        assert f'id="sent-{sent_id}"' in target and "Ar cieņu," in target, "the answer sent about the merged one"
        assert "klientam nav nosūtīts" not in target, "not mistaken for an answer that reached nobody"
        why = target[target.index('id="why"') : target.index("</details>")]
        assert "konteiner" in why and "radiator" not in why, "the target's own routing, not the merged one's"
