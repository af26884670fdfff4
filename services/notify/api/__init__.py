"""The notify HTTP API: Twilio's webhooks and the staff message log."""
