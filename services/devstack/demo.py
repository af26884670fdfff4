"""The demo clinic `make dev` seeds through the public APIs, like staff would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from devstack.stack import Stack

# A valid French mobile number (Twilio sandbox accepts any valid E.164 number).
DEMO_PHONE = "+33612345678"
#: Sign in to the staff board with these (dev only).
DESK_EMAIL, DESK_PASSWORD = "desk@clinic.example", "mesocycle-demo-desk"
PRACTITIONER_EMAIL = "claire@clinic.example"


def seed(stack: Stack, marker: Path) -> dict[str, Any]:
    """Seed once per data directory; later runs read the ids back from ``marker``."""
    if marker.exists():
        seeded: dict[str, Any] = json.loads(marker.read_text())
        return seeded
    headers = {"Authorization": f"Bearer {stack.staff_token()}"}
    with httpx.Client(headers=headers, timeout=10) as client:

        def post(service: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = client.post(stack.urls[service] + path, json=body)
            response.raise_for_status()
            created: dict[str, Any] = response.json()
            return created

        location = post(
            "booking",
            "/v1/locations",
            {
                "name": "Mesocycle Clinic Paris",
                "time_zone": "Europe/Paris",
                "phone": "+33140000000",
            },
        )
        every = ["cellulite", "weight_loss", "hair_regrowth", "face_neck_rejuvenation",
                 "body_sculpting", "medical"]  # fmt: skip
        practitioners = [
            post("booking", "/v1/practitioners",
                 {"location_id": location["id"], "full_name": name, "indications": indications})
            for name, indications in [
                ("Dr Claire Martin", every),
                ("Dr Hugo Bernard", ["cellulite", "weight_loss", "body_sculpting", "medical"]),
            ]
        ]  # fmt: skip
        post(
            "booking",
            "/v1/staff-accounts",
            {
                "email": DESK_EMAIL,
                "display_name": "Front desk",
                "role": "admin",
                "password": DESK_PASSWORD,
            },
        )
        post("booking", "/v1/staff-accounts",
             {"email": PRACTITIONER_EMAIL, "display_name": "Dr Claire Martin",
              "role": "practitioner", "password": DESK_PASSWORD,
              "practitioner_id": practitioners[0]["id"]})  # fmt: skip
        rooms = [
            post("booking", "/v1/rooms", {"location_id": location["id"], "name": name})
            for name in ("Room 1", "Room 2")
        ]
        patient = post(
            "plans",
            "/v1/patients",
            {
                "full_name": "Camille Dupont",
                "phone": DEMO_PHONE,
                "time_zone": "Europe/Paris",
                "language": "fr",
                "sms_consent": True,
                "sms_consent_source": "signed intake form",
                "needle_sensitive": True,
            },
        )
        # A patient whose plans need staff to acknowledge her allergy before activation.
        allergic = post(
            "plans",
            "/v1/patients",
            {
                "full_name": "Nora Petit",
                "phone": "+33698765432",
                "time_zone": "Europe/Paris",
                "language": "fr",
                "sms_consent": True,
                "sms_consent_source": "signed intake form",
                "allergies": ["lidocaine"],
            },
        )
        protocols = client.get(stack.urls["plans"] + "/v1/protocols").json()
    seeded = {
        "location_id": location["id"],
        "practitioner_ids": [p["id"] for p in practitioners],
        "room_ids": [r["id"] for r in rooms],
        "patient_id": patient["id"],
        "allergic_patient_id": allergic["id"],
        "protocol_ids": {p["key"]: p["id"] for p in protocols},
    }
    marker.write_text(json.dumps(seeded, indent=2))
    return seeded
