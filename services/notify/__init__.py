"""The notify service: SMS reminders and numbing-cream instructions through Twilio."""
