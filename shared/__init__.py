"""What the three mesocycle services share: the event contract, the outbox and the
idempotent consumer, settings, database, auth, errors, observability and the clock."""
