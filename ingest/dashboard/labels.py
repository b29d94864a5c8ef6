"""The stored codes the pages show (statuses, kinds, channels, event types), as texts to translate.

``N_`` only marks a text for the catalog; the ``label`` filter (ingest/dashboard/web.py)
translates it into the page's language when the page is rendered. A code missing here is
shown as it is stored.
"""

from __future__ import annotations

from ingest.i18n import N_

__all__ = ["LABELS", "N_"]


LABELS: dict[str, str] = {
    # roles
    "employee": N_("employee"),
    "supervisor": N_("supervisor"),
    "board": N_("board"),
    "admin": N_("administrator"),
    # statuses
    "open": N_("open"),
    "waiting_client": N_("waiting for the client"),
    "answered": N_("answered"),
    "closed": N_("closed"),
    # kinds
    "question": N_("question"),
    "request": N_("request"),
    "complaint": N_("complaint"),
    "suggestion": N_("suggestion"),
    # complexity
    "simple": N_("simple"),
    "complex": N_("complex"),
    # channels and directions
    "email": N_("e-mail"),
    "whatsapp": N_("WhatsApp"),
    "sms": N_("SMS"),
    "phone": N_("phone"),
    "visit": N_("visit"),
    "in": N_("from the client"),
    "out": N_("to the client"),
    "note": N_("internal note"),
    "automatic": N_("automatic message"),
    # events
    "received": N_("received"),
    "routed": N_("assigned"),
    "notified": N_("sent"),
    "reassigned": N_("reassigned"),
    "note_added": N_("note added"),
    "message_received": N_("new message"),
    "reopened": N_("reopened"),
    "merged": N_("merged"),
    "merged_into": N_("merged into another inquiry"),
    # a call back owed on an inquiry (ingest/inquiries/call_back.py), and how it was settled
    "call_back_task": N_("call back the client"),
    "call_back_done": N_("call back done"),
    "call_back_cancelled": N_("call back no longer owed"),
    # why an inquiry was closed without an answer
    "answered_by_phone": N_("answered by phone"),
    "duplicate": N_("duplicate"),
    "no_answer_needed": N_("no answer needed"),
    "spam": N_("spam"),
    "waiting_for_client": N_("waiting for the client"),
    "clock_resumed": N_("clock restarted"),
    "complexity_changed": N_("complexity changed"),
    "escalated": N_("escalated"),
    "reminded": N_("reminder sent"),
    # why an inquiry went to another specialist (ingest/outgoing/redirect_reasons.py)
    "redirect_other_field": N_("it concerns another field"),
    "redirect_specialist": N_("it needs this specialist's knowledge"),
    "redirect_absence": N_("the previous specialist is away"),
    "redirect_sooner": N_("the client gets an answer sooner"),
    "notification_failed": N_("could not be sent"),
    "client_ack_suppressed": N_("no acknowledgement sent"),
    "client_unreachable": N_("the client cannot be reached in writing"),
    "answer_channel_changed": N_("answered on another channel"),
    "written_form_not_sent": N_("written-form instructions not sent"),
    "automatic_bounce": N_("bounce"),
    "automatic_auto-reply": N_("automatic reply"),
    "automatic_read-receipt": N_("read receipt"),
    "automatic_mail": N_("sent by a program on someone's behalf: not acknowledged"),
    "automatic_never-inquiry": N_("mail from a sender that never opens an inquiry"),
    # automatic mail kept without an inquiry: the kind of reason (ingest/pipeline/automatic_rules.py)
    "bounce": N_("bounce"),
    "auto-reply": N_("automatic reply"),
    "read-receipt": N_("read receipt"),
    "never-inquiry": N_("mail from a sender that never opens an inquiry"),
    "suspicious_mail": N_("mail in the office's name from outside: kept, not filed"),
    "media_fetched": N_("attachment downloaded"),
    "media_failed": N_("attachment could not be downloaded"),
    "anonymised": N_("anonymised"),
    "staff_notification_queued": N_("employee notified"),
    "staff_followup_queued": N_("employee told of a new message"),
    "client_ack_queued": N_("acknowledgement to the client"),
    "client_redirect_queued": N_("redirect notice to the client"),
    "client_answer_queued": N_("answer to the client"),
    "written_form_queued": N_("written-form instructions to the client"),
    "staff_call_client_queued": N_("employee asked to call the client"),
    "staff_call_back_queued": N_("employee asked to call the client back"),
    "staff_call_back_reminder_queued": N_("reminder to call the client back"),
    "staff_reply_not_relayed_queued": N_("employee told the reply was not relayed"),
    "deadline_digest_queued": N_("morning digest"),
    "client_written_form_queued": N_("written-form instructions to the client"),
    # what was sent to the client (the timeline), and how far it got
    "client_ack": N_("acknowledgement"),
    "client_redirect": N_("redirect notice"),
    "client_written_form": N_("how to write to us"),
    "client_answer": N_("answer"),
    "pending": N_("waiting to be sent"),
    "sending": N_("being sent"),
    "sent": N_("sent"),
    "failed": N_("could not be sent"),
    "withdrawn": N_("withdrawn"),
}
