"""Allergies and medications: a plan for a patient with any is flagged, and activation
waits for a staff member to acknowledge exactly what is recorded."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass


def _normalised(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({item.strip().casefold() for item in items if item.strip()}))


@dataclass(frozen=True)
class SafetyRecord:
    """What the patient's record says they are allergic to and take."""

    allergies: tuple[str, ...]
    medications: tuple[str, ...]
    notes: str = ""

    @classmethod
    def of(
        cls, allergies: Iterable[str], medications: Iterable[str], notes: str = ""
    ) -> SafetyRecord:
        return cls(_normalised(allergies), _normalised(medications), notes.strip())

    @property
    def flagged(self) -> bool:
        """Whether staff must acknowledge before the patient's plans are activated."""
        return bool(self.allergies or self.medications or self.notes)

    def fingerprint(self) -> str:
        """Changes whenever the record does: an acknowledgement holds for this one only."""
        canonical = json.dumps([self.allergies, self.medications, self.notes])
        return hashlib.sha256(canonical.encode()).hexdigest()


class AcknowledgementMismatch(Exception):
    """Staff acknowledged something other than what is recorded."""


def check_acknowledgement(
    recorded: SafetyRecord, *, allergies: Iterable[str], medications: Iterable[str]
) -> None:
    """Raise unless the acknowledged lists are the recorded ones (order and case aside)."""
    problems = []
    for what, said, known in (
        ("allergies", _normalised(allergies), recorded.allergies),
        ("medications", _normalised(medications), recorded.medications),
    ):
        missing = sorted(set(known) - set(said))
        unknown = sorted(set(said) - set(known))
        if missing:
            problems.append(f"recorded {what} not acknowledged: {', '.join(missing)}")
        if unknown:
            problems.append(f"acknowledged {what} not on the record: {', '.join(unknown)}")
    if problems:
        raise AcknowledgementMismatch("; ".join(problems))
