"""``python -m twilio_sandbox``: serve the sandbox on ``TWILIO_SANDBOX_HOST``/``_PORT``."""

from __future__ import annotations

import logging

import uvicorn

from twilio_sandbox.app import create_app
from twilio_sandbox.config import SandboxConfig


def main() -> None:
    """Run the sandbox in the foreground until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every webhook URL at INFO; the sandbox logs outcomes itself, masked.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = SandboxConfig()
    # No access log: request lines carry phone numbers in list query strings.
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        access_log=False,
        timeout_keep_alive=config.keep_alive_seconds,
    )


if __name__ == "__main__":
    main()
