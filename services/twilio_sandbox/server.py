"""Run the sandbox (or any ASGI app) in the background of the current event loop.

For tests and the dev launcher: uvicorn serves on an already bound socket, so the port
(0 = any free one) is known before startup and nobody races for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from twilio_sandbox.app import create_app
from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.store import SandboxStore

logger = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the host process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.asynccontextmanager
async def serve_in_background(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    keep_alive_seconds: int = 5,
) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn as a task of the running loop; yield its base URL.

    The app's lifespan runs on entry and exit. Access logs are off (their query
    strings would carry phone numbers) and logging configuration is left to the host.
    """
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=keep_alive_seconds,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn-{bound_port}")
    try:
        async with asyncio.timeout(startup_timeout):
            while not server.started:
                if task.done():
                    break
                await asyncio.sleep(0.01)
        if not server.started:
            task.result()  # re-raise the startup failure, if any
            raise RuntimeError("uvicorn stopped before it started serving")
        url_host = f"[{host}]" if ":" in host else host
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


@dataclass(frozen=True)
class RunningSandbox:
    """A sandbox serving in the background.

    ``url`` is the base to put in ``client.api.base_url``; ``config`` carries the real
    port; ``store`` is the live state for direct assertions.
    """

    url: str
    config: SandboxConfig
    store: SandboxStore
    app: FastAPI

    @property
    def control_url(self) -> str:
        """Base URL of the ``/_sandbox`` control API."""
        return f"{self.url}/_sandbox"


@contextlib.asynccontextmanager
async def running_sandbox(
    config: SandboxConfig | None = None, *, port: int = 0
) -> AsyncIterator[RunningSandbox]:
    """Start a sandbox on ``config.host`` and ``port`` (0: a free one) and stop it on exit.

    The dev launcher passes ``port=config.port`` for the well-known port; tests keep 0.
    """
    config = config if config is not None else SandboxConfig()
    store = SandboxStore.from_config(config)
    app = create_app(config, store=store)
    async with serve_in_background(
        app, host=config.host, port=port, keep_alive_seconds=config.keep_alive_seconds
    ) as url:
        actual_port = int(url.rsplit(":", 1)[1])
        logger.info("twilio sandbox listening on %s", url)
        yield RunningSandbox(
            url=url,
            config=config.model_copy(update={"port": actual_port}),
            store=store,
            app=app,
        )
