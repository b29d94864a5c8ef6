"""Helpers for the Twilio tests: signed webhook requests and a stand-in for the Messages REST API."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from twilio.request_validator import RequestValidator

CORPUS = Path(__file__).resolve().parent / "data" / "corpora" / "twilio"
TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
# A reserved name (RFC 2606): never resolved, only signed over.
PUBLIC = "https://gk-ingest.test"
INBOUND = "/webhooks/twilio/messages"
STATUS = "/webhooks/twilio/status"


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def vectors() -> dict[str, Any]:
    return json.loads((CORPUS / "signature_vectors.json").read_text(encoding="utf-8"))


def twilio_section(**extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "account_sid": ACCOUNT,
        "auth_token": TOKEN,
        "public_base_url": PUBLIC,
        "whatsapp_from": "+37167000000",
        "sms_from": "+37167000001",
        # Never Twilio's real host from a test: nothing listens on the discard port, so sending
        # fails locally (a temporary failure) unless a test points this at its fake API.
        "api_base_url": "http://127.0.0.1:9",
        **extra,
    }


def sign(url: str, fields: list[tuple[str, str]], token: str = TOKEN) -> str:
    params: dict[str, list[str]] = {}
    for k, v in fields:
        params.setdefault(k, []).append(v)

    class Form(dict):  # type: ignore[type-arg]
        def getlist(self, name: str) -> list[str]:
            return self[name]

    return RequestValidator(token).compute_signature(url, Form(params))


def inbound_fields(
    sid: str,
    *,
    sender: str,
    body: str,
    profile: str | None = None,
    media: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> list[tuple[str, str]]:
    whatsapp = sender.startswith("whatsapp:")
    fields = [
        ("SmsMessageSid", sid),
        ("NumMedia", str(len(media))),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", ("whatsapp:" if whatsapp else "") + "+37167000000"),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", sender),
        ("ApiVersion", "2010-04-01"),
    ]
    if whatsapp:
        fields += [("ProfileName", profile or ""), ("WaId", sender.removeprefix("whatsapp:+")), ("MessageType", "text")]
    for i, (url, ctype) in enumerate(media):
        fields += [(f"MediaUrl{i}", url), (f"MediaContentType{i}", ctype)]
    return fields


def signed_post(path: str, fields: list[tuple[str, str]], *, base: str = PUBLIC, token: str = TOKEN) -> dict[str, Any]:
    """kwargs for httpx: the urlencoded body and the signature over ``base + path``."""
    body = urlencode(fields)
    return {
        "content": body.encode(),
        "headers": {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(base + path, fields, token),
        },
    }


class FakeMessagesApi:
    """Plays Twilio's Messages REST API: POST /2010-04-01/Accounts/{sid}/Messages.json.

    Answers 201 with a queued message; a ``To`` ending in 400 or 503 gets that error instead.

    Media: ``add_media(path, content_type, data)`` serves a client's media item the way Twilio
    does: GET on the API path needs the account's basic auth and answers 307 to a media store
    on another origin (``localhost`` instead of ``127.0.0.1``), which serves the bytes without
    auth. ``media_failures[path] = n`` makes the first n GETs answer 500. Every GET is recorded
    in ``media_requests`` with the Authorization header it carried.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.media: dict[str, tuple[str, bytes]] = {}
        self.media_failures: dict[str, int] = {}
        self.media_requests: list[dict[str, Any]] = []
        self.counter = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                auth = self.headers.get("Authorization")
                with outer.lock:
                    outer.media_requests.append({"path": self.path, "host": self.headers.get("Host"), "auth": auth})
                    failures = outer.media_failures.get(self.path, 0)
                    if failures:
                        outer.media_failures[self.path] = failures - 1
                if self.path.startswith("/store/"):
                    item = outer.media.get(self.path[len("/store") :])
                    if item is None:
                        return self._answer(404)
                    return self._answer(200, item[1], {"Content-Type": item[0]})
                if self.path not in outer.media:
                    return self._answer(404, b'{"code": 20404}', {"Content-Type": "application/json"})
                if auth != basic_auth(ACCOUNT, TOKEN):
                    return self._answer(401, b'{"code": 20003}', {"Content-Type": "application/json"})
                if failures:
                    return self._answer(500, b'{"code": 20500}', {"Content-Type": "application/json"})
                port = self.server.server_address[1]
                self._answer(307, headers={"Location": f"http://localhost:{port}/store{self.path}"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()}
                with outer.lock:
                    outer.counter += 1
                    sid = f"SM{outer.counter:032x}"
                    outer.requests.append({"path": self.path, "form": form, "auth": self.headers.get("Authorization")})
                to = form.get("To", "")
                if not self.path.endswith("/Messages.json") or f"/Accounts/{ACCOUNT}/" not in self.path:
                    status, body = 404, {"code": 20404, "message": "not found", "status": 404}
                elif to.endswith("400"):
                    status, body = 400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}
                elif to.endswith("503"):
                    status, body = 503, {"code": 20503, "message": "Service unavailable", "status": 503}
                else:
                    status = 201
                    body = {
                        "sid": sid,
                        "account_sid": ACCOUNT,
                        "to": to,
                        "from": form.get("From"),
                        "messaging_service_sid": form.get("MessagingServiceSid"),
                        "body": form.get("Body"),
                        "status": "queued",
                        "num_media": "0",
                        "num_segments": "1",
                        "direction": "outbound-api",
                        "api_version": "2010-04-01",
                        "price": None,
                        "error_code": None,
                        "error_message": None,
                        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json",
                        "date_created": "Thu, 01 Oct 2026 10:00:00 +0000",
                        "date_updated": "Thu, 01 Oct 2026 10:00:00 +0000",
                        "date_sent": None,
                        "subresource_uris": {},
                    }
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_media(self, path: str, content_type: str, data: bytes) -> str:
        """Serve a media item at ``path``; returns its full URL (what Twilio puts in MediaUrlN)."""
        self.media[path] = (content_type, data)
        return self.url + path

    def __enter__(self) -> FakeMessagesApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
