"""WhatsApp through Meta's Cloud API: the channel on the upstream payloads, the webhook over real HTTP.

The payloads and the signature vector are copies from pywa's test suite
(tests/data/corpora/whatsapp-cloud-pywa, with SOURCE and licence).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, func, select

from channels.base import InboundMessage
from channels.whatsapp_cloud import InvalidWebhook, WhatsAppCloudChannel, split_webhook
from ingest.config import ConfigError, load_config, parse_config
from ingest.intake.whatsapp_cloud_webhook import expected_signature, signature_valid
from storage.models import Attachment, Contact, Inquiry, Message, Receipt
from storage.twilio_models import MediaFetch
from tests.support import DATA, ROOT, deep_merge, example_document, wait_until
from tests.twilio_helpers import INBOUND, inbound_fields, signed_post, twilio_section

CORPUS = DATA / "corpora" / "whatsapp-cloud-pywa"
SECRET = "test-app-secret-0123456789abcdef"
VERIFY = "verify-token-for-tests"
PATH = "/webhooks/whatsapp-cloud"
META = {"received_at": "2026-10-01T09:00:00+00:00"}


def updates(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / "updates" / f"{name}.json").read_text(encoding="utf-8"))
    return data


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def value_of(payload: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = payload["entry"][0]["changes"][0]["value"]
    return value


def payload(name: str, key: str, *, message_id: str | None = None, sender: str | None = None) -> dict[str, Any]:
    """One upstream payload; ``message_id`` and ``sender`` replace the message's (most share one id)."""
    data = copy.deepcopy(updates(name)[key])
    value = value_of(data)
    for message in value.get("messages", []):
        if message_id is not None:
            message["id"] = message_id
        if sender is not None:
            message["from"] = sender
    if sender is not None:
        for contact in value.get("contacts", []):
            contact["wa_id"] = sender
    return data


def normalise_all(data: dict[str, Any]) -> list[InboundMessage]:
    channel = WhatsAppCloudChannel()
    return [channel.normalise(raw, META) for raw in split_webhook(encode(data)).messages]


def only(data: dict[str, Any]) -> InboundMessage:
    (message,) = normalise_all(data)
    return message


# --- the signature, on the upstream vector --------------------------------------------------------


def test_the_upstream_signature_vector_passes_the_services_check() -> None:
    vector = json.loads((CORPUS / "x_hub_signature_256_vector.json").read_text(encoding="utf-8"))
    body = (CORPUS / "x_hub_signature_256_vector.body.json").read_bytes()
    secret, header = vector["app_secret"], vector["expected_header_value"]
    assert vector["header"] == "X-Hub-Signature-256"
    assert expected_signature(secret, body) == header
    assert signature_valid(secret, body, header)
    # The negative cases the vector names, and a few more.
    flipped = body[:40] + bytes([body[40] ^ 1]) + body[41:]
    respaced = json.dumps(json.loads(body)).encode()
    assert respaced != body
    for wrong_body, wrong_header, wrong_secret in [
        (flipped, header, secret),
        (respaced, header, secret),
        (body, "sha256=" + header.removeprefix("sha256=").upper(), secret),
        (body, header.removeprefix("sha256="), secret),
        (body, "sha1=" + header.removeprefix("sha256="), secret),
        (body, "", secret),
        (body, header, secret + "x"),
        (body, header, ""),
    ]:
        assert not signature_valid(wrong_secret, wrong_body, wrong_header)


# --- the channel, without I/O ---------------------------------------------------------------------


def test_a_text_message_normalises_to_the_whatsapp_channel_and_e164_sender() -> None:
    message = only(updates("message")["text"])
    assert message.channel == "whatsapp"
    assert message.external_id == "wamid:wamid.xyzxyz"
    assert message.sender_address == "+972987654321"
    assert message.sender_name == "Test Name"
    assert message.text == "Body Text"
    assert message.automatic is None and message.attachments == () and message.refers_to == ()
    assert message.extra["whatsapp_id"] == "972987654321"
    assert message.extra["phone_number_id"] == "1122334455667"
    assert message.recipients == ("+972123456789",)
    assert message.extra["sent_at"] == "2023-10-11T16:53:43+00:00"


