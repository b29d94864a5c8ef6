"""What a change to an inquiry can fail with; the API and the dashboard turn it into an answer."""

from __future__ import annotations


class InquiryError(Exception):
    """A change that cannot be made as asked (unknown reference, employee, closed inquiry).

    ``text`` is a catalog text in English with named placeholders (marked with ``N_``) and
    ``values`` fill them: the API and the CLI show it in English, the dashboard in the page's
    language.
    """

    def __init__(self, text: str, **values: object) -> None:
        self.text, self.values = text, values
        super().__init__(text % values if values else text)


class UnknownEmployee(InquiryError):
    """The employee named for the inquiry does not exist or is no longer active."""
