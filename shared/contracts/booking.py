"""Events of the booking service (topic ``booking.events``): appointments."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.events import TOPICS, Payload, event_type

TOPIC = TOPICS["booking"]


class AppointmentSnapshot(Payload):
    """An appointment as it stands after the change the event reports."""

    appointment_id: uuid.UUID
    version: int
    status: str
    patient_id: uuid.UUID
    plan_id: uuid.UUID | None
    booking_request_id: uuid.UUID | None
    session_number: int | None
    total_sessions: int | None
    treatment: str
    numbing_cream_advised: bool
    practitioner_id: uuid.UUID
    room_id: uuid.UUID
    location_id: uuid.UUID
    location_time_zone: str
    starts_at: datetime
    ends_at: datetime

    def subject(self) -> str:
        return str(self.appointment_id)


@event_type("clinic.booking.appointment_booked.v1", topic=TOPIC)
class AppointmentBooked(AppointmentSnapshot):
    pass
