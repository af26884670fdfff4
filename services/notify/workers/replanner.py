"""The ``replan`` worker: after a policy change, batches until nothing is stale."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify.use_cases.policy_replanning import replan_under_new_policy
from notify.use_cases.scheduling import Clinic
from shared.clock import Clock
from shared.periodic import Periodic


class PolicyReplanner(Periodic):
    """Re-plans upcoming appointments planned under an older policy, a batch a pass."""

    done = "re-planned %d appointments under the new message policy"

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        clinic: Clinic,
        clock: Clock,
        batch_size: int = 100,
        interval: float = 5.0,
    ) -> None:
        super().__init__(interval=interval, full=batch_size)
        self._sessions = sessions
        self._clinic = clinic
        self._clock = clock
        self._batch_size = batch_size

    async def one_pass(self) -> int:
        async with self._sessions.begin() as session:
            return await replan_under_new_policy(
                session, clinic=self._clinic, now=self._clock.now(), limit=self._batch_size
            )
