"""The OpenAPI documents tell the truth: every error an operation can answer is documented as
problem+json, a path refuses another method with 405 and ``Allow``, and every string a
request sends says what the service takes (``schemathesis.toml``, README: the fuzzing)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from booking.app import service as booking
from notify.app import service as notify
from plans.app import service as plans
from shared.problems import MEDIA_TYPE
from shared.service import Service

SERVICES: dict[str, Callable[[], Service[Any]]] = {
    "plans": plans,
    "booking": booking,
    "notify": notify,
}
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module", params=sorted(SERVICES))
def app(request: pytest.FixtureRequest) -> FastAPI:
    # No lifespan: no database or broker, only the routes and their documents.
    built: FastAPI = SERVICES[request.param]().app(workers=[])
    return built


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_every_error_is_documented_as_a_problem(app: FastAPI) -> None:
    document = app.openapi()
    assert "Problem" in document["components"]["schemas"]
    for path, method, operation in operations(document):
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        errors = {int(s): answer for s, answer in responses.items() if int(s) >= 400}
        for status, answer in errors.items():
            assert answer["content"] == {
                MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, f"{where} {status}"
        assert 405 in errors, where
        assert errors[405]["headers"]["Allow"]["required"], where
        if operation.get("parameters") or "requestBody" in operation:
            assert 422 in errors, where
        if "{" in path:
            assert 404 in errors, where
        if operation.get("security") == [{"staffToken": []}]:
            assert 401 in errors, where
        if method != "get":
            assert 409 in errors, where
        assert 503 in errors, where
        assert errors[503]["headers"]["Retry-After"]["required"], where


async def test_another_method_is_a_405_naming_every_method_of_the_path(app: FastAPI) -> None:
    document = app.openapi()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for path, item in document["paths"].items():
            await refuses_another_method(client, document, path, item)


async def refuses_another_method(
    client: httpx.AsyncClient, document: dict[str, Any], path: str, item: dict[str, Any]
) -> None:
    """``path`` answers a method it does not take with 405 and ``Allow``: its methods."""
    documented = {method.upper() for method in item if method in METHODS}
    operation = next(iter(item.values()))
    parameters = [p for p in operation.get("parameters", []) if p["in"] == "path"]
    url = path.format(**{p["name"]: example(p["schema"], document) for p in parameters})
    unsupported = next(m for m in ("PUT", "PATCH", "DELETE", "POST") if m not in documented)
    response = await client.request(unsupported, url)
    assert response.status_code == 405, (path, response.text)
    assert response.headers["content-type"] == MEDIA_TYPE
    assert set(response.headers["allow"].split(", ")) == documented, path


def test_every_string_sent_says_what_the_service_takes(app: FastAPI) -> None:
    """A free text says it holds no NUL; a phone, a time zone, a time of day their form."""
    document = app.openapi()
    models = {k: v for k, v in document["components"]["schemas"].items() if k != "Problem"}
    for where, schema in strings(models, "components"):
        assert {"pattern", "format", "enum", "const"} & schema.keys(), where
        assert schema.get("format") != "time", f"{where}: JSON Schema's time has an offset"
    for path, method, operation in operations(document):
        for parameter in operation.get("parameters", []):
            for where, schema in strings(parameter["schema"], f"{method} {path}"):
                assert {"pattern", "format", "enum", "const"} & schema.keys(), where
    schemas = document["components"]["schemas"]
    for name in ("PatientIn", "LocationIn"):
        if name in schemas:
            fields = schemas[name]["properties"]
            phone = fields["phone"] if "pattern" in fields["phone"] else fields["phone"]["anyOf"][0]
            assert phone["pattern"].startswith("^\\+"), name
            assert "Europe/Paris" in fields["time_zone"]["enum"], name


def strings(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        if schema.get("type") == "string":
            yield where, schema
        for key, value in schema.items():
            if key not in ("enum", "default", "examples", "const"):
                yield from strings(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for item in schema:
            yield from strings(item, where)


def example(schema: dict[str, Any], document: dict[str, Any]) -> str:
    """A value a path parameter takes."""
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("format") == "uuid":
        return str(uuid.UUID(int=1))
    return "fr"
