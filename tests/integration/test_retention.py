"""The prune worker forgets old messaging rows, in batches, and keeps everything recent.

On plans' real schema: published outbox rows, processed-event ids and idempotency keys
older than the retention period go; younger ones, and any outbox row not yet published
whatever its age, stay. Ages are on the database's clock, which stamps the rows.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from plans.adapters.db import idempotency_keys, outbox, processed_event
from plans.app import service
from shared.db import create_engine, session_factory
from shared.migrate import upgrade
from shared.retention import Pruner, Retained
from tests.clock import TEST_NOW

DAYS = 14


def outbox_row(published_at: object) -> dict[str, object]:
    return {
        "event_id": uuid.uuid4(), "topic": "plans.events", "key": "k", "type": "t",
        "source": "/tests", "subject": None, "time": TEST_NOW, "data": {},
        "published_at": published_at,
    }  # fmt: skip


async def test_old_messaging_rows_go_in_batches_and_recent_or_unpublished_ones_stay(
    fresh_database: str,
) -> None:
    await upgrade(service().spec.migrations, fresh_database)
    engine = create_engine(fresh_database)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            now = await session.scalar(sa.select(sa.func.now()))
        assert now is not None
        old, recent = now - timedelta(days=DAYS, hours=1), now - timedelta(days=DAYS - 1)
        async with sessions.begin() as session:
            await session.execute(sa.insert(outbox), [
                *(outbox_row(old) for _ in range(5)),  # published long ago: go
                outbox_row(recent),  # published lately: stays
                outbox_row(None),  # never published, however old: stays
            ])  # fmt: skip
            await session.execute(sa.insert(processed_event), [
                {"consumer": "plans", "event_id": uuid.uuid4(), "type": "t", "processed_at": at}
                for at in (old, old, recent)
            ])  # fmt: skip
            await session.execute(sa.insert(idempotency_keys), [
                {"scope": "s", "key": key, "request_hash": "h", "status_code": 201,
                 "response": {}, "created_at": at}
                for key, at in (("old", old), ("recent", recent))
            ])  # fmt: skip
        pruner = Pruner(
            sessions,
            [Retained(outbox, "published_at"), Retained(processed_event, "processed_at"),
             Retained(idempotency_keys, "created_at")],
            days=DAYS, batch_size=2, interval=3600,
        )  # fmt: skip
        assert await pruner.prune_once() == 5 + 2 + 1
        async with sessions() as session:
            kept = await session.execute(sa.select(outbox.c.published_at))
            assert sorted(kept.scalars(), key=str) == sorted([recent, None], key=str)
            processed = await session.scalars(sa.select(processed_event.c.processed_at))
            assert list(processed) == [recent]
            keys = await session.scalars(sa.select(idempotency_keys.c.key))
            assert list(keys) == ["recent"]
        assert await pruner.prune_once() == 0
    finally:
        await engine.dispose()
