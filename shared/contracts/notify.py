"""Events of the notify service (topic ``notify.events``): what happened to messages."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from enum import StrEnum

from shared.events import TOPICS, Payload, event_type

TOPIC = TOPICS["notify"]


class MessageKind(StrEnum):
    """What a message is for."""

    INVITATION = "invitation"
    CONFIRMATION = "confirmation"
    REMINDER_24H = "reminder_24h"
    REMINDER_2H = "reminder_2h"
    CREAM_READY = "cream_ready"
    CREAM_APPLY = "cream_apply"
    CANCELLATION = "cancellation"
    HELP = "help"
    #: Freed time offered to the patient (an earlier-slot offer), with its link.
    OFFER = "offer"


class MessageStatus(StrEnum):
    """Where a message stands (notify's domain.status says in which order they go)."""

    PENDING = "pending"  # scheduled, waiting for its due time
    SENDING = "sending"  # claimed by a dispatcher (under lease)
    UNKNOWN = "unknown"  # the send may or may not have reached Twilio: reconcile, never resend
    QUEUED = "queued"  # Twilio has it
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"  # refused for good (invalid number, unsubscribed...)
    SKIPPED = "skipped"  # decided not to send, with the reason
    REPLACED = "replaced"  # superseded by a change to the appointment before it went out


@event_type("clinic.notify.message_status_changed.v1", topic=TOPIC)
class MessageStatusChanged(Payload):
    """An SMS moved on (sent, delivered, failed...): booking shows it on the schedule."""

    message_id: uuid.UUID
    appointment_id: uuid.UUID | None
    patient_id: uuid.UUID
    kind: MessageKind
    status: MessageStatus
    error_code: int | None
    changed_at: datetime
    #: Why, when notify decided it (skipped, unknown...): for the staff schedule. Optional.
    reason: str | None = None
    #: The earlier-slot offer an ``offer`` message texts: booking passes the offer on when
    #: it cannot reach the patient.
    offer_id: uuid.UUID | None = None

    def subject(self) -> str:
        return str(self.message_id)


class PatientReply(Payload):
    """A patient's SMS keyword about their next appointment."""

    patient_id: uuid.UUID
    appointment_id: uuid.UUID
    appointment_version: int
    received_at: datetime

    def subject(self) -> str:
        return str(self.appointment_id)


@event_type("clinic.notify.confirmation_received.v1", topic=TOPIC)
class ConfirmationReceived(PatientReply):
    """The patient replied "C": booking confirms the appointment."""


@event_type("clinic.notify.reschedule_requested.v1", topic=TOPIC)
class RescheduleRequested(PatientReply):
    """The patient replied "R": booking issues a self-booking link to move it."""


@event_type("clinic.notify.offer_refused.v1", topic=TOPIC)
class OfferRefused(Payload):
    """The patient replied NO to their live earlier-slot offer: booking passes it on."""

    offer_id: uuid.UUID
    patient_id: uuid.UUID
    received_at: datetime

    def subject(self) -> str:
        return str(self.offer_id)


@event_type("clinic.notify.sms_consent_changed.v1", topic=TOPIC)
class SmsConsentChanged(Payload):
    """The patient texted STOP (or another opt-out word), or START to resume."""

    patient_id: uuid.UUID
    opted_out: bool
    keyword: str
    changed_at: datetime

    def subject(self) -> str:
        return str(self.patient_id)


@event_type("clinic.notify.quiet_hours_changed.v1", topic=TOPIC)
class QuietHoursChanged(Payload):
    """The clinic's quiet hours, as its message policy now has them (each save of the
    policy, ``revision`` growing): booking makes no earlier-slot offer in them either."""

    quiet_hours_start: time
    quiet_hours_end: time
    revision: int
    changed_at: datetime

    def subject(self) -> str:
        return "message-policy"
