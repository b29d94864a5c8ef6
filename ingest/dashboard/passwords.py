"""Dashboard passwords: salted scrypt hashes (stdlib ``hashlib.scrypt``), set with ``ingest password set``.

The stored form names its parameters (``scrypt$n$r$p$salt$hash``), so they can be
raised later without breaking the passwords already set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sqlmodel import Session

from storage import inquiry_repo
from storage.models import Employee

# n=2**14, r=8: about 16 MiB and some tens of milliseconds per check — slow for a guesser, fine
# for a login form that is also rate-limited.
N, R, P = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = 10
MAX_LENGTH = 1024  # a longer "password" only costs the server time


class PasswordError(Exception):
    """A password that cannot be set as asked (unknown employee, too short)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * 1024 * 1024, dklen=KEY_BYTES)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(password, salt, N, R, P))}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; False for no or a malformed hash."""
    if not stored or len(password) > MAX_LENGTH:
        return False
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        derived = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, base64.b64decode(expected))


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"a password has at most {MAX_LENGTH} characters")


def set_password(session: Session, *, employee_key: str, password: str) -> Employee:
    check_strength(password)
    employee = inquiry_repo.employee_by_key(session, key=employee_key)
    if employee is None:
        raise PasswordError(f"no employee {employee_key!r}")
    if not employee.active:
        raise PasswordError(f"employee {employee_key!r} is not active")
    employee.password_hash = hash_password(password)
    session.add(employee)
    return employee


# Checked against when the key is unknown, so a login for a missing employee costs the same time
# as one for a real employee (the answer's timing tells nothing).
def dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def refusal(employee: Employee | None, password: str, *, decoy: str) -> str | None:
    """Why ``password`` does not let ``employee`` in (``unknown_employee``, ``no_password``,
    ``wrong_password``), or None if it does: the one rule of the dashboard's login and SMTP AUTH."""
    stored = employee.password_hash if employee is not None and employee.active else None
    # Always one scrypt check (against the decoy when there is no password), so the answer's
    # timing does not tell whether the key exists.
    matches = verify_password(password, stored or decoy) and stored is not None
    if employee is None:
        return "unknown_employee"
    if not matches:
        return "no_password" if stored is None else "wrong_password"
    return None
