"""Events of the notify service (topic ``notify.events``): what happened to messages."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.events import TOPICS, Payload, event_type

TOPIC = TOPICS["notify"]


@event_type("clinic.notify.message_status_changed.v1", topic=TOPIC)
class MessageStatusChanged(Payload):
    """An SMS moved on (sent, delivered, failed...): booking shows it on the schedule."""

    message_id: uuid.UUID
    appointment_id: uuid.UUID | None
    patient_id: uuid.UUID
    kind: str
    status: str
    error_code: int | None
    changed_at: datetime

    def subject(self) -> str:
        return str(self.message_id)
