"""The submission port (issue 15, item 1): staff replies over SMTP AUTH count as proven, over real SMTP.

An employee logs in on ``[smtp_submission]`` with the dashboard's key (or e-mail address) and
password; a reply whose From is that employee is sent on to the client with ``[staff_replies]
accept = ["submission"]``. Without AUTH the port answers 530; wrong passwords are refused and count
against the dashboard's own login limit; the same reply over the public port, with no DKIM and
no Authentication-Results, stays an unverified note; a colleague's session or an
Authentication-Results header written by the sender proves nothing.
"""

from __future__ import annotations

import re
import shutil
import smtplib
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.api.tokens import create_token
from ingest.config import ConfigError, parse_config
from ingest.dashboard import passwords as password_module
from storage.db import transaction
from storage.models import Event, Inquiry, Message, Receipt
from storage.staff_models import AuditLog
from storage.types import utcnow
from tests.dashboard_helpers import PASSWORD, give_passwords, login
from tests.smtp_helpers import client_mail, rows, send
from tests.staff_proof_helpers import AUTHSERV_ID, vouch
from tests.support import deep_merge, example_document, wait_until

JANIS = "janis.kalnins@example.lv"  # atkritumi-1: the waste inquiries' responsible employee
DACE = "dace.krumina@example.lv"  # nami: a colleague of another field
ANSWER = "Labdien! Atkritumi tiks izvesti rīt līdz plkst. 12."


@pytest.fixture
def office(make_settings: Callable[..., Any], relay: Any) -> Callable[..., Any]:
    def settings(**sections: Any) -> Any:
        base = {
            "outgoing_mail": {"relay_host": "127.0.0.1", "relay_port": relay.port, "security": "none"},
            "staff_replies": {"accept": ["submission"]},
            "smtp_submission": {"enabled": True, "port": 0, "allow_plaintext": True},
        }
        return make_settings(**deep_merge(base, sections))

    return settings


def notified(service: Any, relay: Any) -> EmailMessage:
    """A client's mail in over the public port, and the responsible employee's notification."""
    send(service.smtp_port, client_mail("Neizvesti atkritumi", "Netiek izvesti atkritumi no Brīvības ielas 12."))
    (notice,) = wait_until(lambda: relay.staff(), what="the staff notification")
    give_passwords(service.sessions, "atkritumi-1", "nami")
    return notice  # type: ignore[no-any-return]


def reply_to(notice: EmailMessage, *, sender: str = JANIS, body: str = ANSWER, n: int = 1) -> EmailMessage:
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = str(notice["Reply-To"])
    reply["Subject"] = "Re: " + str(notice["Subject"])
    reply["Message-ID"] = f"<reply-{n}@example.lv>"
    reply["In-Reply-To"] = notice["Message-ID"]
    reply.set_content(body)
    return reply


def authenticate(smtp: smtplib.SMTP, user: str, password: str, mechanism: str = "PLAIN") -> int:
    """One AUTH attempt (smtplib's login() would try every mechanism offered, each an attempt)."""
    smtp.ehlo_or_helo_if_needed()
    smtp.user, smtp.password = user, password
    method = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
    try:
        return smtp.auth(mechanism, method, initial_response_ok=mechanism == "PLAIN")[0]
    except smtplib.SMTPAuthenticationError as refused:
        return refused.smtp_code


def submit(service: Any, message: EmailMessage, *, user: str = "atkritumi-1", password: str = PASSWORD) -> Any:
    with smtplib.SMTP("127.0.0.1", service.submission_port, timeout=30) as smtp:
        code = authenticate(smtp, user, password)
        if code != 235:
            return code
        return smtp.send_message(message)


def answered_client(relay: Any) -> list[EmailMessage]:
    return [m for m in relay.clients() if "Atkritumi tiks izvesti" in m.get_content()]


def audit(service: Any, action: str) -> list[AuditLog]:
    return [a for a in rows(service, AuditLog) if a.action == action]


@pytest.mark.slow  # a running service and a relay
def test_an_authenticated_reply_by_its_author_reaches_the_client(office: Any, relay: Any, service_factory: Any) -> None:
    with service_factory(office()) as service:
        notice = notified(service, relay)
        with smtplib.SMTP("127.0.0.1", service.submission_port, timeout=30) as smtp:
            smtp.ehlo()
            assert smtp.mail(JANIS)[0] == 530  # nothing before AUTH
            smtp.rset()
            # LOGIN, with the employee's e-mail address as the user name (what mail programs offer).
            assert authenticate(smtp, JANIS, PASSWORD, "LOGIN") == 235
            assert smtp.send_message(reply_to(notice)) == {}
        (delivered,) = wait_until(lambda: answered_client(relay), what="the answer at the client")
        inquiry = rows(service, Inquiry)[0]
        receipt = [r for r in rows(service, Receipt) if r.source == "smtp-submission"][0]
        answered = [e for e in rows(service, Event) if e.type == "answered"]
        logins = audit(service, "smtp.auth")
    assert delivered["From"].addresses[0].addr_spec == "klienti@example.lv"
    assert inquiry.status == "answered" and len(answered) == 1 and answered[0].actor == "atkritumi-1"
    assert receipt.meta["submission"] == {"employee": "atkritumi-1", "mechanism": "LOGIN", "tls": False}
    assert [a.actor for a in logins] == ["atkritumi-1"] and logins[0].remote_addr == "127.0.0.1"


