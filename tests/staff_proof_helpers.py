"""Proving a staff reply in tests: the office mail server's Authentication-Results header, and a
DKIM key of the test's own (no DNS: dkimpy is given the key through ``[staff_replies] dkim_keys``).

Tests that answer by e-mail configure ``STAFF_REPLIES`` and ``vouch`` for the reply, as the
office's mail server would after checking the employee's DKIM signature.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, overload

import dkim

# The authserv-id the test office's mail server writes into its Authentication-Results.
AUTHSERV_ID = "mx.example.lv"
STAFF_REPLIES: dict[str, Any] = {"accept": ["authentication-results"], "authserv_id": AUTHSERV_ID}


@overload
def vouch(message: bytes, *, server: str = ..., domain: str = ...) -> bytes: ...
@overload
def vouch(message: EmailMessage, *, server: str = ..., domain: str = ...) -> EmailMessage: ...
def vouch(message: EmailMessage | bytes, *, server: str = AUTHSERV_ID, domain: str = "example.lv") -> Any:
    """The message as the office's mail server passes it on: with its Authentication-Results on top."""
    value = f"{server}; dkim=pass (2048-bit key) header.d={domain} header.s=sel; dmarc=pass header.from={domain}"
    if isinstance(message, bytes):
        return f"Authentication-Results: {value}\r\n".encode() + message
    message["Authentication-Results"] = value  # the only one: its place among the headers does not matter
    return message


# -- a DKIM key of the test's own -----------------------------------------------------------------


def _probably_prime(n: int, rounds: int = 32) -> bool:
    if n < 2 or any(n % p == 0 for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29)):
        return n in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29)
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if _probably_prime(candidate):
            return candidate


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    length = (
        bytes([size])
        if size < 0x80
        else bytes([0x80 | ((size.bit_length() + 7) // 8)]) + size.to_bytes((size.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + body


def _int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


RSA_OID = bytes.fromhex("06092a864886f70d0101010500")  # rsaEncryption, NULL


@dataclass(frozen=True)
class DkimKey:
    private_pem: bytes
    public_record: str  # the TXT record: "v=DKIM1; k=rsa; p=..."


def new_dkim_key(bits: int = 1024) -> DkimKey:
    """A fresh RSA key for DKIM, made here (PKCS#1 private key, SubjectPublicKeyInfo in the record)."""
    e = 65537
    while True:
        p, q = _prime(bits // 2), _prime(bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e != 0 and (p * q).bit_length() == bits:
            break
    n, d = p * q, pow(e, -1, phi)
    private = _der(0x30, b"".join(_int(v) for v in (0, n, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p))))
    pem = b"-----BEGIN RSA PRIVATE KEY-----\n" + base64.encodebytes(private) + b"-----END RSA PRIVATE KEY-----\n"
    public = _der(0x30, _der(0x30, RSA_OID) + _der(0x03, b"\x00" + _der(0x30, _int(n) + _int(e))))
    return DkimKey(private_pem=pem, public_record="v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode())


def dkim_signed(raw: bytes, key: DkimKey, *, selector: str = "sel2026", domain: str = "example.lv") -> bytes:
    """The message with a DKIM-Signature of ``domain`` over its From, To, Subject, ids and body."""
    headers = [b"from", b"to", b"subject", b"message-id", b"in-reply-to", b"references"]
    signature = dkim.sign(raw, selector.encode(), domain.encode(), key.private_pem, include_headers=headers)
    return bytes(signature) + raw
