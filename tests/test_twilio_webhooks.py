"""WhatsApp and SMS through Twilio: signed webhooks over real HTTP into the running service."""

from __future__ import annotations

import faulthandler
import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlmodel import Session, func, select
from twilio.request_validator import RequestValidator

from channels.base import UnprocessableReceipt
from channels.twilio_messaging import TwilioMessagingChannel, phone_of
from ingest.intake.twilio_webhooks import signature_valid
from storage.models import Attachment, Contact, Employee, Event, Inquiry, Message, Receipt
from storage.twilio_models import MediaFetch
from tests.support import ROOT, wait_until
from tests.twilio_helpers import (
    ACCOUNT,
    INBOUND,
    STATUS,
    TOKEN,
    FakeMessagesApi,
    basic_auth,
    inbound_fields,
    signed_post,
    twilio_section,
    vectors,
)

ANNA = "whatsapp:+37120000001"


def rows(service: Any, model: Any) -> list[Any]:
    with Session(service.engine) as session:
        return list(session.exec(select(model)).all())


def count(service: Any, model: Any) -> int:
    with Session(service.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def post(service: Any, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{service.http_port}{path}", timeout=30, **kwargs)


# --- the channel, without I/O -------------------------------------------------------------------


def test_whatsapp_and_sms_bodies_normalise_to_the_same_number() -> None:
    from urllib.parse import urlencode

    meta = {"received_at": "2026-10-01T09:00:00+00:00"}
    wa = urlencode(
        inbound_fields(
            "SMaaa", sender=ANNA, body="Sveiki", profile="Anna Liepa", media=[("https://media.test/ME1", "image/jpeg")]
        )
    ).encode()
    sms = urlencode(inbound_fields("SMbbb", sender="+37120000001", body="Sveiki")).encode()
    m1 = TwilioMessagingChannel("whatsapp").normalise(wa, meta)
    m2 = TwilioMessagingChannel("sms").normalise(sms, meta)
    assert m1.channel == "whatsapp" and m2.channel == "sms"
    assert m1.sender_address == m2.sender_address == "+37120000001"
    assert m1.sender_name == "Anna Liepa" and m2.sender_name is None
    assert m1.external_id == "sid:SMaaa" and m1.text == "Sveiki"
    assert m1.extra["media"] == [{"url": "https://media.test/ME1", "content_type": "image/jpeg"}]
    assert m1.extra["whatsapp_id"] == "37120000001"
    (att,) = m1.attachments
    assert att.data is None and att.content_type == "image/jpeg" and att.fetch_url == "https://media.test/ME1"
    assert m1.received_at == datetime(2026, 10, 1, 9, tzinfo=UTC)
    assert phone_of("whatsapp:+371 2000-0001") == "+37120000001"
    with pytest.raises(UnprocessableReceipt):
        TwilioMessagingChannel("sms").normalise(wa, meta)  # a WhatsApp body is no SMS


def test_signature_vectors_pass_the_services_check() -> None:
    """Every upstream vector (form, repeated values, ports, credentials, JSON body hash) is accepted."""
    data = vectors()
    for v in data["vectors"]:
        fields = _vector_fields(v)
        body = v.get("form_body", "").encode() if "form_body" in v else _encode(fields)
        ctype = "application/json" if "body" in v else "application/x-www-form-urlencoded"
        raw = v["body"].encode() if "body" in v else body
        validator = RequestValidator(data["auth_token"])
        assert signature_valid(validator, v["request_url"], raw, ctype, v["expected_signature"]), v["name"]
        wrong = v["expected_signature"][:-2] + ("A=" if not v["expected_signature"].endswith("A=") else "B=")
        assert not signature_valid(validator, v["request_url"], raw, ctype, wrong), v["name"]
        assert not signature_valid(validator, v["request_url"], raw, ctype, ""), v["name"]
    for item in data["body_hashes"]:
        import hashlib

        assert hashlib.sha256(item["body"].encode()).hexdigest() == item["sha256_hex"]


def _vector_fields(v: dict[str, Any]) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    for name, value in v["params"].items():
        for item in value if isinstance(value, list) else [value]:
            fields.append((name, item))
    return fields


def _encode(fields: list[tuple[str, str]]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()


# --- over HTTP ----------------------------------------------------------------------------------


@pytest.mark.slow  # a running service per vector set
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_signature_vectors_over_http_behind_a_proxy(make_settings: Any, service_factory: Any) -> None:
    """The form vectors, POSTed to the running service as a proxy passes them on.

    Signed correctly they pass the signature check and reach the body check (400: a voice
    body is no message); one character off, they are refused with 403.
    """
    data = vectors()
    form_vectors = [v for v in data["vectors"] if "body" not in v]
    groups: dict[str, list[dict[str, Any]]] = {}
    for v in form_vectors:
        parts = urlsplit(v["request_url"])
        # Credentials cannot travel in X-Forwarded-Host: those go through public_base_url.
        key = f"{parts.scheme}://{parts.netloc}" if "@" in parts.netloc else "forwarded"
        groups.setdefault(key, []).append(v)
    path = urlsplit(form_vectors[0]["request_url"]).path
    checked = 0
    for base, group in groups.items():
        twilio = twilio_section(auth_token=data["auth_token"], inbound_path=path, status_path="/status")
        if base == "forwarded":
            twilio.update(public_base_url="", trust_forwarded_headers=True)
        else:
            twilio.update(public_base_url=base)
        with service_factory(make_settings(twilio=twilio)) as service:
            for v in group:
                parts = urlsplit(v["request_url"])
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
                if base == "forwarded":
                    headers["X-Forwarded-Proto"] = parts.scheme
                    headers["X-Forwarded-Host"] = parts.netloc
                body = v["form_body"].encode() if "form_body" in v else _encode(_vector_fields(v))
                target = f"{parts.path}?{parts.query}"
                ok = post(
                    service, target, content=body, headers={**headers, "X-Twilio-Signature": v["expected_signature"]}
                )
                assert ok.status_code == 400, (v["name"], ok.status_code)
                bad = post(
                    service,
                    target,
                    content=body,
                    headers={**headers, "X-Twilio-Signature": "x" + v["expected_signature"][1:]},
                )
                assert bad.status_code == 403, v["name"]
                checked += 1
            assert count(service, Receipt) == 0
    assert checked == len(form_vectors)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_proxy_headers_unsigned_missigned_and_oversized(make_settings: Any, service_factory: Any) -> None:
    settings = make_settings(
        twilio=twilio_section(public_base_url="", trust_forwarded_headers=True, max_body_bytes=4096)
    )
    fields = inbound_fields("SM" + "1" * 32, sender="+37120000002", body="Bedre uz ceļa")
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gk-ingest.test"}
    with service_factory(settings) as service:
        request = signed_post(INBOUND, fields)  # signed for https://gk-ingest.test/webhooks/...
        # As the proxy passes it on: accepted, with an empty TwiML answer.
        ok = post(service, INBOUND, content=request["content"], headers={**request["headers"], **proxied})
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("application/xml")
        assert ok.text.endswith("<Response/>")
        # The same request straight to the service: the URL it sees is not the one signed.
        direct = post(service, INBOUND, **request)
        assert direct.status_code == 403
        # Unsigned, mis-signed (another token, another URL, a changed body).
        unsigned = post(
            service,
            INBOUND,
            content=request["content"],
            headers={"Content-Type": "application/x-www-form-urlencoded", **proxied},
        )
        assert unsigned.status_code == 403
        other_token = signed_post(INBOUND, fields, token="not-the-token")
        assert (
            post(
                service, INBOUND, content=other_token["content"], headers={**other_token["headers"], **proxied}
            ).status_code
            == 403
        )
        changed = request["content"].replace(b"Bedre", b"Bedres")
        assert post(service, INBOUND, content=changed, headers={**request["headers"], **proxied}).status_code == 403
        # Too large: refused before parsing, whether announced (Content-Length) or streamed (chunked).
        big = fields + [("Padding", "x" * 5000)]
        big_request = signed_post(INBOUND, big)
        assert (
            post(
                service, INBOUND, content=big_request["content"], headers={**big_request["headers"], **proxied}
            ).status_code
            == 413
        )

        def chunks() -> Any:
            for i in range(0, len(big_request["content"]), 1000):
                yield big_request["content"][i : i + 1000]

        streamed = post(service, INBOUND, content=chunks(), headers={**big_request["headers"], **proxied})
        assert streamed.status_code == 413
        # The status endpoint is guarded the same way.
        assert post(service, STATUS, content=b"MessageSid=SMx&MessageStatus=failed").status_code == 403
        assert count(service, Receipt) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_forwarded_headers_are_ignored_unless_trusted(make_settings: Any, service_factory: Any) -> None:
    settings = make_settings(twilio=twilio_section())  # public_base_url set, proxy headers not trusted
    fields = inbound_fields("SM" + "2" * 32, sender="+37120000003", body="Sniegs")
    forged_base = "https://attacker.test"
    with service_factory(settings) as service:
        forged = signed_post(INBOUND, fields, base=forged_base)
        headers = {**forged["headers"], "X-Forwarded-Proto": "https", "X-Forwarded-Host": "attacker.test"}
        assert post(service, INBOUND, content=forged["content"], headers=headers).status_code == 403
        assert post(service, INBOUND, **signed_post(INBOUND, fields)).status_code == 200


@pytest.mark.slow  # a conversation through a running service
def test_whatsapp_conversation_becomes_one_routed_inquiry(make_settings: Any, relay: Any, service_factory: Any) -> None:
    api = FakeMessagesApi().__enter__()
    settings = make_settings(
        outgoing_mail={"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"},
        twilio=twilio_section(api_base_url=api.url),
        media_fetch={"poll_seconds": 0.2, "backoff_base_seconds": 0.2},
    )
    photo_bytes = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40  # a JPEG's first bytes, then filler
    # The first download attempt fails (Twilio answers 500): the fetcher tries again.
    media_path = f"/2010-04-01/Accounts/{ACCOUNT}/Messages/MM{'1' * 32}/Media/ME{'5' * 32}"
    media_url = api.add_media(media_path, "image/jpeg", photo_bytes)
    api.media_failures[media_path] = 1
    conversation = [
        inbound_fields(
            "SM" + "a1" * 16,
            sender=ANNA,
            profile="Anna Liepa",
            body="Labdien! Jau otro nedēļu netiek izvesti atkritumi no Brīvības ielas 12.",
        ),
        inbound_fields(
            "SM" + "a2" * 16, sender=ANNA, profile="Anna Liepa", body="Te ir foto", media=[(media_url, "image/jpeg")]
        ),
        inbound_fields("SM" + "a3" * 16, sender=ANNA, profile="Anna Liepa", body="Konteiners ir pilns."),
    ]
    with service_factory(settings) as service:
        for fields in conversation:
            answer = post(service, INBOUND, **signed_post(INBOUND, fields))
            assert answer.status_code == 200 and "<Response/>" in answer.text
            # The receipt is committed before the answer.
            assert any(r.natural_id == f"sid:{dict(fields)['MessageSid']}" for r in rows(service, Receipt))
        # Twilio retries the first one: answered 200, nothing new stored.
        assert post(service, INBOUND, **signed_post(INBOUND, conversation[0])).status_code == 200
        wait_until(lambda: count(service, Message) == 3, what="three messages")
        wait_until(lambda: len(relay.staff()) == 3, what="a notification and two follow-ups")
        # The retry after the 500 comes at the next poll after a short backoff.
        wait_until(lambda: rows(service, MediaFetch)[0].status == "fetched", timeout=30, what="the photo downloaded")
        inquiries = rows(service, Inquiry)
        messages = rows(service, Message)
        contacts = rows(service, Contact)
        attachments = rows(service, Attachment)
        events = rows(service, Event)
        employees = {e.id: e for e in rows(service, Employee)}
        assert count(service, Receipt) == 3

    (inquiry,) = inquiries
    assert inquiry.channel == "whatsapp" and inquiry.topic == "atkritumi"
    assert employees[inquiry.employee_id].key == "atkritumi-1"
    assert {m.inquiry_id for m in messages} == {inquiry.id}
    assert all(m.sender == "+37120000001" and m.channel == "whatsapp" for m in messages)
    (contact,) = contacts
    assert (contact.phone, contact.whatsapp_id, contact.name) == ("+37120000001", "37120000001", "Anna Liepa")
    (photo,) = attachments
    assert photo.content_type == "image/jpeg" and photo.data == photo_bytes and photo.size == len(photo_bytes)
    assert photo.omitted_reason is None and photo.filename == f"ME{'5' * 32}.jpg"
    api.__exit__(None, None, None)
    # Two tries at Twilio's URL with the account's credentials, then the media store without them.
    gets = api.media_requests
    assert [g["path"] for g in gets] == [media_path, media_path, "/store" + media_path]
    assert gets[0]["auth"] == gets[1]["auth"] == basic_auth(ACCOUNT, TOKEN)
    assert gets[2]["auth"] is None and gets[2]["host"].startswith("localhost:")
    timeline = [e.type for e in events if e.inquiry_id == inquiry.id]
    assert "media_fetched" in timeline and "media_failed" not in timeline
    first, *follow_ups = relay.staff()
    assert first["To"].addresses[0].addr_spec == "janis.kalnins@example.lv"
    assert inquiry.reference in first["Subject"]
    assert "+37120000001" in first.get_content() and "Brīvības ielas 12" in first.get_content()
    assert all(inquiry.reference in f["Subject"] for f in follow_ups)
    assert relay.clients() == []  # no e-mail address: nothing goes to the client by mail


def test_sms_from_the_same_number_is_the_same_contact(make_settings: Any, service_factory: Any) -> None:
    settings = make_settings(twilio=twilio_section())
    with service_factory(settings) as service:
        post(
            service,
            INBOUND,
            **signed_post(INBOUND, inbound_fields("SM" + "b1" * 16, sender=ANNA, profile="Anna", body="Bedre uz ceļa")),
        )
        post(
            service,
            INBOUND,
            **signed_post(INBOUND, inbound_fields("SM" + "b2" * 16, sender="+37120000001", body="Bedre joprojām")),
        )
        post(
            service,
            INBOUND,
            **signed_post(INBOUND, inbound_fields("SM" + "b3" * 16, sender="+37120000001", body="Un vēl")),
        )
        wait_until(lambda: count(service, Message) == 3, what="three messages")
        contacts = rows(service, Contact)
        inquiries = rows(service, Inquiry)
    assert len(contacts) == 1 and contacts[0].phone == "+37120000001" and contacts[0].whatsapp_id == "37120000001"
    # One conversation whatever the channel (issue 18): the SMS join the WhatsApp inquiry.
    assert [i.channel for i in inquiries] == ["whatsapp"]


# --- a flood ------------------------------------------------------------------------------------

# 5,000 on SQLite, 1,000 on PostgreSQL: on a 2-core machine both at 5,000 take ~6 minutes.
FLOOD = {"sqlite": 5000, "postgresql": 1000}


@pytest.mark.slow  # 5,000 and 1,000 webhooks, 20 at a time
def _dump_threads_if_stalled(client: subprocess.Popen[Any], marker: Path) -> None:
    """While the flood runs: when its client says a request has waited too long, print where
    every thread of this process (the service's) is, once; shown with a failing test's output."""
    while client.poll() is None:
        if marker.exists():
            print(f"\nstalled: {marker.read_text(encoding='utf-8')}", file=sys.stderr, flush=True)
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            return
        time.sleep(0.5)


def test_flood_of_signed_webhooks_with_repeats(
    make_settings: Any, service_factory: Any, database_url: str, tmp_path: Path
) -> None:
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    total = FLOOD[backend]
    unique = total * 9 // 10
    senders = [f"+3712{n:07d}" for n in range(unique // 10)]
    requests = []
    for n in range(unique):
        number = senders[n % len(senders)]
        sender = f"whatsapp:{number}" if n % 2 else number
        requests.append(
            inbound_fields(
                f"SM{n:032x}", sender=sender, profile=f"Klients {n % len(senders)}", body=f"Ziņa {n}: bedre uz ceļa"
            )
        )
    requests += random.Random(7).sample(requests, total - unique)  # 10 % sent twice
    random.Random(8).shuffle(requests)
    settings = make_settings(twilio=twilio_section(), database={"pool_size": 25}, pipeline={"batch_size": 500})
    batch = tmp_path / "flood.json"
    batch.write_text(json.dumps(requests), encoding="utf-8")
    with service_factory(settings) as service:
        base = f"http://127.0.0.1:{service.http_port}"
        # The client runs in a process of its own: in this one it would share the service's GIL.
        marker, output = tmp_path / "stalled", tmp_path / "flood-result.json"
        with output.open("w", encoding="utf-8") as out:  # a file: a pipe left unread would block it
            client = subprocess.Popen(
                [sys.executable, "-m", "tests.twilio_flood_client", base, str(batch), "20", str(marker)],
                cwd=ROOT,
                stdout=out,
                text=True,
            )
            _dump_threads_if_stalled(client, marker)
            assert client.wait(timeout=900) == 0
        result = json.loads(output.read_text(encoding="utf-8").strip().splitlines()[-1])
        took = result["seconds"]
        print(
            f"\n[{backend}] {total} webhooks ({total - unique} repeats), 20 at a time, "
            f"in {took:.1f} s: {total / took:.0f} requests/s, answered in {result['answered_in']}"
        )
        assert result["statuses"] == {"200": total}, result["errors"]
        assert count(service, Receipt) == unique
        started = time.monotonic()
        wait_until(lambda: count(service, Message) >= unique, timeout=600, interval=1, what="every message processed")
        print(f"[{backend}] pipeline: {unique} messages in a further {time.monotonic() - started:.1f} s")
        assert count(service, Message) == unique
        assert service.twilio_webhooks.stats["duplicates"] == total - unique
        assert count(service, Contact) == len(senders)
