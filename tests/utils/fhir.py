"""What the FHIR tests share: every answer validated with fhir.resources' R4B models,
searches followed page by page, OperationOutcome errors, references resolved across the
services' FHIR bases. Used by test_fhir_*."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
from fhir.resources.R4B import get_fhir_model_class

from shared.fhir import BASE_PATH, MEDIA_TYPE

Json = dict[str, Any]


def valid(body: Json) -> Json:
    """``body`` as its R4B model reads it (pydantic refuses what FHIR does not allow), and
    with no empty value anywhere (FHIR's JSON has no empty string, array or object)."""
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    assert not list(_empty(body, "")), list(_empty(body, ""))
    return body


def _empty(value: Any, where: str) -> Iterator[str]:
    if value in ("", [], {}):
        yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _empty(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _empty(item, f"{where}[{i}]")


def answer(response: httpx.Response, status: int = 200) -> Json:
    """A FHIR answer: its status, fhir+json, and a valid resource."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE, response.headers
    return valid(response.json())


async def get(client: httpx.AsyncClient, url: str, **params: Any) -> httpx.Response:
    """GET ``url`` with ``params`` (none: its own query, as a next link has it)."""
    return await client.get(url, params=params) if params else await client.get(url)


async def read(client: httpx.AsyncClient, url: str, **params: Any) -> Json:
    return answer(await get(client, url, **params))


async def search(client: httpx.AsyncClient, url: str, **params: Any) -> Json:
    """One page of a search: a valid searchset Bundle, every entry a match."""
    bundle = answer(await get(client, url, **params))
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "searchset")
    assert {e["search"]["mode"] for e in bundle.get("entry", [])} <= {"match"}
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        assert entry["fullUrl"].endswith(f"{BASE_PATH}/{resource['resourceType']}/{resource['id']}")
    return bundle


def resources(bundle: Json) -> list[Json]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


def ids(bundle: Json) -> list[str]:
    return [resource["id"] for resource in resources(bundle)]


def link(bundle: Json, relation: str) -> str | None:
    return next((ln["url"] for ln in bundle["link"] if ln["relation"] == relation), None)


async def every_page(client: httpx.AsyncClient, url: str, **params: Any) -> list[Json]:
    """Every match of a search, following its next links to the end: each once, as many
    as ``total`` says, and each page but the first linking back to the one before."""
    bundle = await search(client, url, **params)
    total, found = bundle["total"], resources(bundle)
    while (following := link(bundle, "next")) is not None:
        previous_self = link(bundle, "self")
        bundle = await search(client, following)
        assert bundle["total"] == total
        assert link(bundle, "previous") == previous_self, (bundle["link"], previous_self)
        found += resources(bundle)
    keys = [(r["resourceType"], r["id"]) for r in found]
    assert len(keys) == len(set(keys)) == total, (len(keys), len(set(keys)), total)
    return found


def outcome(response: httpx.Response, status: int, *words: str) -> Json:
    """An OperationOutcome error with ``status``, its diagnostics saying ``words``."""
    body = answer(response, status)
    assert body["resourceType"] == "OperationOutcome", body
    [issue] = body["issue"]
    assert issue["severity"] == "error"
    for word in words:
        assert word in issue["diagnostics"], issue
    return body


class Bases:
    """The services' FHIR bases as the tests reach them: a reference, relative to the base
    it came from or absolute on another, is read through the right service's client."""

    def __init__(self, clients: Mapping[str, httpx.AsyncClient]) -> None:
        self.clients = dict(clients)

    def client_for(self, url: str) -> tuple[httpx.AsyncClient, str]:
        for base, client in self.clients.items():
            if url.startswith(base + "/"):
                return client, BASE_PATH + url[len(base) :]
        raise AssertionError(f"{url} is on no FHIR base of the tests: {list(self.clients)}")

    async def resolve(self, reference: str, *, base: str) -> Json:
        """The resource ``reference`` names (200, valid), read from where it lives."""
        url = reference if "://" in reference else f"{base}/{reference}"
        client, path = self.client_for(url)
        resource = await read(client, path)
        assert url.endswith(f"{resource['resourceType']}/{resource['id']}"), url
        return resource


def references(resource: Any) -> list[str]:
    """Every ``reference`` in a resource, however deep."""
    found: list[str] = []
    if isinstance(resource, dict):
        for key, value in resource.items():
            if key == "reference" and isinstance(value, str):
                found.append(value)
            else:
                found += references(value)
    elif isinstance(resource, list):
        for item in resource:
            found += references(item)
    return found
