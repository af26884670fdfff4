"""Request metrics are labelled by route template and status, never by raw path."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from shared.observability import instrument
from shared.problems import NotFound, install_problem_handlers


def sample(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "http_requests_total",
        {"service": "metrics-test", "method": "GET", "route": route, "status": status},
    )
    return value or 0.0


async def test_requests_are_counted_by_route_template_and_status() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    instrument(app, "metrics-test")

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        if thing_id == 0:
            raise NotFound("no thing 0")
        return {"id": thing_id}

    before_ok, before_missing = (
        sample("/v1/things/{thing_id}", "200"),
        sample("/v1/things/{thing_id}", "404"),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for thing_id in (1, 2, 0):
            await client.get(f"/v1/things/{thing_id}")
        await client.get("/nowhere")

    assert sample("/v1/things/{thing_id}", "200") == before_ok + 2
    assert sample("/v1/things/{thing_id}", "404") == before_missing + 1
    assert sample("unmatched", "404") >= 1
    assert sample("/v1/things/1", "200") == 0  # never a raw path
