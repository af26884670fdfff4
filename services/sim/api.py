"""The simulator's hands: the public HTTP APIs, called as staff and patients would.

Staff sign each request with a token minted on the stack's clock; patients use the
link their invitation SMS carries (``X-Patient-Token``) and text the clinic through the
Twilio sandbox. A client retries what a real one would: a 503 (a database restarting), a
refused connection (a process restarting), with the same ``Idempotency-Key`` for writes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from shared.auth import Role, issue_staff_token
from shared.clock import Clock

#: The clinic's number patients text (the sandbox's dev sender).
CLINIC_NUMBER = "+15005550006"
#: How long a client keeps retrying an unavailable service (real seconds).
PATIENCE = 120.0


class StaffAuth(httpx.Auth):
    """A staff token minted on the stack's clock for each request."""

    def __init__(self, secret: str, clock: Clock, role: Role = Role.ADMIN) -> None:
        self._secret, self._clock, self._role = secret, clock, role

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = issue_staff_token(
            self._secret,
            subject="sim@clinic.example",
            role=self._role,
            now=self._clock.now(),
            ttl=timedelta(hours=1),
        )
        request.headers.setdefault("Authorization", f"Bearer {token}")
        yield request


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Api:
    """Calls to the services' public APIs, retried through outages."""

    def __init__(self, urls: Mapping[str, str], secret: str, clock: Clock) -> None:
        self.urls = dict(urls)
        self.calls = 0
        self.refusals = 0
        self._staff = httpx.AsyncClient(auth=StaffAuth(secret, clock), timeout=30)
        self._plain = httpx.AsyncClient(timeout=30)

    async def close(self) -> None:
        await self._staff.aclose()
        await self._plain.aclose()

    async def _call(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        deadline = time.monotonic() + PATIENCE
        pause = 0.2
        while True:
            self.calls += 1
            try:
                response = await client.request(
                    method, url, json=json, params=params, headers=headers
                )
            except (
                httpx.ConnectError,
                httpx.ReadError,
                httpx.RemoteProtocolError,
                httpx.TimeoutException,
            ):
                response = None
            if response is not None and response.status_code not in (502, 503, 504):
                body: Any = None
                if response.content:
                    try:
                        body = response.json()
                    except ValueError:
                        body = response.text
                if response.status_code >= 400:
                    self.refusals += 1
                return Answer(response.status_code, body)
            if time.monotonic() > deadline:
                what = response.status_code if response is not None else "no answer"
                raise RuntimeError(f"{method} {url}: {what} for {PATIENCE:.0f} s")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 3.0)

    async def staff(
        self,
        method: str,
        service: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = False,
    ) -> Answer:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if idempotent else None
        return await self._call(
            self._staff,
            method,
            self.urls[service] + path,
            json=json,
            params=params,
            headers=headers,
        )

    async def patient(
        self,
        method: str,
        token: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = False,
    ) -> Answer:
        headers = {"X-Patient-Token": token}
        if idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        return await self._call(
            self._plain,
            method,
            f"{self.urls['booking']}/v1/self-booking{path}",
            json=json,
            params=params,
            headers=headers,
        )

    async def text_clinic(self, phone: str, body: str) -> Answer:
        """The patient texts the clinic: the sandbox signs it and calls notify's webhook."""
        return await self._call(
            self._plain,
            "POST",
            f"{self.urls['sandbox']}/_sandbox/inbound",
            json={"from": phone, "to": CLINIC_NUMBER, "body": body},
        )

    async def policy(self) -> dict[str, Any]:
        answer = await self.staff("GET", "notify", "/v1/policy")
        document: dict[str, Any] = answer.body if answer.ok else {}
        return document
