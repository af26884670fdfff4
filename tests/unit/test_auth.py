"""Staff JWTs (HS256 pinned, exp always checked, roles) and patients' link tokens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI, Request

from shared.auth import (
    ISSUER,
    Role,
    StaffUser,
    hash_patient_token,
    issue_staff_token,
    new_patient_token,
    staff_dependency,
    verify_staff_token,
)
from shared.problems import MEDIA_TYPE, Problem, install_problem_handlers
from tests.clock import TEST_NOW

# Long enough for HS512 too, so PyJWT does not warn when a test signs with it.
SECRET = "unit-test-secret-" + "s" * 64
OTHER_SECRET = "another-secret-" + "o" * 64
#: The service's clock: tokens are checked against it, never against the wall clock.
NOW = TEST_NOW


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims of a valid staff token, changed as the test needs (None drops a claim)."""
    now = NOW
    document: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "nurse@clinic.example",
        "role": "staff",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    document.update(overrides)
    return {name: value for name, value in document.items() if value is not None}


def refused(token: str, now: datetime = NOW) -> Problem:
    with pytest.raises(Problem) as caught:
        verify_staff_token(SECRET, token, now=now)
    assert caught.value.status == 401
    return caught.value


def test_a_staff_token_round_trips_role_subject_and_practitioner() -> None:
    token = issue_staff_token(
        SECRET,
        subject="dr.martin@clinic.example",
        role=Role.PRACTITIONER,
        now=NOW,
        practitioner_id="p-42",
    )
    user = verify_staff_token(SECRET, token, now=NOW)
    assert user == StaffUser(
        subject="dr.martin@clinic.example", role=Role.PRACTITIONER, practitioner_id="p-42"
    )


def test_a_token_without_practitioner_id_gives_none() -> None:
    token = issue_staff_token(SECRET, subject="a@clinic", role=Role.ADMIN, now=NOW)
    user = verify_staff_token(SECRET, token, now=NOW)
    assert user.role is Role.ADMIN
    assert user.practitioner_id is None


def test_the_token_is_signed_with_hs256_and_expires_after_its_ttl() -> None:
    now = NOW
    token = issue_staff_token(
        SECRET, subject="a@clinic", role=Role.STAFF, now=now, ttl=timedelta(minutes=5)
    )
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(
        token, SECRET, algorithms=["HS256"], issuer=ISSUER, options={"verify_exp": False}
    )
    assert payload["exp"] - payload["iat"] == 300


def test_an_expired_token_is_refused_as_expired() -> None:
    issued = NOW - timedelta(hours=13)
    token = issue_staff_token(SECRET, subject="a@clinic", role=Role.STAFF, now=issued)
    problem = refused(token)
    assert problem.title == "Token expired"


def test_expiry_is_checked_on_the_service_clock_not_the_wall_clock() -> None:
    """A stack whose clock stands years ahead (or behind) still takes its own tokens."""
    for now in (datetime(2031, 1, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC)):
        token = issue_staff_token(
            SECRET, subject="a@clinic", role=Role.STAFF, now=now, ttl=timedelta(hours=1)
        )
        user = verify_staff_token(SECRET, token, now=now + timedelta(minutes=59))
        assert user.role is Role.STAFF
        assert refused(token, now=now + timedelta(hours=1)).title == "Token expired"


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = issue_staff_token(OTHER_SECRET, subject="a@clinic", role=Role.ADMIN, now=NOW)
    problem = refused(token)
    assert problem.title == "Invalid token"
    assert "signature" in problem.detail.lower()


def test_an_unsigned_alg_none_token_is_refused() -> None:
    token = jwt.encode(claims(role="admin"), None, algorithm="none")
    assert refused(token).title == "Invalid token"


def test_a_token_signed_with_hs512_and_the_right_secret_is_refused() -> None:
    # The signature is valid for HS512: only the pinned algorithm refuses it.
    token = jwt.encode(claims(role="admin"), SECRET, algorithm="HS512")
    valid = jwt.decode(
        token, SECRET, algorithms=["HS512"], issuer=ISSUER, options={"verify_exp": False}
    )
    assert valid["role"] == "admin"
    assert refused(token).title == "Invalid token"