@pytest.mark.parametrize(
    ("key", "content_type", "filename", "text"),
    [
        ("image", "image/jpeg", None, "[image]"),
        ("media_with_url", "image/jpeg", None, "[image]"),
        ("video", "video/mp4", None, "caption"),
        ("document", "application/pdf", "filename.pdf", "caption"),
        ("audio", "audio/ogg; codecs=opus", None, "[audio]"),
        ("voice", "audio/ogg; codecs=opus", None, "[voice message]"),
        ("static_sticker", "image/webp", None, "[sticker]"),
    ],
)
def test_media_becomes_an_attachment_record_without_bytes_or_fetch_url(
    key: str, content_type: str, filename: str | None, text: str
) -> None:
    data = updates("message")[key]
    media_id = next(
        v["id"] for k, v in value_of(data)["messages"][0].items() if isinstance(v, dict) and "mime_type" in v
    )
    message = only(data)
    (attachment,) = message.attachments
    assert attachment.content_type == content_type and attachment.filename == filename
    assert attachment.data is None and attachment.size == 0
    assert attachment.fetch_url is None  # the media fetcher knows only Twilio URLs
    assert attachment.omitted_reason is not None
    assert (
        f"Cloud API media id {media_id}" in attachment.omitted_reason and "not downloaded" in attachment.omitted_reason
    )
    assert message.text == text


def test_every_kind_of_message_becomes_clear_text() -> None:
    m = updates("message")
    assert only(m["current_location"]).text == "[location 12.25089, 43.90539]"
    assert only(m["chosen_location"]).text.startswith("[location 37.4611978, -122.2164385]\nFacebook HQ")
    assert only(m["contacts"]).text.splitlines()[:2] == ["[contact card]", "Chandler Bing, +1 555-555-5555"]
    assert only(m["order"]).text == "[order: 3 items from catalogue 354160437058781]"
    assert only(m["unsupported"]).text == "[unsupported WhatsApp message: Message type unknown]"
    assert only(m["unsupported_with_type"]).text == "[unsupported WhatsApp message (pool): Message type unknown]"
    assert only(m["interactive_message_with_err"]).text == "[WhatsApp message of type interactive]"
    assert only(m["forwarded"]).extra["forwarded"] is True
    assert only(m["referral"]).text == "BODY"
    buttons = updates("callback_button")
    assert only(buttons["button"]).text == "title"
    assert only(buttons["quick_reply"]).text == "title"
    assert only(updates("callback_selection")["description"]).text == "title\ndescription"
    edited = only(updates("edited_message")["image"])
    assert edited.text == "[edited] Updated image caption" and len(edited.attachments) == 1
    assert edited.automatic is None
    assert edited.refers_to == ("wamid:wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",)


def test_a_reply_refers_to_the_quoted_message() -> None:
    assert only(updates("message")["reply"]).refers_to == ("wamid:wamid.xyzxyz==",)
    assert only(updates("callback_button")["button"]).refers_to == ("wamid:wamid.xyzxyz",)


def test_reactions_system_and_deleted_notices_are_kept_as_automatic() -> None:
    reaction = only(updates("message")["reaction"])
    assert reaction.text == "[reaction 😮]" and reaction.automatic == "whatsapp-reaction"
    assert reaction.refers_to == ("wamid:wamid.yzxyzx=",)
    assert only(updates("message")["unreaction_empty"]).text == "[reaction removed]"
    assert only(updates("message")["unreaction_no_emoji"]).text == "[reaction removed]"
    changed = only(updates("system")["phone_number_change"])
    assert changed.automatic == "whatsapp-system"
    assert changed.text.startswith("[WhatsApp system message: user_changed_number] User A changed")
    revoked = only(updates("deleted_message")["revoke"])
    assert revoked.automatic == "whatsapp-revoke" and revoked.text == "[the client deleted a message]"
    assert revoked.refers_to == ("wamid:<ORIGINAL_WHATSAPP_MESSAGE_ID>",)


def test_every_upstream_message_payload_normalises() -> None:
    total = 0
    for name in ("message", "callback_button", "callback_selection", "system", "deleted_message", "edited_message"):
        for key, data in updates(name).items():
            for message in normalise_all(data):
                assert message.channel == "whatsapp" and message.text, (name, key)
                total += 1
    assert total >= 30


def test_a_receipt_document_is_small_canonical_and_stable() -> None:
    data = updates("message")["text"]
    (raw,) = split_webhook(encode(data)).messages
    assert raw == split_webhook(json.dumps(data, indent=2).encode()).messages[0]  # layout does not matter
    document = json.loads(raw)
    assert set(document) == {"version", "business_account_id", "metadata", "contact", "message"}
    assert document["contact"] == {"wa_id": "972987654321", "profile_name": "Test Name"}
    assert WhatsAppCloudChannel().natural_id(raw, {}) == "wamid:wamid.xyzxyz"


