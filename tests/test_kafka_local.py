"""Smoke test of the real-broker fixture: one message there and back."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.kafka


def test_produce_and_consume_one_message(kafka_bootstrap: str, kafka_topics) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    (topic,) = kafka_topics({"smoke": 1})
    payload = uuid.uuid4().bytes

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    try:
        meta = producer.send(topic, key=b"k", value=payload).get(timeout=30)
    finally:
        producer.close()
    assert meta.topic == topic
    assert meta.offset == 0

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=30000,
    )
    try:
        got = next(iter(consumer))
    finally:
        consumer.close()
    assert (got.key, got.value, got.offset) == (b"k", payload, 0)
