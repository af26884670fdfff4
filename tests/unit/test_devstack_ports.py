"""free_port hands out each port once per process: the servers of one stack are started
after their ports are chosen, so a free port could otherwise be chosen twice."""

from __future__ import annotations

import random

import pytest

from devstack import ports


def test_a_port_is_never_handed_out_twice_even_when_the_draw_repeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws = iter([20_001, 20_001, 20_002])  # the second draw repeats the first
    monkeypatch.setattr(random, "randrange", lambda low, high: next(draws))
    monkeypatch.setattr(ports, "_handed_out", set())
    assert [ports.free_port(), ports.free_port()] == [20_001, 20_002]


def test_a_stack_s_worth_of_ports_are_all_different() -> None:
    chosen = [ports.free_port() for _ in range(300)]
    assert len(set(chosen)) == len(chosen)
    assert all(ports.LOWEST_PORT <= port < ports._ephemeral_ports()[0] for port in chosen)
