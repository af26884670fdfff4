"""What the simulated clinic is made of and how its people behave, drawn from a seed.

Pure: a :class:`random.Random` seeded once, no I/O and no clock. The clinic's shape
(:func:`clinic_shape`), each new patient (:func:`new_patient`) and each patient's habits
(:class:`Habits`) come from it, so a seed names one clinic and one crowd of patients.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

#: The six seeded protocols (plans' migration 0002): key -> indication.
PROTOCOLS = {
    "cellulite": "cellulite",
    "weight-loss": "weight_loss",
    "hair-regrowth": "hair_regrowth",
    "face-neck": "face_neck_rejuvenation",
    "body-sculpting": "body_sculpting",
    "medical": "medical",
}
EVERY_INDICATION = sorted(set(PROTOCOLS.values()))

#: Where patients live: (time zone, phone region, weight).
HOMES = [
    ("Europe/Paris", "FR", 50),
    ("Europe/London", "GB", 15),
    ("America/New_York", "US", 12),
    ("Asia/Dubai", "AE", 8),
    ("Asia/Singapore", "SG", 8),
    ("Europe/Berlin", "DE", 7),
]
#: Languages: en and fr have templates; de and es fall back to the default language.
LANGUAGES = {"FR": "fr", "GB": "en", "US": "en", "AE": "en", "SG": "en", "DE": "de"}


@dataclass(frozen=True)
class Hours:
    weekday: int  # 0 = Monday
    opens: time
    closes: time

    def json(self) -> dict[str, object]:
        return {
            "weekday": self.weekday,
            "opens": self.opens.isoformat(),
            "closes": self.closes.isoformat(),
        }


@dataclass(frozen=True)
class PractitionerShape:
    name: str
    indications: list[str]
    #: None: the location's hours.
    hours: list[Hours] | None


@dataclass(frozen=True)
class RoomShape:
    name: str
    hours: list[Hours] | None


@dataclass(frozen=True)
class LocationShape:
    name: str
    time_zone: str
    phone: str
    hours: list[Hours]
    practitioners: list[PractitionerShape]
    rooms: list[RoomShape]


@dataclass(frozen=True)
class TimeOffShape:
    """Leave, a room out of use or a closure: (location index, kind, index in location)."""

    location: int
    kind: str  # practitioner | room | location
    index: int
    starts_on: date
    days: int
    reason: str


@dataclass(frozen=True)
class ClinicShape:
    locations: list[LocationShape]
    time_off: list[TimeOffShape]


def _span(weekdays: range | list[int], opens: int, closes: int) -> list[Hours]:
    return [Hours(d, time(opens), time(closes)) for d in weekdays]


def clinic_shape(rng: random.Random, first_day: date, days: int) -> ClinicShape:
    """Two locations in two time zones, practitioners with indications and hours of their
    own or their location's, rooms, and time off spread over the span."""
    paris = LocationShape(
        name="Mesocycle Paris",
        time_zone="Europe/Paris",
        phone="+33140000000",
        hours=_span(range(5), 8, 20) + _span([5], 9, 14),
        practitioners=[
            PractitionerShape("Dr Claire Martin", EVERY_INDICATION, None),
            PractitionerShape(
                "Dr Hugo Bernard",
                ["cellulite", "weight_loss", "body_sculpting", "medical"],
                _span([0, 1, 3, 4], 9, 18),
            ),
            PractitionerShape(
                "Dr Ines Moreau",
                ["hair_regrowth", "face_neck_rejuvenation", "cellulite"],
                _span([1, 2, 3], 10, 19) + _span([5], 9, 13),
            ),
        ],
        rooms=[RoomShape("Paris room 1", None), RoomShape("Paris room 2", _span(range(5), 9, 17))],
    )
    london = LocationShape(
        name="Mesocycle London",
        time_zone="Europe/London",
        phone="+442071234567",
        hours=_span(range(5), 9, 18),
        practitioners=[
            PractitionerShape("Dr Amelia Clarke", EVERY_INDICATION, None),
            PractitionerShape(
                "Dr Oliver Hughes",
                ["medical", "body_sculpting", "weight_loss"],
                _span([0, 2, 4], 8, 16),
            ),
        ],
        rooms=[RoomShape("London room A", None)],
    )
    locations = [paris, london]
    time_off: list[TimeOffShape] = []
    for li, location in enumerate(locations):
        for pi, practitioner in enumerate(location.practitioners):
            start = first_day + timedelta(days=rng.randrange(3, max(4, days - 5)))
            time_off.append(
                TimeOffShape(
                    li,
                    "practitioner",
                    pi,
                    start,
                    rng.choice([1, 3, 5]),
                    f"leave of {practitioner.name}",
                )
            )
        for ri, room in enumerate(location.rooms):
            start = first_day + timedelta(days=rng.randrange(2, max(3, days - 2)))
            time_off.append(TimeOffShape(li, "room", ri, start, 1, f"{room.name} maintenance"))
        closed = first_day + timedelta(days=rng.randrange(4, max(5, days - 1)))
        time_off.append(TimeOffShape(li, "location", 0, closed, 1, "closed: public holiday"))
    return ClinicShape(locations, time_off)


