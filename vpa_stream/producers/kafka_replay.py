"""Replay to Kafka: the embedded pipeline's time-ordered bars, Avro-encoded, to the bars topic (key = symbol).

The producer is idempotent with acks=all, so a retried send never duplicates a bar in the log. Through a broker
outage it keeps retrying (in order) for up to ``broker_timeout_s``; a bar still unacknowledged then ends the
replay with ``BrokerUnavailableError`` (one line), never silently: every send's outcome is checked. ``speed`` 0
sends as fast as possible; ``speed`` N paces all symbols on one global clock at N× real time: a bar whose
close is d seconds after the first bar's close is sent d / N seconds after the start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from vpa_stream.producers.replay import bars_of
from vpa_stream.producers.sources.base import Source
from vpa_stream.schemas.codec import Codec, default_codec
from vpa_stream.schemas.models import Bar
from vpa_stream.schemas.records import DeadLetter
from vpa_stream.schemas.topics import (
    BROKER_TIMEOUT_S,
    RECONNECT_BACKOFF_MAX_MS,
    BrokerUnavailableError,
    KafkaSetupError,
    Topics,
)

log = logging.getLogger(__name__)


@dataclass
class ReplaySummary:
    bars: int = 0
    rejected: int = 0
    seconds: float = 0.0
    per_topic: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        rate = self.bars / self.seconds if self.seconds > 0 else 0.0
        return [f"bars sent      {self.bars:,}", f"rejected       {self.rejected:,} (sent to the dead-letter topic)",
                f"seconds        {self.seconds:.2f}", f"bars/s         {rate:,.0f}"]


def make_producer(bootstrap: str, broker_timeout_s: float = BROKER_TIMEOUT_S, **overrides: object) -> object:
    from kafka import KafkaProducer

    config: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "client_id": "vpa-stream-replay",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "compression_type": None,
        "delivery_timeout_ms": int(broker_timeout_s * 1000),  # how long a bar may wait through an outage
        "max_block_ms": int(broker_timeout_s * 1000),  # send() waits that long for metadata or buffer room
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
    }
    config.update(overrides)
    return KafkaProducer(**config)


class BarPublisher:
    """Sends bars and dead letters to their topics. One instance per process; flush() before exiting."""

    def __init__(self, producer: object, topics: Topics, codec: Codec | None = None,
                 broker_timeout_s: float = BROKER_TIMEOUT_S) -> None:
        self.producer = producer
        self.topics = topics
        self.codec = codec or default_codec()
        self.broker_timeout_s = broker_timeout_s
        self.failure: BaseException | None = None  # the first send the producer gave up on

    def _send(self, topic: str, key: bytes, value: bytes) -> None:
        from kafka.errors import KafkaError

        self._raise_failure()
        try:
            future = self.producer.send(topic, key=key, value=value)  # type: ignore[attr-defined]
        except KafkaError as exc:
            self.failure = exc
            self._raise_failure()
        future.add_errback(self._failed)

    def _failed(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc

    def _raise_failure(self) -> None:
        """A timeout means the broker stayed away past the deadline; anything else is the broker's refusal."""
        from kafka.errors import KafkaTimeoutError

        exc = self.failure
        if exc is None:
            return
        if isinstance(exc, KafkaTimeoutError):
            raise BrokerUnavailableError(f"replay: sending to {self.topics.bars}", self.broker_timeout_s,
                                         exc) from exc
        raise KafkaSetupError(f"replay: the broker refused bars for {self.topics.bars}: {exc}") from exc

    def bar(self, bar: Bar) -> None:
        self._send(self.topics.bars, bar.symbol.encode(), self.codec.encode("bar", bar.to_record()))

    def dead_letter(self, letter: DeadLetter) -> None:
        self._send(self.topics.dead_letters, letter.symbol.encode(),
                   self.codec.encode("dead_letter", letter.to_record()))

    def flush(self) -> None:
        """Wait until every bar sent so far is acknowledged; raise if the producer gave up on any."""
        self.producer.flush()  # type: ignore[attr-defined]
        self._raise_failure()


def replay_to_kafka(
    sources: Iterable[Source],
    publisher: BarPublisher,
    speed: float = 0.0,
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    require: Iterable[str] = (),
) -> ReplaySummary:
    """Send every bar of ``sources`` in replay order; ``require``: timeframes a source must supply (the run's
    primary and the context it asked for), checked before the first bar is sent."""
    if speed < 0:
        raise ValueError("speed must be 0 (as fast as possible) or positive")
    summary = ReplaySummary()
    started = time.perf_counter()

    def dead(letter: DeadLetter) -> None:
        summary.rejected += 1
        publisher.dead_letter(letter)

    wall0: float | None = None
    event0 = 0
    for bar in bars_of(sources, dead, require):
        if speed > 0:
            if wall0 is None:
                wall0, event0 = monotonic(), bar.close_time
            due = wall0 + (bar.close_time - event0) / 1000.0 / speed
            delay = due - monotonic()
            if delay > 0:
                publisher.flush()  # what is due now should be visible now, not after the pause
                sleep(delay)
        publisher.bar(bar)
        summary.bars += 1
        if progress is not None and summary.bars % 1024 == 0:
            progress(1024)
    publisher.flush()
    if progress is not None:
        progress(summary.bars % 1024)
    summary.seconds = time.perf_counter() - started
    return summary
