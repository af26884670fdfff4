"""The parts of one sandbox instance that its routes share."""

from __future__ import annotations

from dataclasses import dataclass

from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.delivery import DeliverySimulator
from twilio_sandbox.store import SandboxStore
from twilio_sandbox.webhooks import WebhookSender


@dataclass(frozen=True)
class Sandbox:
    """Config, state, webhook sender and delivery simulator of one sandbox app."""

    config: SandboxConfig
    store: SandboxStore
    sender: WebhookSender
    simulator: DeliverySimulator
