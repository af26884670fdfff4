"""``python -m booking.web.accounts create --email ... --role admin``: the first admin.

The password is read from ``STAFF_PASSWORD`` when set, else from stdin (a prompt on a
terminal, the first line otherwise), never from the command line where ``ps`` shows it.
Run it after ``python -m booking migrate``; later accounts are added by an admin through
``POST /v1/staff-accounts``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
import uuid
from datetime import UTC, datetime

from booking.settings import BookingSettings
from booking.web.staff_accounts import NewAccount, create_account
from shared.auth import Role
from shared.db import create_engine, session_factory
from shared.problems import Problem

PASSWORD_ENV = "STAFF_PASSWORD"  # noqa: S105 - the variable's name, not a password


def read_password() -> str:
    """The new account's password: from the environment, a prompt, or stdin's first line."""
    given = os.environ.get(PASSWORD_ENV)
    if given:
        return given
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


async def create(account: NewAccount, settings: BookingSettings) -> uuid.UUID:
    engine = create_engine(settings.resolved_database_url(), pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            created = await create_account(session, account=account, now=datetime.now(UTC))
            return created.id
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m booking.web.accounts")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("create", help="add a staff account (password from stdin)")
    new.add_argument("--email", required=True)
    new.add_argument("--role", choices=[r.value for r in Role], required=True)
    new.add_argument("--name", help="shown on the board (default: the email)")
    new.add_argument("--practitioner-id", type=uuid.UUID, help="for practitioner accounts")
    args = parser.parse_args(argv)
    account = NewAccount(
        email=args.email,
        display_name=args.name or args.email,
        role=Role(args.role),
        password=read_password(),
        practitioner_id=args.practitioner_id,
    )
    try:
        account_id = asyncio.run(create(account, BookingSettings()))
    except Problem as problem:
        raise SystemExit(f"not created: {problem.detail}") from None
    print(f"staff account {account_id} created for {account.email} ({account.role.value})")


if __name__ == "__main__":
    main()
