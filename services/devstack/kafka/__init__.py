"""Apache Kafka for ``make dev`` and the tests: one KRaft node run from Maven's jars.

``pom.xml`` next to this file pins the broker. On first use Maven resolves it into
``~/.m2`` and the classpath is cached under ``~/.cache/mesocycle``, so later starts
need only ``java``. :func:`apache_kafka` formats a data directory once (KRaft,
standalone controller), starts one combined broker and controller on 127.0.0.1 with
its log in a file, waits until an ``acks=all`` produce succeeds (and consumer groups
have a coordinator), and on exit stops it cleanly (SIGTERM, then SIGKILL after 15 s).
A data directory keeps its records, topics and committed offsets from one start to
the next.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TypeVar

from devstack.ports import free_port

POM = Path(__file__).with_name("pom.xml")
INSTALL_HINT = "install with: apt-get install openjdk-17-jre-headless maven"
#: The topic the readiness probe writes to (auto-creation is off, so it creates it).
PROBE_TOPIC = "mesocycle.broker-probe"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
HEAP = "512m"

T = TypeVar("T")


class KafkaUnavailable(RuntimeError):
    """Java or Maven is missing (or too old), so Apache Kafka cannot be started here."""


def kafka_version() -> str:
    """The Apache Kafka release ``pom.xml`` pins."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if match is None:
        raise RuntimeError(f"{POM} pins no <kafka.version>")
    return match.group(1).strip()


