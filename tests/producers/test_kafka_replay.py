"""The replay's publisher never loses a bar silently: a send the producer gave up on ends the replay."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from vpa_stream.producers.kafka_replay import BarPublisher
from vpa_stream.schemas.topics import BrokerUnavailableError, KafkaSetupError, Topics


class Future:
    def __init__(self) -> None:
        self.errbacks: list = []

    def add_errback(self, f) -> None:
        self.errbacks.append(f)


class Producer:
    """kafka-python's producer as the publisher sees it: send() returns a future, flush() waits."""

    def __init__(self) -> None:
        self.futures: list[Future] = []

    def send(self, topic: str, key: bytes, value: bytes) -> Future:
        self.futures.append(Future())
        return self.futures[-1]

    def flush(self) -> None:
        pass


@pytest.mark.parametrize(("failure", "error", "words"), [
    (KafkaTimeoutError("batch expired"), BrokerUnavailableError, "has not answered for 5 s"),
    (MessageSizeTooLargeError("too big"), KafkaSetupError, "refused bars"),
])
def test_a_bar_the_producer_gave_up_on_ends_the_replay_with_one_line(failure, error, words) -> None:
    producer = Producer()
    publisher = BarPublisher(producer, Topics("t."), broker_timeout_s=5)
    publisher._send("t.bars", b"IBM", b"bar")
    publisher.flush()  # nothing failed yet
    producer.futures[0].errbacks[0](failure)  # the producer's sender thread gives up on it later
    with pytest.raises(error, match=words) as caught:
        publisher.flush()
    assert "\n" not in str(caught.value)
    with pytest.raises(error):  # and no later bar is sent as if nothing had happened
        publisher._send("t.bars", b"IBM", b"next bar")
    assert len(producer.futures) == 1
