"""One way to run a service: the same start-up for its API, relay, consumers and workers.

A service describes itself with a :class:`ServiceSpec` (settings, tables, routers,
handlers, extra workers); :class:`Service` builds its FastAPI app and runs its
background work, together (``serve``) or as separate processes (``relay``,
``consume``, or a named worker such as notify's ``dispatch``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared import db, kafka, tracing
from shared.clock import Clock, ShiftableClock, SystemClock
from shared.consumer import EventConsumer, Handlers
from shared.lag import ConsumerProgress
from shared.observability import NotReady, health_router, instrument
from shared.outbox import OutboxRelay
from shared.problems import Refusals, document_problems, install_problem_handlers
from shared.retention import Pruner, Retained
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

RELAY = "relay"
CONSUMER = "consume"
PRUNE = "prune"

Worker = Callable[[], Awaitable[None]]


#: A service's own settings class.
S = TypeVar("S", bound=ServiceSettings)


@dataclass
class Runtime(Generic[S]):
    """What a running service's use cases need: settings, clock, database, producer."""

    settings: S
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    producer: AIOKafkaProducer
    #: Its consumers' lag and progress, read from the broker (in the HTTP process of a
    #: service that consumes: /readyz and /metrics).
    progress: ConsumerProgress | None = None
    #: The workers this process runs, by name.
    workers: dict[str, Supervised] = field(default_factory=dict)


