"""The whole configuration: one model holding every section, with its derived values."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from ingest.config.channels import (
    CallsSettings,
    EmailIntakeSettings,
    ImapSettings,
    OutgoingMailSettings,
    SmtpListenerSettings,
    SmtpSubmissionSettings,
    StaffReplySettings,
    TwilioSettings,
    WhatsAppCloudSettings,
)
from ingest.config.checks import check_cross_references
from ingest.config.fields import Section
from ingest.config.office import (
    AbsenceSettings,
    ClientMessageSettings,
    ComplexitySettings,
    DeadlineSettings,
    EmployeeSettings,
    InteractionSettings,
    KindSettings,
    RoutingSettings,
    ThreadingSettings,
    TopicSettings,
    WorkingTimeSettings,
)
from ingest.config.runtime import (
    ClusterSettings,
    DatabaseSettings,
    HttpSettings,
    PipelineSettings,
    RetentionSettings,
    RetrySettings,
    ServiceSettings,
)


class Settings(Section):
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    smtp_listener: SmtpListenerSettings = Field(default_factory=SmtpListenerSettings)
    # Staff replies over SMTP AUTH (off by default): a proof of the reply's author.
    smtp_submission: SmtpSubmissionSettings = Field(default_factory=SmtpSubmissionSettings)
    # Mail in, by SMTP or IMAP: senders whose mail is never an inquiry.
    email: EmailIntakeSettings = Field(default_factory=EmailIntakeSettings)
    outgoing_mail: OutgoingMailSettings = Field(default_factory=OutgoingMailSettings)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    # What proves a reply to a notification is the employee's (README "Answering by e-mail").
    staff_replies: StaffReplySettings = Field(default_factory=StaffReplySettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    outbox: RetrySettings = Field(default_factory=lambda: RetrySettings(poll_seconds=10, max_attempts=12))
    # Downloading Twilio media: retried with growing pauses, then given up (listed by `ingest doctor`).
    media_fetch: RetrySettings = Field(
        default_factory=lambda: RetrySettings(poll_seconds=30, max_attempts=8, backoff_base_seconds=10, batch_size=20)
    )
    working_time: WorkingTimeSettings = Field(default_factory=WorkingTimeSettings)
    routing: RoutingSettings
    employees: list[EmployeeSettings] = Field(min_length=1)
    topics: list[TopicSettings] = Field(default_factory=list)
    deadlines: DeadlineSettings = Field(default_factory=DeadlineSettings)
    client_messages: ClientMessageSettings = Field(default_factory=ClientMessageSettings)
    # A client's next message on any channel joins their open inquiry (README "Threading").
    threading: ThreadingSettings = Field(default_factory=ThreadingSettings)
    kinds: KindSettings = Field(default_factory=KindSettings)
    complexity: ComplexitySettings = Field(default_factory=ComplexitySettings)
    # Known absences (leave, sick days); staff can also enter them through the API.
    absences: list[AbsenceSettings] = Field(default_factory=list)
    # Phone calls and visits logged by staff: how far back (and ahead) their time may lie.
    interactions: InteractionSettings = Field(default_factory=InteractionSettings)
    # WhatsApp and SMS through Twilio (off by default).
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    # WhatsApp through Meta's Cloud API (off by default).
    whatsapp_cloud: WhatsAppCloudSettings = Field(default_factory=WhatsAppCloudSettings)
    # The phone channel: missed calls from Twilio Voice or imported call logs.
    calls: CallsSettings = Field(default_factory=CallsSettings)
    # Which roles this process runs, and taking over one-at-a-time roles.
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    # Retention: anonymising old closed inquiries, emptying old raw receipts.
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @model_validator(mode="after")
    def _cross_references(self) -> Settings:
        check_cross_references(self)
        return self

    def employee(self, key: str) -> EmployeeSettings:
        for emp in self.employees:
            if emp.key == key:
                return emp
        raise KeyError(key)

    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.service.data_dir / 'ingest.sqlite3'}"

    def outgoing_folder(self) -> Path:
        folder = self.outgoing_mail.folder
        return folder if folder.is_absolute() else self.service.data_dir / folder