@dataclass(frozen=True)
class Habits:
    """How one patient behaves, drawn once when they arrive."""

    #: Books from the self-booking link (else staff book for them, from the worklist).
    self_books: bool
    #: Hours between the invitation SMS and opening the link.
    booking_delay_hours: float
    #: Holds a time on the page and never confirms it (the hold runs out).
    abandons_hold: float
    #: Chances, per SMS or appointment, of each reply or action.
    replies_c: float
    replies_r: float
    replies_help: float
    cancels: float
    no_show: float
    moves: float
    #: Texts STOP once (and START again later, maybe).
    stops: bool
    starts_again: bool
    #: Which day of a session's window they pick: "early", "any" or "late".
    day_preference: str = "early"
    #: Staff book their first session at the desk when they arrive.
    books_at_desk: bool = False


@dataclass(frozen=True)
class PatientShape:
    full_name: str
    phone: str
    time_zone: str
    language: str
    sms_consent: bool
    needle_sensitive: bool
    allergies: list[str]
    protocol_key: str
    area_choice: float
    start_in_days: int
    prefers_practitioner: bool
    whole_course_by_staff: bool
    habits: Habits = field(compare=False)

    def json(self) -> dict[str, object]:
        """The body of ``POST /v1/patients``."""
        return {
            "full_name": self.full_name,
            "phone": self.phone,
            "time_zone": self.time_zone,
            "language": self.language,
            "sms_consent": self.sms_consent,
            "sms_consent_source": "signed intake form" if self.sms_consent else None,
            "needle_sensitive": self.needle_sensitive,
            "allergies": self.allergies,
        }


FIRST = [
    "Camille",
    "Lea",
    "Manon",
    "Chloe",
    "Emma",
    "Lucas",
    "Hugo",
    "Jade",
    "Louise",
    "Alice",
    "Olivia",
    "Amelia",
    "Isla",
    "Noah",
    "Sofia",
    "Mia",
    "Hanna",
    "Yasmin",
]
LAST = [
    "Dupont",
    "Durand",
    "Lefebvre",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Garcia",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Muller",
    "Schmidt",
    "Haddad",
    "Rossi",
]


def new_patient(rng: random.Random, n: int, used_phones: set[str]) -> PatientShape:
    """Patient number ``n``: where they live, their data and their habits."""
    time_zone, region, _ = rng.choices(HOMES, weights=[w for *_, w in HOMES])[0]
    language = LANGUAGES.get(region, "en")
    if region == "FR" and rng.random() < 0.1:
        language = "es"  # a language the clinic has no templates in
    phone = _phone(rng, region, used_phones)
    used_phones.add(phone)
    stops = rng.random() < 0.08
    habits = Habits(
        self_books=rng.random() < 0.8,
        booking_delay_hours=rng.choice([0.5, 2, 6, 20, 50, 120]),
        abandons_hold=0.08,
        replies_c=rng.choice([0.2, 0.6, 0.9]),
        replies_r=0.04,
        replies_help=0.03,
        cancels=0.06,
        no_show=rng.choice([0.0, 0.05, 0.15]),
        moves=0.08,
        stops=stops,
        starts_again=stops and rng.random() < 0.5,
        day_preference=rng.choice(["early", "early", "any", "late"]),
        books_at_desk=rng.random() < 0.35,
    )
    return PatientShape(
        full_name=f"{rng.choice(FIRST)} {rng.choice(LAST)} {n}",
        phone=phone,
        time_zone=time_zone,
        language=language,
        sms_consent=rng.random() > 0.05,
        needle_sensitive=rng.random() < 0.3,
        allergies=rng.choice([[], [], [], [], [], ["lidocaine"], ["latex", "procaine"]]),
        protocol_key=rng.choice(sorted(PROTOCOLS)),
        area_choice=rng.random(),
        start_in_days=rng.randrange(1, 10),
        prefers_practitioner=rng.random() < 0.3,
        whole_course_by_staff=rng.random() < 0.1,
        habits=habits,
    )


def _phone(rng: random.Random, region: str, used: set[str]) -> str:
    """A valid mobile number of ``region`` nobody in the clinic has yet."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None, region
    digits = str(example.national_number)
    for _ in range(1000):
        # Keep the example's first three digits (the mobile prefix), draw the rest.
        national = digits[:3] + "".join(str(rng.randrange(10)) for _ in digits[3:])
        number = phonenumbers.parse(f"+{example.country_code}{national}", None)
        if phonenumbers.is_valid_number(number):
            text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if text not in used:
                return str(text)
    raise RuntimeError(f"no free valid mobile number found for {region}")


def arrivals(rng: random.Random, day: date, per_week: float, zone: ZoneInfo) -> list[datetime]:
    """When new patients walk in on ``day`` (weekdays, 09:00-19:30 at the clinic)."""
    if day.weekday() >= 5:
        return []
    count = _poisson(rng, per_week / 5)
    minutes = sorted(rng.randrange(9 * 60, 19 * 60 + 30) for _ in range(count))
    return [datetime.combine(day, time(m // 60, m % 60), zone) for m in minutes]


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: small means only."""
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