@dataclass(frozen=True)
class AdminCommand:
    """An operator's one-off task on the service's database, run in one transaction as
    ``python -m <service> <name> ...``; it returns the line to print."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[AsyncSession, argparse.Namespace, datetime], Awaitable[str]]


@dataclass(frozen=True)
class ServiceSpec(Generic[S]):
    """What makes one service: its settings, schema, API and event handling."""

    settings: S
    title: str
    description: str
    outbox: sa.Table
    processed: sa.Table
    migrations: Path
    routers: Sequence[APIRouter]
    consumes: Sequence[str]
    handlers: Callable[[Runtime[S]], Handlers]
    #: Extra background workers: name (e.g. notify's "dispatch") -> factory.
    extra_workers: Mapping[str, Callable[[Runtime[S]], Worker]] = field(default_factory=dict)
    #: None: wall-clock time, shifted by CLOCK_FILE when set (dev and demos).
    clock: Clock | None = None
    #: Tables beyond the outbox and processed events that ``prune`` keeps in bounds.
    retained: Sequence[Retained] = ()
    #: Operators' commands beyond migrate, serve, the workers and ``outbox replay``.
    commands: Mapping[str, AdminCommand] = field(default_factory=dict)
    #: The service's domain exceptions, and the status and title its API answers them with.
    refusals: Refusals = field(default_factory=dict)


class Service(Generic[S]):
    """Builds and runs one service from its spec."""

    def __init__(self, spec: ServiceSpec[S]) -> None:
        self.spec = spec
        self.settings = spec.settings

    @contextlib.asynccontextmanager
    async def running(self, workers: Collection[str]) -> AsyncIterator[Runtime[S]]:
        """Connect to the database and broker, start ``workers``, stop all on exit."""
        settings = self.settings
        tracing.setup(settings.service)  # once per process, before the first connection
        url = settings.resolved_database_url()
        engine = db.create_engine(
            url,
            pool_size=settings.db_pool_size,
            pre_ping=settings.db_pool_pre_ping,
            ping_after_idle=settings.db_pool_ping_after_idle,
        )
        producer = kafka.new_producer(settings)
        await _start_producer(producer, settings.kafka_bootstrap_servers)
        runtime = Runtime(
            settings=settings,
            clock=self.spec.clock or clock_from(settings),
            engine=engine,
            sessions=db.session_factory(engine),
            producer=producer,
        )
        try:
            await kafka.ensure_topics(settings)
            runtime.workers = self._start(runtime, url, workers)
            try:
                yield runtime
            finally:
                await _stop(runtime.workers.values())
        finally:
            await producer.stop()
            await engine.dispose()

    def _start(
        self, runtime: Runtime[S], url: str, workers: Collection[str]
    ) -> dict[str, Supervised]:
        available = self._workers(runtime, url)
        unknown = set(workers) - set(available)
        if unknown:
            raise ValueError(f"unknown worker(s): {', '.join(sorted(unknown))}")
        return {name: Supervised(name, available[name]) for name in workers}

    def _workers(self, runtime: Runtime[S], url: str) -> dict[str, Worker]:
        spec = self.spec
        listen_dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        settings = runtime.settings
        relay = OutboxRelay(
            runtime.engine, spec.outbox, runtime.producer,
            listen_dsn=listen_dsn, topic_prefix=settings.kafka_topic_prefix,
            linger=settings.outbox_linger,
        )  # fmt: skip

        async def consume() -> None:
            consumer = kafka.new_consumer(settings, [settings.topic(t) for t in spec.consumes])
            try:
                # Inside the try: a cancel while joining the group still closes the consumer.
                await consumer.start()
                await EventConsumer(
                    name=runtime.settings.service,
                    consumer=consumer,
                    producer=runtime.producer,
                    sessions=runtime.sessions,
                    processed=spec.processed,
                    handlers=spec.handlers(runtime),
                    max_attempts=runtime.settings.consumer_max_attempts,
                ).run()
            finally:
                await consumer.stop()

        pruner = Pruner(
            runtime.sessions,
            [Retained(spec.outbox, "published_at"), Retained(spec.processed, "processed_at"),
             *spec.retained],
            days=settings.retention_days, batch_size=settings.prune_batch_size,
            interval=settings.prune_interval_seconds,
        )  # fmt: skip
        workers: dict[str, Worker] = {RELAY: relay.run, PRUNE: pruner.run}
        if spec.consumes:
            workers[CONSUMER] = consume
        workers.update({name: make(runtime) for name, make in spec.extra_workers.items()})
        return workers

    def app(
        self,
        *,
        workers: Collection[str] | None = None,
        owns_process: bool = False,
        api: bool = True,
    ) -> FastAPI:
        """The service's FastAPI app; its lifespan runs ``workers`` (all of them by default).

        ``owns_process``: the app is all its process serves (``python -m <service> serve``),
        so once started it may :func:`freeze_start_up`. Without ``api`` it serves only the
        probes and metrics: a worker process's health port (``--health-port``).
        """
        settings = self.settings
        # The consumers' progress is read where it is looked at: in the API, and beside
        # the consumers when they run on their own.
        watch_consumers = bool(self.spec.consumes) and (api or CONSUMER in (workers or ()))

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            wanted = workers
            if wanted is None:
                wanted = self.worker_names() if settings.run_workers else ()
            async with self.running(wanted) as runtime, contextlib.AsyncExitStack() as stack:
                if watch_consumers:
                    runtime.progress = await stack.enter_async_context(
                        ConsumerProgress(
                            bootstrap_servers=settings.kafka_bootstrap_servers,
                            group=settings.consumer_group,
                            topics=[settings.topic(t) for t in self.spec.consumes],
                            stall_seconds=settings.consumer_stall_seconds,
                        ).running()
                    )
                app.state.runtime = runtime
                if owns_process:
                    freeze_start_up()
                yield

        app = FastAPI(
            title=self.spec.title if api else f"{self.spec.title} ({', '.join(workers or ())})",
            description=self.spec.description,
            version="1.0.0",
            lifespan=lifespan,
            telemetry=tracing.HTTP_TELEMETRY,
        )
        install_problem_handlers(app, self.spec.refusals)
        instrument(app, settings.service)
        if api and settings.allowed_origins:
            app.add_middleware(
                CORSMiddleware,
                allow_origins=settings.allowed_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                expose_headers=["X-Total-Count"],
            )
        app.include_router(_probes(lambda: app.state.runtime))
        for router in self.spec.routers if api else ():
            app.include_router(router)
        # The OpenAPI document lists every problem+json answer of every operation.
        document_problems(app)
        return app

    def worker_names(self) -> list[str]:
        names = [RELAY, PRUNE]
        if self.spec.consumes:
            names.append(CONSUMER)
        return [*names, *self.spec.extra_workers]


def freeze_start_up() -> None:
    """Take what start-up built (modules, the app, pools, mappers: about 150,000 objects,
    alive as long as the process) out of the cyclic garbage collector's full scans.

    Each full collection would otherwise walk them all, stopping the event loop for
    100-190 ms every few seconds under load: the whole p99 of a reservation
    (docs/booking.md, "Benchmark"). Garbage is collected first, so none is frozen.
    Only for a process that runs one service until it exits: what is frozen is never
    collected, so a test process starting many services must not call this.
    """
    gc.collect()
    gc.freeze()


def clock_from(settings: ServiceSettings) -> Clock:
    """The clock settings ask for: the shiftable demo clock, else the wall clock."""
    return ShiftableClock(settings.clock_file) if settings.clock_file else SystemClock()


async def _start_producer(producer: AIOKafkaProducer, servers: str, attempts: int = 30) -> None:
    # The broker may still be starting (compose, make dev): wait a little, then fail loudly.
    for attempt in range(1, attempts + 1):
        try:
            await producer.start()
            return
        except Exception:
            if attempt == attempts:
                raise RuntimeError(f"Kafka broker at {servers} did not answer") from None
            await asyncio.sleep(1.0)


def _probes(runtime: Callable[[], Runtime[Any]]) -> APIRouter:
    """/healthz, /readyz and /metrics of a process: its database, its broker, the workers
    it runs and (where it watches them) its consumers' progress."""

    async def database() -> None:
        await db.ping(runtime().engine)

    async def broker() -> None:
        await kafka.ping(runtime().producer)

    async def workers() -> None:
        for worker in runtime().workers.values():
            worker.check()

    async def consumers() -> None:
        progress = runtime().progress
        if progress is not None:
            await progress.check()

    checks = {"database": database, "broker": broker, "workers": workers, "consumers": consumers}
    return health_router(checks, refresh=consumers)


async def _stop(workers: Iterable[Supervised]) -> None:
    tasks = [worker.task for worker in workers]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Supervised:
    """A worker run forever as a task: a crash is logged and the worker restarted after a
    pause; :meth:`check` (``/readyz``) fails while it is down."""

    def __init__(self, name: str, worker: Worker, pause: float = 1.0) -> None:
        self.name = name
        self._worker, self._pause = worker, pause
        #: Why the worker is down, while it waits to be restarted.
        self.down: str | None = None
        self.task = asyncio.create_task(self._run(), name=name)

    def check(self) -> None:
        if self.task.done():
            raise NotReady(f"{self.name} has stopped")
        if self.down is not None:
            raise NotReady(f"{self.name} {self.down}")

    async def _run(self) -> None:
        while True:
            try:
                await self._worker()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.exception("worker %s crashed; restarting in %ss", self.name, self._pause)
                self.down = f"crashed ({type(error).__name__}: {error}); restarting"
                await asyncio.sleep(self._pause)
                self.down = None