@contextlib.contextmanager
def apache_kafka(
    data_dir: Path, log_dir: Path, *, port: int | None = None, name: str = "broker"
) -> Iterator[str]:
    """Run Apache Kafka on ``data_dir`` and yield its bootstrap servers, ``127.0.0.1:PORT``.

    The broker logs to ``log_dir/<name>.log`` (the JVM's own output, if any, goes to
    ``<name>.out``). Without ``port``, a free one is taken; the controller's port is
    kept in the data directory and reused while it is free.
    """
    java = find_java()
    classpath = resolve_classpath()
    version = kafka_version()
    data_dir = data_dir.resolve()
    log_dir = log_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file, out_file = log_dir / f"{name}.log", log_dir / f"{name}.out"
    _refuse_a_running_broker(data_dir)
    if port is not None and not _bindable(port):
        raise RuntimeError(
            f"cannot start Apache Kafka on 127.0.0.1:{port}: the port is in use "
            "(another broker, or an earlier `make dev` still running?)"
        )
    port = port or free_port()
    controller_port = _controller_port(data_dir, avoid=port)
    logs_dir = data_dir / "kafka-logs"
    config = data_dir / "server.properties"
    config.write_text(_server_properties(port, controller_port, logs_dir))
    log4j = data_dir / "log4j2.properties"
    log4j.write_text(_log4j_properties(log_file))
    run_class = [java, f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
    started = time.monotonic()
    with open(out_file, "ab") as out:
        if not (logs_dir / "meta.properties").exists():
            _format(run_class, config, data_dir, out, out_file)
        process = subprocess.Popen(  # noqa: S603
            [*run_class, *JVM_OPTIONS, "kafka.Kafka", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file = data_dir / "broker.pid"
    servers = f"127.0.0.1:{port}"
    try:
        pid_file.write_text(f"{process.pid}\n")
        _wait_ready(process, servers, log_file, out_file)
        _say(
            f"broker: Apache Kafka {version} (KRaft) at {servers}, started in "
            f"{time.monotonic() - started:.1f} s (data {data_dir}, log {log_file})"
        )
        yield servers
    finally:
        _stop(process, log_file)
        pid_file.unlink(missing_ok=True)


JVM_OPTIONS = [
    f"-Xms{HEAP}",
    f"-Xmx{HEAP}",
    # kafka-server-start.sh's performance options.
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]


def find_java() -> str:
    """The ``java`` to run Kafka with (17 or newer), else :class:`KafkaUnavailable`."""
    java = shutil.which("java")
    if java is None:
        raise KafkaUnavailable(
            f"Apache Kafka needs Java 17+ and Maven, and `java` is not on PATH; {INSTALL_HINT}"
        )
    shown = subprocess.run(  # noqa: S603
        [java, "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r'version "(\d+)(?:\.(\d+))?', shown.stderr + shown.stdout)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0_x" is Java 8
        major = int(match.group(2))
    if major < 17:
        found = (shown.stderr or shown.stdout).strip().splitlines()[:1] or ["no version"]
        raise KafkaUnavailable(
            f"Apache Kafka {kafka_version()} needs Java 17+, and `{java}` is {found[0]!r}; "
            f"{INSTALL_HINT}"
        )
    return java


def resolve_classpath() -> str:
    """The broker's classpath: cached, else resolved by Maven (into ``~/.m2``) and cached."""
    pom = POM.read_bytes()
    digest = hashlib.sha256(pom).hexdigest()[:12]
    cached = _cache_dir() / f"kafka-{kafka_version()}-{digest}.classpath"
    with contextlib.suppress(OSError):
        classpath = cached.read_text().strip()
        if classpath and all(Path(jar).is_file() for jar in classpath.split(os.pathsep)):
            return classpath
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable(
            f"Apache Kafka needs Maven to fetch its jars once, and `mvn` is not on PATH; "
            f"{INSTALL_HINT}"
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mesocycle-kafka-pom-") as scratch:
        (Path(scratch) / "pom.xml").write_bytes(pom)
        output = Path(scratch) / "classpath"
        resolved = subprocess.run(  # noqa: S603
            [mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(Path(scratch) / "pom.xml"),
             "dependency:build-classpath", "-Dmdep.includeScope=runtime",
             f"-Dmdep.outputFile={output}"],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if resolved.returncode != 0 or not output.exists():
            tail = "\n".join((resolved.stdout + resolved.stderr).strip().splitlines()[-15:])
            raise RuntimeError(
                f"Maven could not resolve Apache Kafka {kafka_version()} ({POM}):\n{tail}"
            )
        classpath = output.read_text().strip()
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(classpath + "\n")
    partial.replace(cached)
    _say(
        f"broker: resolved Apache Kafka {kafka_version()} with Maven in "
        f"{time.monotonic() - started:.1f} s (classpath cached in {cached})"
    )
    return classpath


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mesocycle"


def _server_properties(port: int, controller_port: int, logs_dir: Path) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "log.dirs": str(logs_dir),
        # One node: every internal topic with one replica.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "min.insync.replicas": "1",
        "default.replication.factor": "1",
        "num.partitions": "3",
        # The services create their topics; a typo must fail, not make a topic.
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        # Small: two cores, a few clients.
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _log4j_properties(log_file: Path) -> str:
    """Every logger to one size-capped file; nothing on stdout."""
    pattern = str(log_file).replace("\\", "/")
    return "\n".join(
        [
            "status = warn",
            # Kafka's own shutdown hook logs its clean shutdown: keep the file open for it.
            "shutdownHook = disable",
            "appender.file.type = RollingFile",
            "appender.file.name = file",
            f"appender.file.fileName = {pattern}",
            f"appender.file.filePattern = {pattern}.%i",
            "appender.file.layout.type = PatternLayout",
            "appender.file.layout.pattern = [%d] %p %m (%c)%n",
            "appender.file.policies.type = Policies",
            "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
            "appender.file.policies.size.size = 20MB",
            "appender.file.strategy.type = DefaultRolloverStrategy",
            "appender.file.strategy.max = 2",
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.file.ref = file",
            # Each request and each state change at INFO: far too much for a dev log.
            "logger.request.name = kafka.request.logger",
            "logger.request.level = WARN",
            "logger.state.name = state.change.logger",
            "logger.state.level = WARN",
            "",
        ]
    )


def _format(
    run_class: list[str], config: Path, data_dir: Path, out: IO[bytes], out_file: Path
) -> None:
    """Format a new data directory: a cluster of one standalone KRaft controller."""
    cluster_id_file = data_dir / "cluster.id"
    if not cluster_id_file.exists():
        cluster_id_file.write_text(_new_cluster_id() + "\n")
    cluster_id = cluster_id_file.read_text().strip()
    formatted = subprocess.run(  # noqa: S603
        [*run_class, "kafka.tools.StorageTool", "format", "--config", str(config),
         f"--cluster-id={cluster_id}", "--standalone"],
        stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False,
    )  # fmt: skip
    if formatted.returncode != 0:
        raise RuntimeError(f"formatting Kafka's data directory {data_dir} failed: see {out_file}")


def _new_cluster_id() -> str:
    """A Kafka UUID in base64url, as ``kafka-storage.sh random-uuid`` prints one."""
    while True:
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not encoded.startswith("-"):
            return encoded


def _refuse_a_running_broker(data_dir: Path) -> None:
    """Fail clearly when a broker started earlier on ``data_dir`` still runs (an orphan
    of a killed ``make dev`` or test run), rather than after Kafka fails on its lock."""
    with contextlib.suppress(OSError, ValueError):
        pid = int((data_dir / "broker.pid").read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if str(data_dir / "server.properties").encode() in command:
            raise RuntimeError(
                f"Apache Kafka (pid {pid}) started earlier on {data_dir} still runs: "
                f"stop it first (kill {pid})"
            )


def _controller_port(data_dir: Path, *, avoid: int) -> int:
    """The controller's port: the one this data directory used, while it is free."""
    stored = data_dir / "controller.port"
    with contextlib.suppress(OSError, ValueError):
        port = int(stored.read_text())
        if port != avoid and _bindable(port):
            return port
    port = free_port()
    while port == avoid:
        port = free_port()
    stored.write_text(f"{port}\n")
    return port


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_ready(
    process: subprocess.Popen[bytes], servers: str, log_file: Path, out_file: Path
) -> None:
    """Return once an ``acks=all`` produce succeeds and consumer groups have a coordinator.

    Raise if the broker exits or is not ready in time.
    """
    host, port = servers.rsplit(":", 1)
    deadline = time.monotonic() + START_TIMEOUT
    last_error = "the port never opened"

    def check_alive() -> None:
        if process.poll() is not None:
            raise RuntimeError(
                f"Apache Kafka exited with code {process.returncode} while starting: "
                f"see {log_file} and {out_file}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"Apache Kafka at {servers} was not ready (an acks=all produce to "
                f"{PROBE_TOPIC}) within {START_TIMEOUT:.0f} s, last {last_error}: see {log_file}"
            )

    while True:  # the port first: probing a closed port only fills the log with errors
        check_alive()
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 0.5):
            break
        time.sleep(0.1)
    while True:
        check_alive()
        try:
            _run_async(lambda: asyncio.wait_for(_probe(servers), 15))
            return
        except Exception as error:  # not ready yet (no leader, coordinator loading...)
            last_error = f"{type(error).__name__}: {error}"
            time.sleep(0.2)


async def _probe(servers: str) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=5000)
    await admin.start()
    try:
        if PROBE_TOPIC not in await admin.list_topics():
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(PROBE_TOPIC, 1, 1)])
        # Idempotent, as the services' producers are: InitProducerId must work too.
        producer = AIOKafkaProducer(
            bootstrap_servers=servers, acks="all", enable_idempotence=True, request_timeout_ms=5000
        )
        await producer.start()
        try:
            await producer.send_and_wait(PROBE_TOPIC, b"ready")
        finally:
            await producer.stop()
        # And consumer groups: the first lookup of a coordinator creates
        # __consumer_offsets; it fails until that topic has loaded.
        await admin.find_coordinator(PROBE_TOPIC)
    finally:
        await admin.close()


def _run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to the end on a thread of its own (the caller may be in a loop)."""

    async def main() -> T:
        return await factory()

    with ThreadPoolExecutor(1, thread_name_prefix="kafka-probe") as pool:
        return pool.submit(asyncio.run, main()).result()


def _stop(process: subprocess.Popen[bytes], log_file: Path) -> None:
    """SIGTERM (a clean shutdown flushes the logs), SIGKILL if it takes too long."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _say(f"broker: Apache Kafka did not stop within {STOP_TIMEOUT:.0f} s, killed: {log_file}")
        process.kill()
        process.wait()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
