"""What staff and booking's events do to patients and plans: one transaction each.

Each use case takes an open session (the caller owns the transaction) and ``now``;
it changes state and stages its events in the outbox, so both commit together.
"""
