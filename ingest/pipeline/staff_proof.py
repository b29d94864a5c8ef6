"""Whether a reply to a notification comes from the staff member its ``From`` names.

``From`` alone proves nothing: anyone holding an inquiry's reply address (a forwarded
notification) can write it. A reply counts as the employee's only when one of the configured
proofs (``[staff_replies] accept``) holds for the sender's domain, which must be a staff domain:

- ``dkim``: a valid DKIM signature (dkimpy) whose ``d=`` is that domain, covering ``From`` and the
  whole body (a signature with a body length ``l=`` is not taken: text could be added below it);
- ``authentication-results``: the topmost ``Authentication-Results`` header written by the
  office's own mail server (its ``authserv-id``) says ``dkim=pass header.d=<domain>`` or
  ``dmarc=pass header.from=<domain>``. Such headers with any other authserv-id, and ours below the
  topmost, are ignored: anyone can write them.
- ``submission``: the reply came over the submission port (``[smtp_submission]``) in a session
  that authenticated (SMTP AUTH) as the very employee its ``From`` names. The listener records the
  session's employee in the receipt's meta, and only receipts of that listener are read for it.
  Such mail did not pass the office's mail server, so its Authentication-Results headers are the
  sender's own writing and prove nothing; a DKIM signature still does.

With nothing accepted (the default) no reply is proven.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

import dkim

from channels.email import header_block

log = logging.getLogger(__name__)

DKIM = "dkim"
AUTHENTICATION_RESULTS = "authentication-results"
SUBMISSION = "submission"
PROOFS = (DKIM, AUTHENTICATION_RESULTS, SUBMISSION)

# The receipts' source of the submission listener, and the meta key it records the session in.
SUBMISSION_SOURCE = "smtp-submission"
SUBMISSION_META = "submission"

# Logged at start-up when nothing is accepted (``ingest check-config`` says the same, translated).
NOTHING_ACCEPTED = (
    "[staff_replies] accept is empty: no reply to a notification is sent on to a client or closes an"
    ' inquiry (each is kept as an internal note and its author told). Configure "dkim" and/or'
    ' "authentication-results" (README, answering by e-mail)'
)

# dkimpy's DNS function: (name as bytes, timeout=...) -> the TXT record as bytes, or None.
DnsFunc = Callable[..., bytes | None]


@dataclass(frozen=True)
class StaffProof:
    """What proves a staff reply, from ``[staff_replies]``."""

    accept: tuple[str, ...] = ()
    authserv_id: str = ""
    staff_domains: frozenset[str] = frozenset()
    # None: dkimpy asks DNS.
    dnsfunc: DnsFunc | None = None
    # A reply address stops working this long after its inquiry was closed.
    token_grace: timedelta = timedelta(days=14)
    dkim_timeout: int = field(default=5)


def staff_proof(
    *,
    accept: Iterable[str],
    authserv_id: str,
    staff_domains: Iterable[str],
    employee_addresses: Iterable[str],
    dkim_keys: Mapping[str, str],
    token_grace_days: int,
) -> StaffProof:
    """The proof settings; staff domains default to those of the employees' addresses."""
    domains = {d.strip().lower().rstrip(".") for d in staff_domains if d.strip()}
    if not domains:
        domains = {a.rpartition("@")[2].lower() for a in employee_addresses if "@" in a}
    return StaffProof(
        accept=tuple(a for a in accept if a in PROOFS),
        authserv_id=authserv_id.strip(),
        staff_domains=frozenset(domains),
        dnsfunc=offline_dns(dkim_keys) if dkim_keys else None,
        token_grace=timedelta(days=token_grace_days),
    )


def offline_dns(keys: Mapping[str, str]) -> DnsFunc:
    """A DNS function answering only from ``keys`` (``selector._domainkey.domain`` -> TXT record)."""
    known = {name.strip().lower().rstrip("."): value for name, value in keys.items()}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:  # noqa: ARG001 - dkimpy's signature
        value = known.get(name.decode("ascii", "replace").lower().rstrip("."))
        return value.encode("ascii") if value is not None else None

    return lookup


