"""The Faust wiring of the processor: bars topic -> StreamProcessor (changelog-backed table) -> examples topic.

Thin by design: all logic is in ``processors.stream`` and the pure engine. Deliberately no windowed tables:
Faust windows expire by wall clock, which is wrong for replayed history; the table here is a plain
changelog-backed Table holding each series' ring buffer of raw bars, co-partitioned with the bars topic
(key = symbol), so a rebalanced partition brings its symbols' state along.
"""

from __future__ import annotations

import logging
from typing import Any

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.stage import Encoded
from vpa_stream.processors.stream import StreamProcessor
from vpa_stream.producers.validate import DeadLetter
from vpa_stream.schemas.codec import default_codec
from vpa_stream.schemas.topics import Topics

log = logging.getLogger(__name__)


def build_app(bootstrap: str, topics: Topics, cfg: VPAConfig | None = None, partitions: int = 6,
              app_id: str | None = None, commit_interval_s: float = 0.5) -> Any:
    """A Faust app with one agent; run it with ``run_worker`` (or ``faust.Worker(app)``)."""
    import faust

    codec = default_codec()
    app = faust.App(
        app_id or f"{topics.prefix}processor",
        broker=f"kafka://{bootstrap}",
        store="memory://",  # recovered from the changelog topic on start: the changelog is the state
        topic_partitions=partitions,
        topic_replication_factor=1,
        web_enabled=False,
        broker_session_timeout=6.0,  # a killed worker's partitions move on within seconds
        broker_heartbeat_interval=1.0,
        broker_commit_interval=commit_interval_s,
        producer_acks=-1,
        key_serializer="raw",
        value_serializer="raw",
    )
    bars = app.topic(topics.bars, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    examples = app.topic(topics.examples, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw")
    dead_letters = app.topic(topics.dead_letters, key_type=bytes, value_type=bytes, key_serializer="raw",
                             value_serializer="raw")
    # keys and values are bytes with the app's raw serializers
    table = app.Table("bar-windows", default=None, key_type=bytes, value_type=bytes, partitions=partitions)
    # Table writes are queued in Faust's producer buffer; past 100 queued records (its default) the stream
    # pauses until they drain one by one, which made a 2-core machine idle half the time. Let it queue more.
    app.producer.buffer.max_messages = 20_000
    processor = StreamProcessor(table, cfg, codec)
    app.vpa_processor = processor  # type: ignore[attr-defined]

    @app.on_partitions_revoked.connect
    async def on_revoked(app: Any, revoked: Any, **kwargs: Any) -> None:
        processor.forget()  # the table is the truth: engines are rebuilt from it on next use

    @app.agent(bars)
    async def process(stream: Any) -> None:
        async for payload in stream:
            result = processor.process(bytes(payload))
            if isinstance(result, Encoded):
                await examples.send(key=result.key.encode(), value=result.payload)
            elif isinstance(result, DeadLetter):
                await dead_letters.send(key=result.symbol.encode(),
                                        value=codec.encode("dead_letter", result.to_record()))

    return app


def run_worker(app: Any, loglevel: str = "WARNING") -> None:
    """Run a worker until SIGTERM/SIGINT (blocking); offsets are committed on a clean stop."""
    import faust

    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()
