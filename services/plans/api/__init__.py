"""The plans HTTP API: thin routers that authenticate, parse, call a use case, answer."""
