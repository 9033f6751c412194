"""Pytest plugin: a real Apache Kafka broker for tests.

Register with ``pytest_plugins = ["tests.kafka_fixtures"]`` (top-level conftest).

Fixtures
--------
``kafka_bootstrap`` (session)
    ``"host:port"`` of a real broker, found in this order:

    1. env ``KAFKA_BOOTSTRAP_SERVERS`` (used as is, never stopped);
    2. testcontainers' Kafka module, if a Docker daemon answers a ping
       (image: env ``VPA_KAFKA_IMAGE``, default ``confluentinc/cp-kafka:8.0.0``,
       i.e. Kafka 4.0, KRaft; set ``VPA_KAFKA_DOCKER=0`` to skip this step);
    3. ``scripts/kafka-local start`` (Kafka 4.x from Maven Central jars, needs
       java 17+ and, the first time, mvn); stopped at the end of the session;
    4. otherwise the tests are skipped -- or fail when ``VPA_REQUIRE_KAFKA=1``.

``topic_prefix`` (function)
    A unique ``"t-<8 hex>-"`` prefix per test, to keep tests' topics apart.

``kafka_topics`` (function)
    ``kafka_topics({"in": 3, "out": 1})`` or ``kafka_topics(["a", "b"], partitions=2)``
    creates the topics *with the test's prefix* and returns the full names.

Helpers
-------
``create_topics(bootstrap, topics, partitions=1, ...)`` and
``delete_topics(bootstrap, names)`` use kafka-python's admin client.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import pytest

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_LOCAL = REPO_ROOT / "scripts" / "kafka-local"

DEFAULT_IMAGE = "confluentinc/cp-kafka:8.0.0"  # Confluent Platform 8.0 == Apache Kafka 4.0
HOW_TO_GET_A_BROKER = (
    "No Kafka broker available. Either export KAFKA_BOOTSTRAP_SERVERS=host:port, "
    "or run a Docker daemon (testcontainers), or install java 17+ and maven so that "
    "scripts/kafka-local can start a local Kafka 4.x broker "
    "(e.g. `apt-get install -y openjdk-17-jre-headless maven`). "
    "Set VPA_REQUIRE_KAFKA=1 to turn this skip into a failure."
)

TopicSpec = Mapping[str, int] | Iterable[str]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kafka: test needs a real Kafka broker (kafka_bootstrap fixture)")


# --------------------------------------------------------------------- helpers
def _unavailable(reason: str) -> None:
    msg = f"{HOW_TO_GET_A_BROKER}\nDetails: {reason}" if reason else HOW_TO_GET_A_BROKER
    if os.environ.get("VPA_REQUIRE_KAFKA") == "1":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def _docker_answers(timeout: float = 3.0) -> bool:
    """True if a Docker daemon answers a ping quickly; never hangs, never raises."""
    if os.environ.get("VPA_KAFKA_DOCKER", "1") == "0":
        return False
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _start_testcontainer() -> tuple[str, Callable[[], None]]:
    try:
        from testcontainers.community.kafka import KafkaContainer  # testcontainers >= 4.14
    except ImportError:  # older layout
        from testcontainers.kafka import KafkaContainer  # type: ignore[no-redef]

    image = os.environ.get("VPA_KAFKA_IMAGE", DEFAULT_IMAGE)
    container = KafkaContainer(image).with_kraft()
    container.start(timeout=120)
    return container.get_bootstrap_server(), container.stop


def _start_kafka_local() -> tuple[str, Callable[[], None]]:
    """Start scripts/kafka-local in a private run dir; raise RuntimeError on failure."""
    if not os.access(KAFKA_LOCAL, os.X_OK):
        raise RuntimeError(f"{KAFKA_LOCAL} missing or not executable")
    if shutil.which("java") is None:
        raise RuntimeError("java not found on PATH (scripts/kafka-local needs java 17+)")
    run_parent = Path(tempfile.mkdtemp(prefix="vpa-kafka-"))
    env = dict(os.environ)
    env["VPA_KAFKA_RUN_DIR"] = str(run_parent / "run")
    env["VPA_KAFKA_WATCH_PID"] = str(os.getpid())  # broker dies with this pytest process
    env.setdefault("PYTHON", sys.executable)
    cmd = [str(KAFKA_LOCAL)]

    def stop() -> None:
        try:
            subprocess.run(
                [*cmd, "stop"],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )
        finally:
            shutil.rmtree(run_parent, ignore_errors=True)

    try:
        proc = subprocess.run(
            [*cmd, "start"], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900, check=False
        )
    except subprocess.TimeoutExpired as exc:
        stop()
        raise RuntimeError(f"scripts/kafka-local start timed out: {exc}") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        stop()
        tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
        raise RuntimeError(f"scripts/kafka-local start failed (exit {proc.returncode}):\n{tail}")
    return lines[-1].strip(), stop


def _kafka_admin(bootstrap: str):
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vpa-tests-admin", request_timeout_ms=30000)


def create_topics(
    bootstrap: str,
    topics: TopicSpec,
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    configs: Mapping[str, str] | None = None,
    timeout_ms: int = 30000,
) -> list[str]:
    """Create topics (ignoring ones that already exist) and wait until they have leaders.

    ``topics`` is either ``{name: partitions}`` or an iterable of names (all with
    ``partitions`` partitions). ``configs`` (e.g. ``{"cleanup.policy": "compact"}``)
    applies to every topic. Returns the topic names.
    """
    if isinstance(topics, Mapping):
        wanted = {str(n): int(p) for n, p in topics.items()}
    else:
        if isinstance(topics, str):
            topics = [topics]
        wanted = {str(n): partitions for n in topics}
    if not wanted:
        return []
    spec = {
        name: {"num_partitions": parts, "replication_factor": replication_factor, "configs": dict(configs or {})}
        for name, parts in wanted.items()
    }
    admin = _kafka_admin(bootstrap)
    try:
        try:  # kafka-python >= 3: dict spec, per-topic results, wait for leaders
            result = admin.create_topics(spec, timeout_ms=timeout_ms, raise_errors=False, wait_for_metadata=True)
        except TypeError:  # kafka-python 2.x
            from kafka.admin import NewTopic
            from kafka.errors import TopicAlreadyExistsError

            for name, s in spec.items():
                try:
                    admin.create_topics(
                        [NewTopic(name, s["num_partitions"], replication_factor, topic_configs=s["configs"])],
                        timeout_ms=timeout_ms,
                    )
                except TopicAlreadyExistsError:
                    pass
            return list(wanted)
        errors = [
            f"{t['name']}: [{t['error_code']}] {t.get('error_message')}"
            for t in result.get("topics", [])
            if t.get("error_code") not in (0, 36)  # 36 = TOPIC_ALREADY_EXISTS
        ]
        if errors:
            raise RuntimeError("create_topics failed: " + "; ".join(errors))
    finally:
        admin.close()
    return list(wanted)


def delete_topics(bootstrap: str, names: Iterable[str], *, timeout_ms: int = 30000) -> None:
    """Delete topics, ignoring ones that do not exist."""
    names = list(names)
    if not names:
        return
    admin = _kafka_admin(bootstrap)
    try:
        try:
            admin.delete_topics(names, timeout_ms=timeout_ms, raise_errors=False)
        except TypeError:  # kafka-python 2.x
            from kafka.errors import UnknownTopicOrPartitionError

            try:
                admin.delete_topics(names, timeout_ms=timeout_ms)
            except UnknownTopicOrPartitionError:
                pass
    finally:
        admin.close()


# -------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address ``host:port`` of a real Kafka broker (see module doc)."""
    env_bs = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if env_bs:
        yield env_bs
        return

    problems: list[str] = []
    started: tuple[str, Callable[[], None]] | None = None

    if _docker_answers():
        try:
            started = _start_testcontainer()
        except Exception as exc:
            problems.append(f"testcontainers Kafka failed: {exc!r}")
            log.warning("testcontainers Kafka failed, trying scripts/kafka-local: %r", exc)
    else:
        problems.append("no Docker daemon answered")

    if started is None:
        try:
            started = _start_kafka_local()
        except Exception as exc:
            problems.append(str(exc))

    if started is None:
        _unavailable("\n".join(problems))
        return  # unreachable: skip/fail raise

    bootstrap, stop = started
    try:
        yield bootstrap
    finally:
        stop()


@pytest.fixture
def topic_prefix() -> str:
    """A unique prefix per test, e.g. ``t-1a2b3c4d-``."""
    return f"t-{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def kafka_topics(kafka_bootstrap: str, topic_prefix: str) -> Callable[..., list[str]]:
    """Factory: create topics named ``topic_prefix + name``; returns the full names."""

    def make(topics: TopicSpec, **kwargs) -> list[str]:
        if isinstance(topics, Mapping):
            named: TopicSpec = {topic_prefix + n: p for n, p in topics.items()}
        else:
            named = [topic_prefix + n for n in ([topics] if isinstance(topics, str) else topics)]
        return create_topics(kafka_bootstrap, named, **kwargs)

    return make