def proven_by(
    raw: bytes,
    sender: str,
    proof: StaffProof,
    *,
    source: str = "",
    meta: Mapping[str, Any] | None = None,
    author: str | None = None,
) -> str | None:
    """The proof that holds for this message from ``sender`` (``dkim``, ``authentication-results``,
    ``submission``), or None when none of the accepted ones does. ``source`` and ``meta`` are its
    receipt's, ``author`` the key of the employee ``sender`` is."""
    if not proof.accept:
        return None
    headers = BytesHeaderParser(policy=compat32).parsebytes(header_block(raw))
    if len(headers.get_all("From") or []) != 1:
        return None  # two From headers: which one is the sender is anybody's guess
    submitted = source == SUBMISSION_SOURCE
    if submitted and SUBMISSION in proof.accept and author and submitted_by(source, meta or {}) == author:
        return SUBMISSION
    domain = sender.rpartition("@")[2].strip().lower()
    if not domain or domain not in proof.staff_domains:
        return None
    if AUTHENTICATION_RESULTS in proof.accept and proof.authserv_id and not submitted:
        results = [str(value) for value in headers.get_all("Authentication-Results") or []]
        if results_say_pass(results, authserv_id=proof.authserv_id, domain=domain):
            return AUTHENTICATION_RESULTS
    if DKIM in proof.accept and domain in dkim_domains(raw, dnsfunc=proof.dnsfunc, timeout=proof.dkim_timeout):
        return DKIM
    return None


def submitted_by(source: str, meta: Mapping[str, Any]) -> str | None:
    """The employee key the submission port's session of this receipt authenticated as, or None
    (another receiver's receipt: whatever its meta says, it was not written by that listener)."""
    if source != SUBMISSION_SOURCE:
        return None
    session = meta.get(SUBMISSION_META)
    key = session.get("employee") if isinstance(session, Mapping) else None
    return key if isinstance(key, str) and key else None


# -- DKIM --------------------------------------------------------------------------------------


def dkim_domains(raw: bytes, *, dnsfunc: DnsFunc | None, timeout: int = 5) -> set[str]:
    """The ``d=`` domains of the message's valid DKIM signatures that cover From and the whole body."""
    try:
        checker = dkim.DKIM(raw, timeout=timeout)
    except Exception:  # noqa: BLE001 - a message dkimpy cannot read carries no proof
        return set()
    count = sum(1 for name, _value in checker.headers if name.lower() == b"dkim-signature")
    found: set[str] = set()
    for index in range(count):
        kwargs: dict[str, Any] = {"idx": index} if dnsfunc is None else {"idx": index, "dnsfunc": dnsfunc}
        try:
            valid = bool(checker.verify(**kwargs))
        except Exception as exc:  # noqa: BLE001 - a signature that cannot be checked proves nothing
            log.info("DKIM signature %s not valid: %s", index, exc)
            continue
        fields = getattr(checker, "signature_fields", {}) or {}
        if valid and b"l" not in fields and b"from" in getattr(checker, "include_headers", ()):
            found.add(bytes(checker.domain).decode("ascii", "replace").lower().rstrip("."))
    return found


# -- Authentication-Results (RFC 8601) ---------------------------------------------------------

_TOKEN = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^\s;"])+')


def _without_comments(value: str) -> str:
    """The header's value with its (possibly nested) comments removed, quoted strings kept."""
    out, depth, quoted, escaped = [], 0, False, False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth > 0:
            depth -= 1
        elif depth == 0:
            quoted = char == '"'
            out.append(char)
    return " ".join("".join(out).split())


def parse_results(value: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    """(authserv-id, [(method, result, {ptype.property: value})]) of one header's value."""
    parts = [p.strip() for p in _without_comments(value).split(";")]
    head = parts[0].split()
    authserv_id = head[0].lower() if head else ""
    results = []
    for part in parts[1:]:
        words = [w.strip('"') for w in _TOKEN.findall(part)]
        if not words or "=" not in words[0]:
            continue
        method, _, result = words[0].partition("=")
        props = {}
        for word in words[1:]:
            key, eq, val = word.partition("=")
            if eq:
                props[key.lower()] = val.strip('"').lower().rstrip(".")
        results.append((method.split("/")[0].lower(), result.lower(), props))
    return authserv_id, results


def results_say_pass(values: list[str], *, authserv_id: str, domain: str) -> bool:
    """Whether the topmost header of ``authserv_id`` (``values`` topmost first) has a DKIM pass of
    ``domain`` or a DMARC pass of mail from ``domain``; headers of other servers do not count."""
    ours = authserv_id.strip().lower()
    for value in values:
        server, results = parse_results(value)
        if server != ours:
            continue
        for method, result, props in results:
            if result != "pass":
                continue
            if method == "dkim" and props.get("header.d") == domain:
                return True
            if method == "dmarc" and props.get("header.from") == domain:
                return True
        return False  # only the topmost of ours counts
    return False
