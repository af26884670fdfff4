"""The whole system on one machine: the embedded broker and database, the Twilio
sandbox and the three services, for ``make dev`` and the end-to-end tests."""
