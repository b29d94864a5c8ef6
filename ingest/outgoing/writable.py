"""Which stored e-mail addresses the office may write to.

Mail is taken from any sender a mail server accepted, ``guest@localhost`` included (single-label
domains, as Postfix takes them), so that no client's message is lost; but such an address names
no host on the Internet: a message to it would go to whatever machine our relay calls
``localhost``, or bounce. It is stored and shown, never written to.
"""

from __future__ import annotations


def writable_email(address: str | None) -> bool:
    """True when an address has a domain of at least two labels (``a@pasts.lv``), not a
    single-label one (``guest@localhost``) nor an address literal (``a@[192.0.2.1]``)."""
    if not address or "@" not in address:
        return False
    domain = address.rpartition("@")[2].strip().rstrip(".")
    if not domain or domain.startswith("["):
        return False
    labels = domain.split(".")
    return len(labels) >= 2 and all(labels)
