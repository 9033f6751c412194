"""The Kafka topics of the pipeline (names from one prefix) and their creation with kafka-python's admin client."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


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


class KafkaSetupError(RuntimeError):
    """The broker refused or could not be reached while setting up topics."""


def create_topics(bootstrap: str, topics: Topics, partitions: int = 6, replication_factor: int = 1,
                  timeout_ms: int = 30_000) -> dict[str, str]:
    """Create the pipeline's topics; existing ones are left as they are. Returns name -> created|exists."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vpa-stream-admin",
                                 request_timeout_ms=timeout_ms)
    except KafkaError as exc:
        raise KafkaSetupError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
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
