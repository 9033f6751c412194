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


@pytest.mark.slow
def test_a_killed_broker_restarts_on_its_data_with_start_keep(tmp_path) -> None:
    """``kill`` is a kill -9 that keeps the run dir; ``start --keep`` brings the broker back on the same port
    with its topics and records; ``restart`` does the same after a clean stop; ``stop`` removes the run dir."""
    import os
    import shutil
    import subprocess
    import sys

    from kafka import KafkaConsumer, KafkaProducer

    from tests.kafka_fixtures import KAFKA_LOCAL

    if shutil.which("java") is None:
        if os.environ.get("VPA_REQUIRE_KAFKA") == "1":
            pytest.fail("java is needed for scripts/kafka-local")
        pytest.skip("java is needed for scripts/kafka-local")
    env = dict(os.environ, VPA_KAFKA_RUN_DIR=str(tmp_path / "run"), VPA_KAFKA_WATCH_PID=str(os.getpid()),
               PYTHON=sys.executable)

    def local(*args: str) -> str:
        done = subprocess.run([str(KAFKA_LOCAL), *args], env=env, capture_output=True, text=True, timeout=300,
                              check=False, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def read_all(bootstrap: str) -> list[bytes]:
        consumer = KafkaConsumer("kept", bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                 consumer_timeout_ms=20000)
        try:
            return [m.value for m in consumer]
        finally:
            consumer.close()

    bootstrap = local("start")
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        producer.send("kept", b"before the kill").get(30)
        producer.close()
        local("kill")
        assert (tmp_path / "run" / "data").is_dir()
        assert local("start", "--keep") == bootstrap
        assert read_all(bootstrap) == [b"before the kill"]
        assert local("restart") == bootstrap
        assert read_all(bootstrap) == [b"before the kill"]
    finally:
        local("stop")
    assert not (tmp_path / "run").exists()
