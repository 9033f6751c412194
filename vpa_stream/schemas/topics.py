"""The Kafka topics of the pipeline (names from one prefix) and their creation with kafka-python's admin client."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from vpa_stream.schemas.errors import VpaStreamError

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
BROKER_TIMEOUT_S = 120.0  # how long a stage rides out an unreachable broker before it stops (--broker-timeout)
RECONNECT_BACKOFF_MAX_MS = 2000  # kafka-python's default (30 s) would leave a restarted broker unused that long

T = TypeVar("T")


@dataclass(frozen=True)
class Topics:
    """bars (key = symbol), examples (key = symbol), dead letters (key = symbol or empty)."""

    prefix: str = "vpa."

    @property
    def bars(self) -> str:
        return f"{self.prefix}bars"

    @property
    def examples(self) -> str:
        return f"{self.prefix}examples"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}dead-letters"

    def all(self) -> list[str]:
        return [self.bars, self.examples, self.dead_letters]


class KafkaSetupError(VpaStreamError, RuntimeError):
    """The broker refused or could not be reached while setting up topics."""


class KafkaUnreachableError(KafkaSetupError):
    """No broker answered at the bootstrap address (worth retrying, unlike a refusal)."""


class BrokerUnavailableError(KafkaSetupError):
    """The broker stayed unreachable past a stage's deadline (``--broker-timeout``)."""

    def __init__(self, what: str, seconds: float, cause: BaseException | str) -> None:
        super().__init__(f"{what}: the Kafka broker has not answered for {seconds:g} s ({cause}); "
                         f"check that it is up, or raise --broker-timeout")
        self.seconds = seconds


class BrokerWatch:
    """Capped exponential backoff over broker failures, and the deadline past which a stage gives up.

    ``failed(exc)`` records a failure and raises ``BrokerUnavailableError`` once failures have lasted
    ``timeout_s`` without a success in between; ``ok()`` records a success; ``due()`` says whether the next
    retry may run now.
    """

    def __init__(self, what: str, timeout_s: float = BROKER_TIMEOUT_S, max_backoff_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.clock = clock
        self.failing_since: float | None = None
        self.backoff_s = 0.0
        self.next_try = 0.0

    def ok(self) -> None:
        if self.failing_since is not None:
            log.warning("%s: the broker answers again after %.1f s", self.what, self.clock() - self.failing_since)
        self.failing_since = None
        self.backoff_s = 0.0
        self.next_try = 0.0

    def failed(self, exc: BaseException) -> None:
        now = self.clock()
        if self.failing_since is None:
            self.failing_since = now
            log.warning("%s: broker unreachable, retrying for up to %g s: %s", self.what, self.timeout_s, exc)
        if now - self.failing_since >= self.timeout_s:
            raise BrokerUnavailableError(self.what, self.timeout_s, exc) from None
        self.backoff_s = min(self.max_backoff_s, max(0.1, 2 * self.backoff_s))
        self.next_try = now + self.backoff_s

    def due(self) -> bool:
        return self.clock() >= self.next_try

    def call(self, fn: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
        """``fn()`` retried on Kafka errors (and ``KafkaUnreachableError``) until it succeeds or the deadline
        passes; a refusal (any other ``KafkaSetupError``) is raised at once."""
        from kafka.errors import KafkaError

        while True:
            try:
                result = fn()
            except BrokerUnavailableError:
                raise
            except (KafkaError, KafkaUnreachableError, OSError) as exc:
                self.failed(exc)
                sleep(max(0.0, self.next_try - self.clock()))
                continue
            self.ok()
            return result


def quiet_client_logs(verbose: int) -> None:
    """The Kafka clients log every failed reconnect, some with a traceback: an outage would bury the one line
    that matters (``BrokerWatch``'s). Below ``-v`` they keep only their critical messages."""
    if verbose <= 0:
        for name in ("kafka", "aiokafka"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def create_topics(bootstrap: str, topics: Topics, partitions: int = 6, replication_factor: int = 1,
                  timeout_ms: int = 30_000, wait_s: float | None = None) -> dict[str, str]:
    """Create the pipeline's topics; existing ones are left as they are. Returns name -> created|exists.

    ``wait_s``: keep trying an unreachable broker that long (a stage started before its broker) before
    ``BrokerUnavailableError``; None tries once."""
    if wait_s is not None:
        return BrokerWatch(f"creating topics at {bootstrap}", wait_s).call(
            lambda: create_topics(bootstrap, topics, partitions, replication_factor, timeout_ms))
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vpa-stream-admin",
                                 request_timeout_ms=timeout_ms)
    except KafkaError as exc:
        raise KafkaUnreachableError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    try:
        spec = {name: {"num_partitions": partitions, "replication_factor": replication_factor}
                for name in topics.all()}
        result = admin.create_topics(spec, timeout_ms=timeout_ms, raise_errors=False, wait_for_metadata=True)
        status: dict[str, str] = {}
        for t in result.get("topics", []):
            code = t.get("error_code", 0)
            if code == 0:
                status[t["name"]] = "created"
            elif code == 36:  # TOPIC_ALREADY_EXISTS
                status[t["name"]] = "exists"
            else:
                raise KafkaSetupError(f"creating {t['name']}: error {code} {t.get('error_message')}")
        return status
    finally:
        admin.close()


def partitions_of(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[int]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="vpa-stream-meta")
    try:
        import time

        deadline = time.monotonic() + timeout_s
        while True:
            parts = consumer.partitions_for_topic(topic)
            if parts:
                return sorted(parts)
            if time.monotonic() > deadline:
                raise KafkaSetupError(f"topic {topic} has no partitions (does it exist?)")
            time.sleep(0.2)
    finally:
        consumer.close()