@pytest.mark.slow  # a running service and a relay
def test_wrong_passwords_are_refused_and_count_against_the_dashboards_limit(
    office: Any, relay: Any, service_factory: Any
) -> None:
    with service_factory(office()) as service:
        notified(service, relay)
        codes = []
        for mechanism in ("PLAIN", "LOGIN", "PLAIN", "LOGIN", "PLAIN"):
            with smtplib.SMTP("127.0.0.1", service.submission_port, timeout=30) as smtp:
                codes.append(authenticate(smtp, "atkritumi-1", "not the password", mechanism))
        # The right password, now over the limit for this key from this address: refused too...
        over = submit(service, reply_to(relay.staff()[0]))
        # ...and the dashboard, counting on the same limit, refuses the key from here as well.
        client, page = login(f"http://127.0.0.1:{service.http_port}", "atkritumi-1")
        client.close()
        failed, refused = audit(service, "smtp.auth_failed"), audit(service, "smtp.auth_refused")
        messages = rows(service, Message)
    assert codes == [535] * 5
    assert over == 454
    assert page.status_code == 429
    assert [(a.actor, a.detail["reason"]) for a in failed] == [("atkritumi-1", "wrong_password")] * 5
    assert len(refused) == 1 and "not the password" not in str([a.detail for a in failed])
    assert answered_client(relay) == [] and [m.direction for m in messages] == ["in"]


