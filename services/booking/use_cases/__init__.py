"""What booking does, one transaction per use case, grouped by concept.

Each use case takes an open session inside its caller's transaction (an API route or
an event handler), changes state, and stages its events in the outbox with it.
"""