def test_statuses_and_other_fields_store_no_message() -> None:
    for key, data in updates("message_status").items():
        content = split_webhook(encode(data))
        assert content.messages == () and len(content.statuses) == 1, key
    failed = split_webhook(encode(updates("message_status")["failed"])).statuses[0]
    assert failed.status == "failed" and failed.error_codes == ("130472",)
    other = split_webhook(encode(updates("template_status_update")[next(iter(updates("template_status_update")))]))
    assert other.messages == () and other.other_fields


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"entry": {}}',
        b'{"entry": [{"changes": [{"field": "messages", "value": []}]}]}',
        b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": ["x"]}}]}]}',
    ],  # fmt: skip
)
def test_bodies_of_the_wrong_shape_are_invalid(body: bytes) -> None:
    with pytest.raises(InvalidWebhook):
        split_webhook(body)


# --- over HTTP ------------------------------------------------------------------------------------


def cloud_section(**extra: Any) -> dict[str, Any]:
    return {"enabled": True, "app_secret": SECRET, "verify_token": VERIFY, **extra}


def signed(body: bytes, secret: str = SECRET) -> dict[str, Any]:
    header = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"content": body, "headers": {"Content-Type": "application/json", "X-Hub-Signature-256": header}}


def post(service: Any, path: str = PATH, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{service.http_port}{path}", timeout=30, **kwargs)


def count(service: Any, model: Any) -> int:
    with Session(service.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def rows(service: Any, model: Any) -> list[Any]:
    with Session(service.engine) as session:
        return list(session.exec(select(model)).all())


def two_messages() -> dict[str, Any]:
    """A text and a document from one client in one POST, with a status for good measure."""
    data = payload("message", "text", message_id="wamid.TWO-1", sender="37120000002")
    document = payload("message", "document", message_id="wamid.TWO-2", sender="37120000002")
    value = value_of(data)
    value["messages"] += value_of(document)["messages"]
    value["statuses"] = value_of(updates("message_status")["delivered"])["statuses"]
    return data


@pytest.mark.slow  # every upstream payload over HTTP
def test_signed_updates_over_http_end_in_the_right_records(
    make_settings: Any, service_factory: Any, database_url: str
) -> None:
    with service_factory(make_settings(whatsapp_cloud=cloud_section())) as service:
        text = payload("message", "text", message_id="wamid.ONE", sender="37120000001")
        assert post(service, **signed(encode(text))).status_code == 200
        image = payload("message", "image", message_id="wamid.IMG", sender="37120000001")
        assert post(service, **signed(encode(image))).status_code == 200
        wait_until(lambda: count(service, Message) == 2, what="two messages")
        body = encode(two_messages())
        assert post(service, **signed(body)).status_code == 200
        wait_until(lambda: count(service, Message) == 4, what="four messages")
        # Meta delivers the same body again: nothing new.
        receipts_before = count(service, Receipt)
        assert post(service, **signed(body)).status_code == 200
        assert count(service, Receipt) == receipts_before == 4
        contacts = {c.phone: c for c in rows(service, Contact)}
        inquiries = rows(service, Inquiry)
        messages = {m.external_id: m for m in rows(service, Message)}
        attachments = rows(service, Attachment)
        receipts = rows(service, Receipt)
        media_fetches = count(service, MediaFetch)
    assert set(contacts) == {"+37120000001", "+37120000002"}
    anna = contacts["+37120000001"]
    assert anna.name == "Test Name" and anna.whatsapp_id == "37120000001"
    assert {r.channel for r in receipts} == {"whatsapp_cloud"}
    assert {r.natural_id for r in receipts} == {
        "wamid:wamid.ONE",
        "wamid:wamid.IMG",
        "wamid:wamid.TWO-1",
        "wamid:wamid.TWO-2",
    }
    # One inquiry per client on the whatsapp channel: the second message joins the first.
    assert sorted(i.channel for i in inquiries) == ["whatsapp", "whatsapp"]
    assert messages["wamid:wamid.ONE"].text == "Body Text" and messages["wamid:wamid.ONE"].channel == "whatsapp"
    assert messages["wamid:wamid.ONE"].sender == "+37120000001"
    assert messages["wamid:wamid.ONE"].inquiry_id == messages["wamid:wamid.IMG"].inquiry_id
    assert messages["wamid:wamid.TWO-1"].inquiry_id == messages["wamid:wamid.TWO-2"].inquiry_id
    by_message = {a.message_id: a for a in attachments}
    assert set(by_message) == {messages["wamid:wamid.IMG"].id, messages["wamid:wamid.TWO-2"].id}
    image_attachment = by_message[messages["wamid:wamid.IMG"].id]
    assert image_attachment.content_type == "image/jpeg" and image_attachment.data is None
    assert "media id 65463453" in (image_attachment.omitted_reason or "")
    assert by_message[messages["wamid:wamid.TWO-2"].id].filename == "filename.pdf"
    assert media_fetches == 0  # nothing queued for the Twilio media fetcher


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_upstream_vector_over_http(make_settings: Any, service_factory: Any) -> None:
    vector = json.loads((CORPUS / "x_hub_signature_256_vector.json").read_text(encoding="utf-8"))
    body = (CORPUS / "x_hub_signature_256_vector.body.json").read_bytes()
    settings = make_settings(whatsapp_cloud=cloud_section(app_secret=vector["app_secret"]))
    with service_factory(settings) as service:
        headers = {"Content-Type": "application/json", vector["header"]: vector["expected_header_value"]}
        assert post(service, content=body, headers=headers).status_code == 200
        (message,) = wait_until(lambda: rows(service, Message), what="the message")
        (contact,) = rows(service, Contact)
    assert message.text == "Hey there! I am using PyWa." and message.sender == "+972544401243"
    assert contact.name == "PyWa Tests"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unsigned_oversize_and_malformed_posts_store_nothing(make_settings: Any, service_factory: Any) -> None:
    settings = make_settings(whatsapp_cloud=cloud_section(max_body_bytes=4096))
    body = encode(payload("message", "text", message_id="wamid.REFUSED"))
    with service_factory(settings) as service:
        assert post(service, content=body, headers={"Content-Type": "application/json"}).status_code == 403
        assert post(service, **signed(body, secret="not-the-secret")).status_code == 403
        wrong = signed(body)
        wrong["headers"]["X-Hub-Signature-256"] = wrong["headers"]["X-Hub-Signature-256"].upper()
        assert post(service, **wrong).status_code == 403
        tampered = signed(body)
        tampered["content"] = body.replace(b"Body Text", b"Body Test")
        assert post(service, **tampered).status_code == 403
        big = encode({**payload("message", "text"), "padding": "x" * 5000})
        assert post(service, **signed(big)).status_code == 413
        assert post(service, **signed(b"{not json")).status_code == 400
        assert post(service, **signed(b'{"object": "whatsapp_business_account", "entry": 7}')).status_code == 400
        # Statuses only, and another product's object: acknowledged, nothing stored.
        assert post(service, **signed(encode(updates("message_status")["failed"]))).status_code == 200
        assert post(service, **signed(b'{"object": "page", "entry": []}')).status_code == 200
        assert count(service, Receipt) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_verification_handshake(make_settings: Any, service_factory: Any) -> None:
    with service_factory(make_settings(whatsapp_cloud=cloud_section())) as service:
        url = f"http://127.0.0.1:{service.http_port}{PATH}"
        ok = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"})
        assert ok.status_code == 200 and ok.text == "1158201444"
        assert ok.headers["content-type"].startswith("text/plain")
        for params in [
            {"hub.mode": "subscribe", "hub.verify_token": VERIFY + "x", "hub.challenge": "1"},
            {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
            {"hub.mode": "subscribe", "hub.challenge": "1"},
            {"hub.mode": "subscribe", "hub.verify_token": VERIFY},
        ]:
            assert httpx.get(url, params=params).status_code == 403, params


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cloud_api_and_twilio_whatsapp_from_one_number_are_one_contact(
    make_settings: Any, service_factory: Any
) -> None:
    settings = make_settings(whatsapp_cloud=cloud_section(), twilio=twilio_section())
    with service_factory(settings) as service:
        cloud = payload("message", "text", message_id="wamid.SAME", sender="37120000003")
        assert post(service, **signed(encode(cloud))).status_code == 200
        wait_until(lambda: count(service, Message) == 1, what="the Cloud API message")
        fields = inbound_fields("SM" + "c1" * 16, sender="whatsapp:+37120000003", profile="Cits vārds", body="Vēl")
        assert post(service, INBOUND, **signed_post(INBOUND, fields)).status_code == 200
        wait_until(lambda: count(service, Message) == 2, what="the Twilio message")
        contacts = rows(service, Contact)
        inquiries = rows(service, Inquiry)
    assert len(contacts) == 1
    assert contacts[0].phone == "+37120000003" and contacts[0].whatsapp_id == "37120000003"
    assert contacts[0].name == "Test Name"  # the first profile name stays
    # Both are on the whatsapp channel, so the second joins the client's open inquiry.
    assert [i.channel for i in inquiries] == ["whatsapp"]


def test_the_corpus_keeps_its_source_and_licence() -> None:
    assert (CORPUS / "SOURCE").read_text().startswith("david-lev/pywa ")
    assert "MIT License" in (CORPUS / "LICENSE.upstream").read_text()
    assert Path(CORPUS / "x_hub_signature_256_vector.body.json").read_bytes().endswith(b"}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_reaction_joins_the_reacted_message_and_opens_no_inquiry(make_settings: Any, service_factory: Any) -> None:
    with service_factory(make_settings(whatsapp_cloud=cloud_section())) as service:
        text = payload("message", "text", message_id="wamid.R1", sender="37120000004")
        assert post(service, **signed(encode(text))).status_code == 200
        wait_until(lambda: count(service, Message) == 1, what="the message")
        reaction = payload("message", "reaction", message_id="wamid.R2", sender="37120000004")
        value_of(reaction)["messages"][0]["reaction"]["message_id"] = "wamid.R1"
        stray = payload("message", "reaction", message_id="wamid.R3", sender="37120000005")
        assert post(service, **signed(encode(reaction))).status_code == 200
        assert post(service, **signed(encode(stray))).status_code == 200
        wait_until(
            lambda: all(r.status == "processed" for r in rows(service, Receipt)) and count(service, Receipt) == 3,
            what="all receipts processed",
        )
        messages = {m.external_id: m for m in rows(service, Message)}
        inquiries = rows(service, Inquiry)
        stray_receipt = next(r for r in rows(service, Receipt) if r.natural_id == "wamid:wamid.R3")
    assert len(inquiries) == 1
    note = messages["wamid:wamid.R2"]
    assert note.direction == "automatic" and note.text == "[reaction 😮]"
    assert note.inquiry_id == messages["wamid:wamid.R1"].inquiry_id
    # A reaction to a message we do not know: kept on its receipt, no inquiry.
    assert "wamid:wamid.R3" not in messages
    assert stray_receipt.meta["outcome"]["automatic"] == "whatsapp-reaction"


# --- configuration --------------------------------------------------------------------------------


def test_the_section_is_off_by_default_and_takes_its_secrets_from_the_environment() -> None:
    assert not load_config(ROOT / "config.example.toml", env={}).whatsapp_cloud.enabled
    env = {
        "INGEST__WHATSAPP_CLOUD__ENABLED": "true",
        "INGEST__WHATSAPP_CLOUD__APP_SECRET": "from-env",
        "INGEST__WHATSAPP_CLOUD__VERIFY_TOKEN": "token-from-env",
    }
    cloud = load_config(ROOT / "config.example.toml", env=env).whatsapp_cloud
    assert cloud.enabled and cloud.app_secret == "from-env" and cloud.verify_token == "token-from-env"
    assert cloud.path == PATH


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"whatsapp_cloud": {"enabled": True, "verify_token": "t"}}, "app_secret: needed when enabled"),
        ({"whatsapp_cloud": {"enabled": True, "app_secret": "s"}}, "verify_token: needed when enabled"),
        (
            {"whatsapp_cloud": cloud_section(path="/webhooks/twilio/messages"), "twilio": twilio_section()},
            "whatsapp_cloud.path: must differ from the Twilio webhook paths",
        ),
    ],
)
def test_an_unusable_section_is_reported(section: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(deep_merge(example_document(), section), base_dir=ROOT, env={})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_storage_failure_is_503_and_logs_no_message_content(
    make_settings: Any, service_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with service_factory(make_settings(whatsapp_cloud=cloud_section())) as service:

        def broken(items: Any) -> Any:
            raise RuntimeError("INSERT ... parameters: Body Text +37120000006")

        service.receipts.store_many_sync = broken  # the database is gone
        body = encode(payload("message", "text", message_id="wamid.FAIL", sender="37120000006"))
        with caplog.at_level("INFO"):
            assert post(service, **signed(body)).status_code == 503
        assert count(service, Receipt) == 0
    assert "could not store 1 messages (503): RuntimeError" in caplog.text
    assert "37120000006" not in caplog.text and "Body Text" not in caplog.text