@pytest.mark.parametrize("dropped", ["exp", "iat", "sub", "iss"])
def test_a_token_missing_a_required_claim_is_refused(dropped: str) -> None:
    token = jwt.encode(claims(**{dropped: None}), SECRET, algorithm="HS256")
    problem = refused(token)
    assert dropped in problem.detail


def test_a_token_of_another_issuer_is_refused() -> None:
    token = jwt.encode(claims(iss="someone-else"), SECRET, algorithm="HS256")
    assert refused(token).title == "Invalid token"


@pytest.mark.parametrize("role", ["superuser", "Admin", "", None])
def test_a_token_with_an_unknown_or_missing_role_is_refused(role: str | None) -> None:
    token = jwt.encode(claims(role=role), SECRET, algorithm="HS256")
    assert refused(token).title == "Invalid token"


def test_garbage_is_refused() -> None:
    assert refused("not.a.jwt").title == "Invalid token"


# -- through a FastAPI app -------------------------------------------------------------


def secret_of(_: Request) -> str:
    return SECRET


def now_of(_: Request) -> datetime:
    return NOW


# Module level: the routes' string annotations (PEP 563) are resolved in module globals.
AdminUser = Annotated[StaffUser, Depends(staff_dependency(secret_of, now_of, Role.ADMIN))]
AnyStaffUser = Annotated[StaffUser, Depends(staff_dependency(secret_of, now_of))]


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/v1/admin-only")
    async def admin_only(user: AdminUser) -> dict[str, str]:
        return {"subject": user.subject, "role": user.role.value}

    @app.get("/v1/any-staff")
    async def any_staff(user: AnyStaffUser) -> dict[str, str]:
        return {"subject": user.subject, "role": user.role.value}

    return app


async def call(path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


def bearer(role: Role, *, now: datetime | None = None) -> dict[str, str]:
    token = issue_staff_token(SECRET, subject="x@clinic", role=role, now=now or NOW)
    return {"Authorization": f"Bearer {token}"}


async def test_a_request_without_authorization_gets_401_problem_with_www_authenticate() -> None:
    response = await call("/v1/admin-only")
    assert response.status_code == 401
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["status"] == 401
    assert body["title"] == "Not authenticated"
    assert "Bearer" in body["detail"]
    assert body["instance"] == "/v1/admin-only"


@pytest.mark.parametrize("header", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "token"])
async def test_a_non_bearer_authorization_gets_401(header: str) -> None:
    response = await call("/v1/any-staff", {"Authorization": header})
    assert response.status_code == 401
    assert response.headers["content-type"] == MEDIA_TYPE


async def test_a_role_not_allowed_gets_403_naming_the_needed_role() -> None:
    response = await call("/v1/admin-only", bearer(Role.STAFF))
    assert response.status_code == 403
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["status"] == 403
    assert "admin" in body["detail"]
    assert "staff" in body["detail"]


async def test_an_allowed_role_passes_and_the_user_reaches_the_route() -> None:
    response = await call("/v1/admin-only", bearer(Role.ADMIN))
    assert response.status_code == 200
    assert response.json() == {"subject": "x@clinic", "role": "admin"}


async def test_a_dependency_without_roles_admits_every_role() -> None:
    for role in Role:
        response = await call("/v1/any-staff", bearer(role))
        assert response.status_code == 200, role
        assert response.json()["role"] == role.value


async def test_an_expired_token_over_http_gets_401_token_expired() -> None:
    response = await call("/v1/any-staff", bearer(Role.ADMIN, now=NOW - timedelta(days=1)))
    assert response.status_code == 401
    assert response.headers["content-type"] == MEDIA_TYPE
    assert response.json()["title"] == "Token expired"


# -- patients' link tokens -------------------------------------------------------------


def test_a_patient_token_is_random_and_stored_only_as_its_sha256() -> None:
    token, stored = new_patient_token()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert hash_patient_token(token) == stored
    assert token not in stored
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert all(c.isalnum() or c in "-_" for c in token)


def test_patient_tokens_never_repeat() -> None:
    tokens = [new_patient_token() for _ in range(100)]
    assert len({token for token, _ in tokens}) == 100
    assert len({stored for _, stored in tokens}) == 100


def test_hashing_a_patient_token_is_deterministic_and_tells_tokens_apart() -> None:
    token, stored = new_patient_token()
    assert hash_patient_token(token) == hash_patient_token(token) == stored
    assert hash_patient_token(token + "x") != stored
