"""axe-core, the accessibility engine, in the browser tests.

axe-core comes from the npm registry as the tarball of one pinned version, checked
against the registry's ``dist.integrity`` (sha512) before it is kept, in the git-ignored
``.cache/axe/``. ``make test`` and ``make e2e`` fetch it (``make axe``; or
``.venv/bin/python -m tests.e2e.axe``); the tests never download it, and fail, saying how
to get it, when it is missing. It is checked again each time a test reads it.

To move to another version: ``npm view axe-core@VERSION dist.integrity`` gives the pin.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page

AXE_VERSION = "4.14.1"
#: npm's ``dist.integrity`` of that version's tarball.
AXE_INTEGRITY = (
    "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2"
    "S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
AXE_TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "axe"
AXE_TGZ = CACHE / f"axe-core-{AXE_VERSION}.tgz"
HOW_TO_GET = "run `make axe` (or `.venv/bin/python -m tests.e2e.axe`) to fetch it from npm"

#: What the audit runs: every rule axe-core enables by default (WCAG 2.0, 2.1 and 2.2 A
#: and AA, and its best practices).
RUN_OPTIONS: dict[str, Any] = {"resultTypes": ["violations"]}


def integrity(data: bytes) -> str:
    """The Subresource Integrity string of ``data``, as npm's ``dist.integrity`` writes it."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch() -> Path:
    """Download the pinned tarball unless the cache holds it already, and keep it only if
    its integrity is the pinned one."""
    if AXE_TGZ.exists() and integrity(AXE_TGZ.read_bytes()) == AXE_INTEGRITY:
        return AXE_TGZ
    response = httpx.get(AXE_TARBALL, follow_redirects=True, timeout=120)
    response.raise_for_status()
    got = integrity(response.content)
    if got != AXE_INTEGRITY:
        raise SystemExit(
            f"error: {AXE_TARBALL} does not match its pinned integrity\n"
            f"  expected {AXE_INTEGRITY}\n  got      {got}"
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = AXE_TGZ.with_suffix(".partial")
    partial.write_bytes(response.content)
    partial.replace(AXE_TGZ)
    return AXE_TGZ


def read_axe(tgz: Path) -> str:
    """``axe.min.js`` from the tarball ``tgz``, once its integrity is checked; a test
    fails (never skips) when it is missing or not the pinned one."""
    if not tgz.exists():
        pytest.fail(f"axe-core {AXE_VERSION} is missing ({tgz}): {HOW_TO_GET}", pytrace=False)
    data = tgz.read_bytes()
    if integrity(data) != AXE_INTEGRITY:
        pytest.fail(
            f"{tgz} is not axe-core {AXE_VERSION} as pinned ({AXE_INTEGRITY}): "
            f"delete it and {HOW_TO_GET}",
            pytrace=False,
        )
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile("package/axe.min.js")
        assert member is not None, f"{tgz} holds no package/axe.min.js"
        return member.read().decode()


@cache
def axe_source() -> str:
    """``axe.min.js`` of the pinned version, read once per test run."""
    return read_axe(AXE_TGZ)


async def inject(page: Page) -> None:
    """Make ``window.axe`` available in the page (again after each navigation)."""
    if await page.evaluate("() => typeof window.axe === 'object'"):
        return
    # Evaluated through the DevTools protocol: the page's Content-Security-Policy, which
    # allows only its own scripts, does not apply (a <script> tag would be refused).
    await page.evaluate(axe_source())
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        pytest.fail("axe-core did not load into the page")


async def violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core finds wrong with the page as it is now."""
    await inject(page)
    found: list[dict[str, Any]] = await page.evaluate(
        """async (options) => {
            const results = await window.axe.run(document, options);
            return results.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map((n) => ({
                    target: n.target.map(String).join(" "), summary: n.failureSummary || "",
                })),
            }));
        }""",
        RUN_OPTIONS,
    )
    return found


def describe(found: list[dict[str, Any]]) -> str:
    lines = []
    for v in found:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    at {node['target']}: {summary}")
    return "\n".join(lines)


async def assert_accessible(page: Page, state: str) -> None:
    """Fail, listing rule, impact, elements and help, if axe-core finds any violation
    (of any impact) on the page in ``state``."""
    found = await violations(page)
    if found:
        pytest.fail(
            f"axe-core {AXE_VERSION} finds {len(found)} accessibility violation(s) "
            f"on the page ({state}):\n{describe(found)}",
            pytrace=False,
        )


if __name__ == "__main__":
    path = fetch()
    print(f"axe-core {AXE_VERSION}: {path} ({AXE_INTEGRITY[:20]}...)", file=sys.stderr)
