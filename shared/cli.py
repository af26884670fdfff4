"""``python -m <service> <command>``: migrate, serve, or run one kind of worker alone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import uvicorn
import uvloop
from sqlalchemy.ext.asyncio import AsyncSession

from shared import db, outbox
from shared.migrate import upgrade
from shared.observability import configure_logging
from shared.service import AdminCommand, Service, clock_from, freeze_start_up


def main(make_service: Callable[[], Service[Any]], argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen part of the service."""
    service = make_service()
    settings = service.settings
    parser = argparse.ArgumentParser(prog=f"python -m {settings.service}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="create the database if missing and migrate it to head")
    serve = commands.add_parser("serve", help="the HTTP API (and the workers unless disabled)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=settings.http_port)
    work = commands.add_parser("work", help="run the named workers together, without the API")
    work.add_argument("workers", nargs="+", choices=service.worker_names())
    workers = [work]
    for name in service.worker_names():
        workers.append(commands.add_parser(name, help=f"run only the {name} worker"))
    for worker in workers:
        worker.add_argument(
            "--health-port",
            type=int,
            help="serve /healthz, /readyz and /metrics on this port (probes, scraping)",
        )
        worker.add_argument("--host", default="0.0.0.0", help="where --health-port listens")
    outbox_commands = commands.add_parser("outbox", help="operate on the service's outbox")
    replay = outbox_commands.add_subparsers(dest="action", required=True).add_parser(
        "replay", help="publish the events from --since on again (consumers skip duplicates)"
    )
    replay.add_argument(
        "--since",
        type=_instant,
        required=True,
        help="ISO 8601 with an offset, e.g. 2026-11-28T00:00:00+00:00",
    )
    for name, command in service.spec.commands.items():
        command.arguments(commands.add_parser(name, help=command.help))
    args = parser.parse_args(argv)
    configure_logging(settings.service, level=settings.log_level, json_lines=settings.log_json)

    if args.command == "migrate":
        asyncio.run(upgrade(service.spec.migrations, settings.resolved_database_url()))
    elif args.command == "outbox":
        count = asyncio.run(_replay(service, args.since))
        print(
            f"{settings.service}: {count} events from {args.since.isoformat()} on to publish again"
        )
    elif args.command in service.spec.commands:
        print(asyncio.run(_administer(service, service.spec.commands[args.command], args)))
    elif args.command == "serve":
        uvicorn.run(service.app(owns_process=True), host=args.host, port=args.port, log_config=None)
    else:
        names = args.workers if args.command == "work" else [args.command]
        if args.health_port is not None:
            probes = service.app(workers=names, owns_process=True, api=False)
            uvicorn.run(probes, host=args.host, port=args.health_port, log_config=None)
        else:
            # uvloop, as uvicorn uses for `serve`: the dispatcher and relay are CPU-bound.
            uvloop.run(_run_workers(service, names))


def _instant(text: str) -> datetime:
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset (e.g. +00:00)")
    return instant


async def _replay(service: Service[Any], since: datetime) -> int:
    async with _transaction(service) as session:
        return await outbox.replay(session, service.spec.outbox, since=since)


async def _administer(
    service: Service[Any], command: AdminCommand, args: argparse.Namespace
) -> str:
    async with _transaction(service) as session:
        return await command.run(session, args, clock_from(service.settings).now())


@contextlib.asynccontextmanager
async def _transaction(service: Service[Any]) -> AsyncIterator[AsyncSession]:
    engine = db.create_engine(service.settings.resolved_database_url(), pool_size=1)
    try:
        async with db.session_factory(engine).begin() as session:
            yield session
    finally:
        await engine.dispose()


async def _run_workers(service: Service[Any], names: list[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    async with service.running(names):
        freeze_start_up()
        await stop.wait()
