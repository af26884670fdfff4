"""``make dev``: the whole system on embedded defaults, seeded, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from devstack.demo import DEMO_PHONE, DESK_EMAIL, DESK_PASSWORD, PRACTITIONER_EMAIL, seed
from devstack.infra import kafka_broker
from devstack.stack import DEV_PORTS, SERVICES, Stack, running_stack
from shared.clock import ShiftableClock
from shared.events import TOPICS

WORKDIR = Path(".devstack")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack")
    commands = parser.add_subparsers(dest="command")
    start = commands.add_parser("run", help="start everything (the default)")
    start.add_argument("--workdir", type=Path, default=WORKDIR, help="data and logs")
    start.add_argument(
        "--free-ports", action="store_true", help="any free ports, not 8001-8003, 8099, 9092"
    )
    travel = commands.add_parser("time", help="move every service's clock: +1d, +3h, -30m, 0")
    travel.add_argument("shift", nargs="?", help="how far to move; none: show the offset")
    args = parser.parse_args(argv)
    if args.command == "time":
        move_time(args.shift)
    elif args.command == "run":
        run(args.workdir, free_ports=args.free_ports)
    else:
        run(WORKDIR)


def move_time(shift: str | None) -> None:
    """Shift the clock every service of `make dev` reads (see shared.clock.ShiftableClock)."""
    clock = ShiftableClock(WORKDIR / "clock")
    if shift == "0":
        clock.shift(-clock.offset)
    elif shift:
        clock.shift(parse_shift(shift))
    print(f"services' clock: {clock.now():%Y-%m-%d %H:%M} UTC (offset {clock.offset})")


def parse_shift(text: str) -> timedelta:
    """``+1d``, ``+3h``, ``-30m``, ``+90s``: a signed amount and a unit."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    try:
        return timedelta(**{units[text[-1]]: float(text[:-1])})
    except (KeyError, ValueError):
        raise SystemExit(f"cannot read {text!r}: use e.g. +1d, +3h, -30m, +90s") from None


def run(workdir: Path, *, free_ports: bool = False) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("Starting broker, database, Twilio sandbox and the three services...", flush=True)
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    described = workdir / "stack.json"
    described.unlink(missing_ok=True)
    with contextlib.ExitStack() as running:
        # Apache Kafka keeps its topics and the consumers' offsets in .devstack/kafka.
        # Without Java or Maven, Tansu (memory-only) stands in, except on CI.
        servers = running.enter_context(
            kafka_broker(
                workdir / "logs" / "broker.log",
                port=None if free_ports else 9092,
                data_dir=workdir / "kafka",
                allow_fallback="CI" not in os.environ,
            )
        )
        # Tansu forgets everything; a Kafka data dir may have been removed.
        lost_log = (workdir / "seeded.json").exists() and not asyncio.run(_has_topics(servers))
        stack = running.enter_context(
            running_stack(
                workdir, ports=None if free_ports else DEV_PORTS, bootstrap_servers=servers
            )
        )
        if lost_log:
            replay_outboxes(stack)
        ids = seed(stack, workdir / "seeded.json")
        token = stack.staff_token()
        # Where everything answers, for scripts (and the tests of make dev itself).
        described.write_text(json.dumps({"urls": stack.urls}))
        print(WALKTHROUGH.format(token=token, logs=stack.logs, **stack.urls, **_flat(ids)))
        stop.wait()
        print("\nStopping every process make dev started...", flush=True)
    described.unlink(missing_ok=True)


