"""What the staff API's routes need from the running service: put on the app by the service
(``app.state.api_context``) and given to each route by a dependency; nothing global."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ingest.inquiries.interactions import Desk, InteractionWindow, WrittenRequestInfo
from ingest.outgoing.notices import Notices
from router.calendar import WorkingCalendar
from router.deadlines import DeadlinePolicy
from router.route import Router
from storage.db import SessionFactory


@dataclass
class ApiContext:
    sessions: SessionFactory
    notices: Notices
    router: Router
    policy: DeadlinePolicy
    clock: Callable[[], datetime]
    reference_prefix: str
    written: WrittenRequestInfo
    # Called after a commit that queued outgoing messages, so the sender wakes at once.
    wake_outbox: Callable[[], None] = lambda: None
    # When a logged call or visit may have taken place.
    interaction_window: InteractionWindow = InteractionWindow()

    @property
    def topic_names(self) -> Mapping[str, str]:
        """Topic key -> the name the office gives it (the configuration's topics)."""
        return self.notices.topic_names

    @property
    def calendar(self) -> WorkingCalendar:
        return self.router.calendar

    @property
    def tz(self) -> ZoneInfo:
        return self.router.calendar.tz

    @property
    def desk(self) -> Desk:
        return Desk(
            router=self.router,
            notices=self.notices,
            policy=self.policy,
            reference_prefix=self.reference_prefix,
            tz=self.tz,
            written=self.written,
            window=self.interaction_window,
        )

    def working_days(self, complexity: str) -> int:
        return int(self.router.working_days[complexity])
