from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from booking.domain.offers import OfferPolicy
from shared.settings import ServiceSettings


class BookingSettings(ServiceSettings):
    """Settings of the booking service (env prefix ``BOOKING_``): the clinic's booking rules."""

    model_config = SettingsConfigDict(env_prefix="BOOKING_")
    service = "booking"
    default_port = 8002

    #: Set-up and clean-up time kept free around each appointment, in minutes.
    buffer_before_minutes: int = 5
    buffer_after_minutes: int = 10
    #: What a scheduled cycle leads to: a self-booking link texted to the patient (invite),
    #: or a slot held by booking itself for the patient to confirm (auto).
    #: Read from ``BOOKING_MODE`` (not the prefix-doubled ``BOOKING_BOOKING_MODE``).
    booking_mode: Literal["invite", "auto"] = Field(
        "invite", validation_alias=AliasChoices("BOOKING_MODE", "booking_mode")
    )
    #: Slot search: start times on this grid, not sooner than the notice, not beyond the horizon.
    slot_granularity_minutes: int = 15
    minimum_notice_hours: int = 2
    horizon_days: int = 180
    #: How long a slot stays held: while a patient books through the link, and in auto mode.
    hold_minutes: int = 15
    auto_hold_hours: int = 48
    #: Patients may not move or cancel an appointment this close to it.
    patient_change_cutoff_hours: int = 24
    #: Self-booking links (``<self_booking_url>/<token>``): where the patient's page lives,
    #: how long a link lasts, and how many calls a link may make per minute.
    self_booking_url: str = "http://127.0.0.1:8002/book"
    link_days: int = 14
    link_requests_per_minute: int = 60
    #: The sweeper of expired holds (and offers past their claim window) wakes this often.
    sweep_seconds: float = 5.0
    #: Earlier-slot offers: time a cancellation, a run-out hold or a move frees is offered
    #: to the patients whose sessions could take it, one at a time, each for
    #: ``offer_claim_minutes``, at most ``offers_per_patient_day`` a day.
    offer_freed_slots: bool = True
    offer_claim_minutes: int = 30
    offers_per_patient_day: int = 2
    #: How long an Idempotency-Key answers a retry; the sweeper forgets older keys.
    idempotency_key_hours: int = 24

    @property
    def buffer_before(self) -> timedelta:
        return timedelta(minutes=self.buffer_before_minutes)

    @property
    def buffer_after(self) -> timedelta:
        return timedelta(minutes=self.buffer_after_minutes)

    @property
    def hold_ttl(self) -> timedelta:
        return timedelta(minutes=self.hold_minutes)

    @property
    def offer_policy(self) -> OfferPolicy:
        return OfferPolicy(
            claim_window=timedelta(minutes=self.offer_claim_minutes),
            daily_cap=self.offers_per_patient_day,
            minimum_notice=timedelta(hours=self.minimum_notice_hours),
        )

    @property
    def idempotency_key_ttl(self) -> timedelta:
        return timedelta(hours=self.idempotency_key_hours)
