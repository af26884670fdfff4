"""Who may call what: staff JWTs with roles, and patients' scoped link tokens.

Staff carry ``Authorization: Bearer <JWT>`` signed with HS256 (the algorithm is
pinned: a token that names another one is refused), with ``sub``, ``role`` and
an ``exp`` that is always checked. Patients never log in: a self-booking link
carries a random token, stored only as its SHA-256 hash, scoped to one patient
and expiring.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from fastapi import Request

from shared.problems import Problem

ALGORITHM = "HS256"
ISSUER = "mesocycle"


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    PRACTITIONER = "practitioner"


@dataclass(frozen=True)
class StaffUser:
    """The caller behind a valid staff token."""

    subject: str
    role: Role
    #: For practitioners: the practitioner they are (they see only their own schedule).
    practitioner_id: str | None = None


def issue_staff_token(
    secret: str,
    *,
    subject: str,
    role: Role,
    now: datetime,
    ttl: timedelta = timedelta(hours=12),
    practitioner_id: str | None = None,
) -> str:
    """Sign a staff JWT for ``subject`` with ``role``, valid for ``ttl``."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": subject,
        "role": role.value,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if practitioner_id:
        claims["practitioner_id"] = practitioner_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


#: Tokens whose signature and claims were verified, per secret: their user and ``exp``.
#: A client sends the same token with every request; its HMAC and claims are checked
#: once per process, its ``exp`` on every request. Failures are never kept. Bounded: once
#: full it starts again empty.
_verified: dict[tuple[str, str], tuple[StaffUser, int]] = {}
VERIFIED_KEPT = 1024


def verify_staff_token(secret: str, token: str, *, now: datetime) -> StaffUser:
    """The staff user of a valid token at ``now``; raises :class:`Problem` 401 otherwise.

    ``exp`` is checked against the service's clock, not PyJWT's wall clock, so tokens
    are minted and checked on the same time (a pinned or shifted clock included). A
    token verified before is not verified again (see ``_verified``), but its ``exp`` is.
    """
    kept = _verified.get((secret, token))
    if kept is None:
        kept = _verify(secret, token)
        if len(_verified) >= VERIFIED_KEPT:
            _verified.clear()
        _verified[secret, token] = kept
    user, expires = kept
    if expires <= now.timestamp():
        raise Problem(401, "Token expired", "the staff token has expired; sign in again")
    return user


def _verify(secret: str, token: str) -> tuple[StaffUser, int]:
    """The user and ``exp`` of a token signed with ``secret``; :class:`Problem` 401 when
    its signature, algorithm, issuer or claims are not valid."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={
                "require": ["exp", "iat", "sub", "iss"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
        role = Role(str(claims.get("role")))
        expires = int(claims["exp"])
        user = StaffUser(
            subject=str(claims["sub"]), role=role, practitioner_id=claims.get("practitioner_id")
        )
    except (jwt.InvalidTokenError, ValueError, TypeError) as error:
        raise Problem(401, "Invalid token", f"the staff token is not valid: {error}") from error
    return user, expires


def staff_dependency(
    secret: Callable[[Request], str], now: Callable[[Request], datetime], *allowed: Role
) -> Callable[[Request], Coroutine[Any, Any, StaffUser]]:
    """A FastAPI dependency admitting staff whose role is in ``allowed`` (any role if none),
    with ``secret`` and ``now`` read from the request (the service's key and clock)."""

    async def require_staff(request: Request) -> StaffUser:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Problem(
                401,
                "Not authenticated",
                "send Authorization: Bearer <staff JWT>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        user = verify_staff_token(secret(request), token.strip(), now=now(request))
        if allowed and user.role not in allowed:
            raise Problem(
                403, "Forbidden", f"role {user.role} may not do this; needs {', '.join(allowed)}"
            )
        return user

    return require_staff


def new_patient_token() -> tuple[str, str]:
    """A fresh patient link token and the hash to store (never the token itself)."""
    token = secrets.token_urlsafe(32)
    return token, hash_patient_token(token)


def hash_patient_token(token: str) -> str:
    """SHA-256 of a patient token: what is stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


def main() -> None:
    """``python -m shared.auth token --role admin``: print a staff token for dev, minted
    on the clock the services read (CLOCK_FILE), so it is valid however far they moved."""
    from shared.service import clock_from
    from shared.settings import ServiceSettings

    class _Settings(ServiceSettings):
        service = "cli"
        default_port = 0

    parser = argparse.ArgumentParser(description="Print a staff JWT signed with JWT_SECRET.")
    parser.add_argument("command", choices=["token"])
    parser.add_argument("--role", choices=[r.value for r in Role], default=Role.ADMIN.value)
    parser.add_argument("--subject", default="dev@clinic.example")
    parser.add_argument("--practitioner-id", default=None)
    parser.add_argument("--hours", type=float, default=12.0)
    args = parser.parse_args()
    settings = _Settings()
    print(
        issue_staff_token(
            settings.jwt_secret.get_secret_value(),
            subject=args.subject,
            role=Role(args.role),
            now=clock_from(settings).now(),
            ttl=timedelta(hours=args.hours),
            practitioner_id=args.practitioner_id,
        )
    )


if __name__ == "__main__":
    main()