@pytest.mark.slow  # a running service, 30 sessions at once
def test_parallel_wrong_passwords_get_the_limit_of_checks(
    office: Any, relay: Any, service_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt is counted before its password is checked: sessions in parallel cannot all
    pass the limit while the first are still in scrypt (the dashboard's finding, issue 15 item 6)."""
    checks: list[str] = []
    real_verify = password_module.verify_password

    def counted(password: str, stored: str | None) -> bool:
        checks.append(password)
        return real_verify(password, stored)

    monkeypatch.setattr(password_module, "verify_password", counted)
    with service_factory(office(smtp_submission={"max_sessions": 40})) as service:
        give_passwords(service.sessions, "valde")
        start = threading.Barrier(30)

        def attempt(i: int) -> int:
            with smtplib.SMTP("127.0.0.1", service.submission_port, timeout=60) as smtp:
                smtp.ehlo()
                start.wait()
                return authenticate(smtp, "valde", f"guess {i}")

        with ThreadPoolExecutor(max_workers=30) as pool:
            codes = Counter(pool.map(attempt, range(30)))
    assert codes == {535: 5, 454: 25}
    assert len(checks) == 5


@pytest.mark.slow  # a running service and a relay
def test_the_same_reply_over_the_public_port_stays_an_unverified_note(
    office: Any, relay: Any, service_factory: Any
) -> None:
    with service_factory(office()) as service:
        notice = notified(service, relay)
        reply = reply_to(notice)
        send(service.smtp_port, reply, rcpt=str(notice["Reply-To"]), sender=JANIS)
        told = wait_until(lambda: [m for m in relay.staff() if m["To"].addresses[0].addr_spec == JANIS][1:],
                          what="the employee told why")  # fmt: skip
        notes = [e for e in rows(service, Event) if e.type == "note_added"]
        inquiry = rows(service, Inquiry)[0]
    assert answered_client(relay) == [] and inquiry.status == "open"
    assert len(notes) == 1 and notes[0].data["proof"] is None and notes[0].data["relayed"] is False
    assert told and inquiry.reference in told[0].get_content()


@pytest.mark.slow  # a running service and a relay
def test_a_colleagues_session_or_a_self_written_authentication_results_proves_nothing(
    office: Any, relay: Any, service_factory: Any
) -> None:
    """Dace's session sending Jānis's reply is not Jānis's; and mail on this port did not pass the
    office's mail server, so an Authentication-Results header in it is the sender's own writing."""
    settings = office(staff_replies={"accept": ["submission", "authentication-results"], "authserv_id": AUTHSERV_ID})
    with service_factory(settings) as service:
        notice = notified(service, relay)
        submit(service, vouch(reply_to(notice, n=1)), user="nami")
        submit(service, vouch(reply_to(notice, n=2, sender="dace.krumina@example.lv", body="Es zinu šo māju.")),
               user="nami")  # fmt: skip
        wait_until(lambda: len([e for e in rows(service, Event) if e.type == "note_added"]) == 2, what="two notes")
        notes = [e for e in rows(service, Event) if e.type == "note_added"]
        inquiry = rows(service, Inquiry)[0]
    assert answered_client(relay) == [] and inquiry.status == "open"
    # Dace's own reply is proven hers (her session), kept as a note: she is not responsible for it,
    # and the notification did not go to her, so the note is hers in name only (no access).
    assert sorted((n.actor, n.actor_kind, n.data["proof"], n.data["reason"]) for n in notes) == [
        ("atkritumi-1", "sender", None, "unverified"), ("nami", "sender", "submission", "not_yours"),
    ]  # fmt: skip


@pytest.mark.slow  # a running service and a relay
def test_a_colleagues_proven_reply_through_a_forwarded_reply_address_shows_them_nothing(
    office: Any, relay: Any, service_factory: Any
) -> None:
    """Jānis forwards his notification to Dace; her proven reply to its reply address is kept as a
    note, and neither it nor the "not sent on" notice she is sent lets her read the inquiry."""
    with service_factory(office()) as service:
        notice = notified(service, relay)
        reference = rows(service, Inquiry)[0].reference
        with transaction(service.sessions) as session:
            secret = create_token(session, employee_key="nami", name="test", now=utcnow()).secret
        submit(service, reply_to(notice, n=1, sender=DACE, body="Es zinu šo māju."), user="nami")
        (told,) = wait_until(lambda: [m for m in relay.staff() if m["To"].addresses[0].addr_spec == DACE],
                             what="Dace told it was not sent on")  # fmt: skip
        # Her proven answer to that notice: still the inquiry's, still binds her to nothing.
        submit(service, reply_to(told, n=2, sender=DACE, body="Tad aizveriet."), user="nami")
        wait_until(lambda: len([e for e in rows(service, Event) if e.type == "note_added"]) == 2, what="two notes")
        notes = [e for e in rows(service, Event) if e.type == "note_added"]
        answer = httpx.get(f"http://127.0.0.1:{service.http_port}/api/v1/inquiries/{reference}",
                           headers={"Authorization": f"Bearer {secret}"}, timeout=30)  # fmt: skip
        inquiry = rows(service, Inquiry)[0]
    assert answered_client(relay) == [] and inquiry.status == "open"
    assert [(n.actor, n.actor_kind, n.data["proof"], n.data["reason"]) for n in notes] == [
        ("nami", "sender", "submission", "not_yours"),
    ] * 2  # fmt: skip
    assert answer.status_code == 404, answer.text


@pytest.mark.slow  # a running service and a relay
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a certificate")
def test_with_a_certificate_auth_comes_only_after_starttls(
    office: Any, relay: Any, service_factory: Any, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)  # fmt: skip
    tls = {"allow_plaintext": False, "tls_cert_file": str(cert), "tls_key_file": str(key)}
    with service_factory(office(smtp_submission=tls)) as service:
        notice = notified(service, relay)
        with smtplib.SMTP("127.0.0.1", service.submission_port, timeout=30) as smtp:
            smtp.ehlo()
            assert not smtp.has_extn("auth")  # no password offered in clear
            assert smtp.docmd("AUTH", "PLAIN")[0] == 530  # STARTTLS first
            smtp.starttls(context=ssl._create_unverified_context())  # noqa: S323 - the test's own certificate
            assert authenticate(smtp, "atkritumi-1", PASSWORD) == 235
            smtp.send_message(reply_to(notice))
        wait_until(lambda: answered_client(relay), what="the answer at the client")
        receipt = [r for r in rows(service, Receipt) if r.source == "smtp-submission"][0]
    assert receipt.meta["submission"] == {"employee": "atkritumi-1", "mechanism": "PLAIN", "tls": True}


@pytest.mark.parametrize(
    ("sections", "error"),
    [
        ({"smtp_submission": {"enabled": True}}, "smtp_submission: enabled: needs tls_cert_file"),
        ({"smtp_submission": {"allow_plaintext": True, "host": "0.0.0.0"}}, "only on a loopback host"),  # noqa: S104
        ({"smtp_submission": {"tls_cert_file": "/etc/cert.pem"}}, "both or neither"),
        ({"staff_replies": {"accept": ["submission"]}}, '"submission" needs [smtp_submission] enabled'),
    ],
)
def test_the_submission_settings_refuse_a_password_in_clear_off_loopback(
    sections: dict[str, Any], error: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)):
        parse_config(deep_merge(example_document(), sections), base_dir=tmp_path, env={})


def test_the_example_configuration_documents_the_submission_port() -> None:
    settings = parse_config(example_document(), base_dir=Path("."), env={})
    assert settings.smtp_submission.enabled is False and settings.smtp_listener.spool_above_bytes == 1024 * 1024
    text = (Path(__file__).parent.parent / "config.example.toml").read_text(encoding="utf-8")
    assert "[smtp_submission]" in text and "spool_above_bytes" in text
