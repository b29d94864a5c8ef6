"""What a change to an inquiry can fail with; the API and the dashboard turn it into an answer."""

from __future__ import annotations


class InquiryError(Exception):
    """A change that cannot be made as asked (unknown reference, employee, closed inquiry)."""


class UnknownEmployee(InquiryError):
    """The employee named for the inquiry does not exist or is no longer active."""
