"""What the receipts of one batch share inside their one transaction.

The office's state that routing needs (employees, who is away, open-inquiry loads) is read
once per batch and kept current in memory as the batch assigns inquiries; reference numbers
come from a counter read once and written back once; the messages and contacts the receipts
may already have are read ahead in one query each. A batch lives as long as its transaction:
when a receipt fails, the transaction is rolled back and a new batch starts without it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlmodel import Session

from channels.base import InboundMessage
from router.calendar import WorkingCalendar
from router.route import Load, Situation
from storage import batch_repo, repo
from storage.models import Contact, Employee


@dataclass
class Batch:
    session: Session
    calendar: WorkingCalendar
    # Per day counted from: per employee key, their open inquiries and those due by that day's end.
    _loads: dict[date, dict[str, Load]] = field(default_factory=dict)
    # Per counter name: its value when read, and the last number handed out.
    _read: dict[str, int] = field(default_factory=dict)
    _numbers: dict[str, int] = field(default_factory=dict)
    _absent: dict[date, frozenset[str]] = field(default_factory=dict)
    _employees: dict[str, Employee] | None = None
    # Read ahead for the whole batch, so that a receipt needs no query of its own for them:
    # (channel, natural id) -> the message stored before the batch; e-mail address -> contact.
    _covered: set[tuple[str, str, str]] = field(default_factory=set)
    _messages: dict[tuple[str, str], int] = field(default_factory=dict)
    _contacts: dict[str, Contact | None] = field(default_factory=dict)
    # Keys that more than one receipt of the batch has are looked up again when asked: an
    # earlier receipt may have stored them (the same message twice, one client's two messages).
    _repeated: set[tuple[str, str, str]] = field(default_factory=set)

    def read_ahead(self, inbounds: Iterable[InboundMessage]) -> None:
        """The messages and e-mail contacts that these receipts may already have, in two queries.

        They are the batch's first receipts (all of them, or those prepared when it started);
        the batch calls :meth:`end_read_ahead` before it goes on to the others."""
        items = list(inbounds)
        keys = Counter(("message", i.channel, i.external_id) for i in items)
        keys.update(("email", i.channel, i.sender_address.lower()) for i in items if i.channel == "email")
        self._covered = set(keys)
        self._repeated = {key for key, n in keys.items() if n > 1}
        for channel in {i.channel for i in items}:
            ids = [i.external_id for i in items if i.channel == channel]
            self._messages.update(batch_repo.message_ids(self.session, channel=channel, external_ids=ids))
        emails = {address for kind, _, address in keys if kind == "email"}
        found = batch_repo.contacts_by_email(self.session, emails=emails) if emails else {}
        self._contacts = {address: found.get(address) for address in emails}

    def stored_message_id(self, *, channel: str, external_id: str) -> int | None:
        """The message already stored under this natural id, if any."""
        if self._read_ahead_holds(("message", channel, external_id)):
            return self._messages.get((channel, external_id))
        message = repo.message_by_external_id(self.session, channel=channel, external_id=external_id)
        return message.id if message else None

    def contact_by_email(self, address: str) -> Contact | None:
        """The contact of an e-mail address (lower case), if there is one."""
        if self._read_ahead_holds(("email", "email", address)):
            return self._contacts[address]
        return repo.find_contact_by_email(self.session, email=address)

    def end_read_ahead(self) -> None:
        """The receipts read ahead for are done: those after them look up their own keys, and so
        see what the first ones stored (a client's second message finds the contact of her first)."""
        self._covered = set()

    def _read_ahead_holds(self, key: tuple[str, str, str]) -> bool:
        # Only for a key one receipt alone asked for: with two, the first may have stored it since.
        return key in self._covered and key not in self._repeated

    # -- what routing needs -----------------------------------------------------------------

    def employees(self) -> dict[str, Employee]:
        if self._employees is None:
            self._employees = repo.employees_by_key(self.session)
        return self._employees

    def situation(self, *, contact: Contact, received_at: datetime) -> Situation:
        """As :func:`ingest.inquiries.opening.situation`, from this batch's state."""
        # Who is away on the day the message counts from (a Friday-evening message is Monday's work).
        day = self.calendar.start_of_counting(received_at).date()
        if day not in self._absent:
            self._absent[day] = frozenset(repo.absent_on(self.session, day=day))
        previous = repo.client_open_inquiry(self.session, contact_id=contact.id) if contact.id else None
        return Situation(
            absent=self._absent[day],
            load=dict(self._loads_on(day)),
            client_employee=previous[0] if previous else None,
            client_topic=previous[1] if previous else None,
        )

    def _loads_on(self, day: date) -> dict[str, Load]:
        if day not in self._loads:
            rows = repo.load_by_employee(self.session, due_by=self._end_of(day))
            self._loads[day] = {k: Load(open=n, due_soon=d) for k, (n, d) in rows.items()}
        return self._loads[day]

    def _end_of(self, day: date) -> datetime:
        return datetime.combine(day, time.max, tzinfo=self.calendar.tz)

    def assigned(self, *, employee_key: str, due_at: datetime) -> None:
        """An inquiry of this batch went to ``employee_key``: later ones see the load it adds."""
        for day, loads in self._loads.items():
            load = loads.get(employee_key, Load())
            due_soon = load.due_soon + (1 if due_at <= self._end_of(day) else 0)
            loads[employee_key] = Load(open=load.open + 1, due_soon=due_soon)

    # -- reference numbers ------------------------------------------------------------------

    def next_number(self, name: str) -> int:
        """The next value of a named counter; the row is locked until the batch commits."""
        read = self._read
        if name not in read:
            read[name] = batch_repo.read_counter(self.session, name=name)
        value = self._numbers.get(name, read[name]) + 1
        self._numbers[name] = value
        return value

    def finish(self) -> None:
        """Write back what the batch took from the counters; called before the commit."""
        for name, value in self._numbers.items():
            if value != self._read[name]:
                batch_repo.write_counter(self.session, name=name, value=value)