async def _has_topics(servers: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        return TOPICS["plans"] in await admin.list_topics()
    finally:
        await admin.close()


def replay_outboxes(stack: Stack) -> None:
    """Publish every service's events again: the broker lost its log, the databases did not
    (consumers skip what they have applied, and catch up on what they missed)."""
    print("The broker has lost its log: publishing every service's events again.", flush=True)
    for name in SERVICES:
        subprocess.run(  # noqa: S603
            [sys.executable, "-m", name, "outbox", "replay", "--since", "1970-01-01T00:00Z"],
            env=stack.env, check=True,
        )  # fmt: skip


def _flat(ids: dict[str, object]) -> dict[str, object]:
    protocols = ids["protocol_ids"]
    assert isinstance(protocols, dict)
    return {
        "patient_id": ids["patient_id"],
        "allergic_patient_id": ids["allergic_patient_id"],
        "patient_phone": DEMO_PHONE,
        "desk_email": DESK_EMAIL,
        "desk_password": DESK_PASSWORD,
        "practitioner_email": PRACTITIONER_EMAIL,
        "protocol_id": protocols["cellulite"],
    }


WALKTHROUGH = """
mesocycle is running.

  plans    {plans}/docs
  booking  {booking}/docs
  notify   {notify}/docs
  Twilio sandbox (every SMS sent)  {sandbox}/_sandbox/
  Staff day board  {booking}/board   sign in: {desk_email} / {desk_password}
                   (practitioner view: {practitioner_email}, same password)
  logs     {logs}/

Staff token (admin, 12 h):
  export TOKEN={token}

Walkthrough (copy-paste; ID reads the "id" of a JSON answer, or of its first item):
  ID() {{ python3 -c 'import json,sys; d=json.load(sys.stdin)
print((d[0] if type(d) is list else d)["id"])'; }}
  # tomorrow in Paris (Python, so on any OS)
  TOMORROW=$(python3 -c 'import datetime as d, zoneinfo as z
print(d.datetime.now(z.ZoneInfo("Europe/Paris")).date() + d.timedelta(days=1))')
  # 1. a cellulite plan for the needle-sensitive demo patient, starting tomorrow
  PLAN=$(curl -s -X POST {plans}/v1/plans -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' \\
    -d '{{"patient_id": "{patient_id}", "protocol_id": "{protocol_id}",
         "areas": ["thighs"], "start_date": "'$TOMORROW'"}}' \\
    | ID)
  # 2. activate it: booking opens one booking request per session and, in invite mode,
  #    notify texts the patient a self-booking link for session 1
  curl -s -X POST {plans}/v1/plans/$PLAN/activate -H "Authorization: Bearer $TOKEN"
  sleep 3  # the event travels plans -> Kafka -> booking -> Kafka -> notify -> sandbox
  #    open {sandbox}/_sandbox/ and click the link in the invitation: book from the
  #    patient's page (hold, then confirm), as the patient would on their phone.
  #    (21:00-08:00 Paris time the invitation waits for the morning: quiet hours;
  #    `make time SHIFT=+9h` gets you there, or staff re-send a link:
  #    POST {booking}/v1/booking-requests/<id>/invitations)
  # 3. or book as staff: this plan's session 1, at the first free time booking offers
  REQ=$(curl -s "{booking}/v1/booking-requests?plan_id=$PLAN&status=open" \\
    -H "Authorization: Bearer $TOKEN" | ID)
  BODY=$(curl -s "{booking}/v1/booking-requests/$REQ/slots" -H "Authorization: Bearer $TOKEN" \\
    | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]
keys = ("practitioner_id", "room_id", "starts_at")
print(json.dumps({{"booking_request_id": sys.argv[1], **{{k: s[k] for k in keys}}}}))' $REQ)
  curl -s -X POST {booking}/v1/appointments -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' -d "$BODY"
  # 4. the confirmation SMS, sent through the real twilio SDK to the sandbox, and the
  #    reminders and numbing-cream messages planned for the needle-sensitive patient
  sleep 3
  curl -s "{notify}/v1/messages?patient_id={patient_id}" -H "Authorization: Bearer $TOKEN"
  # 5. the plan's progress and the staff worklist of windows closing unbooked
  curl -s {plans}/v1/plans/$PLAN/progress -H "Authorization: Bearer $TOKEN"
  curl -s "{plans}/v1/worklist?within_days=14" -H "Authorization: Bearer $TOKEN"
  # 6. the patient replies "C" to confirm (the sandbox delivers it to notify, signed)
  curl -s -X POST {sandbox}/_sandbox/inbound -H 'Content-Type: application/json' \\
    -d '{{"from": "{patient_phone}", "to": "+15005550006", "body": "C"}}'
  # 7. a patient with a recorded allergy: activation waits for a staff acknowledgement
  #    (POST {plans}/v1/plans/<id>/acknowledgement with {{"allergies": ["lidocaine"],
  #    "medications": []}}); patient id {allergic_patient_id}

Time travel (every service's clock at once; reminders come due, see the sandbox):
  make time SHIFT=+1d      # or: .venv/bin/python -m devstack time +3h; SHIFT=0 resets

Ctrl-C stops everything.
"""

if __name__ == "__main__":
    main()
