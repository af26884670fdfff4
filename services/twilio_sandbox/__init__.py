"""A Twilio-compatible SMS sandbox: the Messages API the official SDK talks to, status
callbacks and inbound webhooks signed like Twilio's, and a ``/_sandbox`` control API.
"""

from twilio_sandbox.app import create_app
from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.server import RunningSandbox, running_sandbox, serve_in_background
from twilio_sandbox.store import FaultKind, SandboxStore

__all__ = [
    "FaultKind",
    "RunningSandbox",
    "SandboxConfig",
    "SandboxStore",
    "create_app",
    "running_sandbox",
    "serve_in_background",
]
