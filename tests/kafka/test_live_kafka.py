"""Live mode on a real broker: the poller publishes each closed bar once, resumes from the bars topic, and
the Kafka pipeline grows the same dataset as the embedded backfill; the sink makes a steady stream durable
within ``max_file_age_s``.

The market is the simulated one of tests/producers/test_live.py (real daily bars revealed by a simulated
clock, a forming bar served during each session, outages), so the poller runs months in seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kafka.test_pipeline import Stage, dataset, wait_for_lines
from tests.producers.test_live import CFG, OPTIONS, SimulatedMarket, after, backfill
from tests.realdata import symbol_bars
from vpa_stream.live_pipeline import run_kafka
from vpa_stream.producers.clock import SimulatedClock
from vpa_stream.producers.kafka_replay import make_producer
from vpa_stream.producers.live import kafka_resume_state
from vpa_stream.producers.replay import bars_of, replay
from vpa_stream.producers.sources.base import SourceOptions
from vpa_stream.producers.sources.yfinance import YFinanceSource
from vpa_stream.schemas.codec import default_codec
from vpa_stream.schemas.models import Bar
from vpa_stream.schemas.topics import Topics, create_topics
from vpa_stream.sinks.dataset import SinkOptions
from vpa_stream.sinks.kafka_sink import KafkaDatasetSink

pytestmark = pytest.mark.kafka

PARTITIONS = 3
SYMBOLS = ["AAPL", "IBM"]  # AAPL's 2-for-1 split of June 2000 falls in the live part


@pytest.fixture(scope="module")
def bars() -> list[Bar]:
    series = [iter(symbol_bars(s)[:300]) for s in SYMBOLS]
    return list(replay(series, lambda d: None))


def backfill_bars(bars: list[Bar], at_ms: int) -> list[Bar]:
    """What a backfill through the yfinance source reads from the market at ``at_ms``."""
    market = SimulatedMarket(bars, SimulatedClock(at_ms))
    source = YFinanceSource(SourceOptions(timeframe="1d", symbols=tuple(SYMBOLS)), download=market.download)
    return [b for b in bars_of([source], lambda d: None) if b.close_time <= at_ms]


def topic_bars(bootstrap: str, topic: str) -> list[Bar]:
    """Every bar in the topic, partition by partition, in offset order."""
    from kafka import KafkaConsumer, TopicPartition

    codec = default_codec()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[Bar] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, "timed out reading the bars topic"
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(Bar.from_record(codec.decode(r.value, expect="bar")[1]) for r in records)
        return out
    finally:
        consumer.close()


def assert_each_series_strictly_ascending(published: list[Bar]) -> None:
    last: dict[str, int] = {}
    for bar in published:  # offset order within a partition; a symbol lives in one partition
        assert bar.close_time > last.get(bar.symbol, -1), f"duplicate or out of order: {bar}"
        last[bar.symbol] = bar.close_time


def test_the_poller_publishes_each_closed_bar_once_and_resumes_from_the_bars_topic(
        kafka_bootstrap: str, topic_prefix: str, bars: list[Bar]) -> None:
    topics = Topics(topic_prefix)
    create_topics(kafka_bootstrap, topics, PARTITIONS)
    clock = SimulatedClock(after(bars[199]))
    market = SimulatedMarket(bars, clock, outages=[(after(bars[250], -2), after(bars[262], 2))])
    stop_at = after(bars[399], 5)  # evening: the next session's bar is not open yet
    first = run_kafka(SYMBOLS, "1d", kafka_bootstrap, topic_prefix, cfg=CFG, clock=clock,
                      download=market.download, options=OPTIONS, until_ms=stop_at)
    published = topic_bars(kafka_bootstrap, topics.bars)
    assert first.failures > 0  # the outage was retried
    assert first.emitted == len(published)
    assert_each_series_strictly_ascending(published)
    assert sorted(published, key=Bar.replay_key) == backfill_bars(bars, stop_at)
    resumed = kafka_resume_state(kafka_bootstrap, topics.bars)
    assert resumed == {(s, "1d"): max(b.close_time for b in published if b.symbol == s) for s in SYMBOLS}

    # a new process, started mid-session after some days down: it warms from the topic's marks, publishes
    # the bars closed while it was down, never the forming one, and then keeps going
    clock.advance_to(after(bars[430], -3))
    second = run_kafka(SYMBOLS, "1d", kafka_bootstrap, topic_prefix, cfg=CFG, clock=clock,
                       download=market.download, options=OPTIONS, until_ms=after(bars[-1]))
    everything = topic_bars(kafka_bootstrap, topics.bars)
    assert second.warmed > 0 and second.emitted == len(everything) - len(published)
    assert market.partial_served > 0  # the restart's first poll was offered the forming bar, and left it
    assert_each_series_strictly_ascending(everything)
    assert sorted(everything, key=Bar.replay_key) == backfill_bars(bars, after(bars[-1]))
    assert not topic_bars(kafka_bootstrap, topics.dead_letters)


@pytest.fixture
def stages(tmp_path: Path) -> Iterator[list[Stage]]:
    started: list[Stage] = []
    yield started
    for stage in started:
        stage.stop()


def test_live_kafka_pipeline_grows_the_dataset_of_the_embedded_backfill(
        kafka_bootstrap: str, topic_prefix: str, bars: list[Bar], tmp_path: Path, stages: list[Stage]) -> None:
    expected = tmp_path / "expected"
    backfill(bars, expected, after(bars[-1]))
    reference = dataset(expected)
    topics = Topics(topic_prefix)
    create_topics(kafka_bootstrap, topics, PARTITIONS)
    common = ["--bootstrap-servers", kafka_bootstrap, "--topic-prefix", topic_prefix]
    out = tmp_path / "out"
    stages.append(Stage("process", *common, "--partitions", str(PARTITIONS), "--datadir",
                        str(tmp_path / "process-data"), log=tmp_path / "process.log", supervised=True))
    # idle commits effectively off: under the live stream the files are committed by age alone
    stages.append(Stage("sink", *common, "--out", str(out), "--idle-commit", "600", log=tmp_path / "sink.log"))
    clock = SimulatedClock(after(bars[199]))
    market = SimulatedMarket(bars, clock)
    run_kafka(SYMBOLS, "1d", kafka_bootstrap, topic_prefix, cfg=CFG, clock=clock, download=market.download,
              options=OPTIONS, until_ms=after(bars[400], 5))
    clock.advance_to(after(bars[410], -3))  # restart of the poller mid-session
    run_kafka(SYMBOLS, "1d", kafka_bootstrap, topic_prefix, cfg=CFG, clock=clock, download=market.download,
              options=OPTIONS, until_ms=after(bars[-1]))
    wait_for_lines(out, len(reference), timeout=180)
    time.sleep(2)  # anything beyond the expected count would be a duplicate
    assert dataset(out) == reference


def example_payloads(tmp_path: Path, n: int) -> list[tuple[str, bytes]]:
    """(id, Avro payload) of ``n`` real examples, from a small embedded backfill."""
    out = tmp_path / "source"
    ibm = symbol_bars("IBM")[: CFG.warmup_bars + n - 1]
    backfill(ibm, out, after(ibm[-1]))
    codec = default_codec()
    records = [json.loads(line) for line in dataset(out)]
    assert len(records) == n
    return [(r["id"], codec.encode("example", r)) for r in records]


def committed_ids(out: Path) -> set[str]:
    """Ids in renamed (committed) example files; temporaries start with '.tmp-' and are not matched."""
    return {json.loads(line)["id"] for f in out.glob("examples-*.jsonl") for line in f.read_text().splitlines()}


def test_under_a_steady_stream_the_sink_commits_files_by_age(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    from kafka import KafkaConsumer, TopicPartition

    topics = Topics(topic_prefix)
    create_topics(kafka_bootstrap, topics, 1)
    payloads = example_payloads(tmp_path, 40)
    out = tmp_path / "out"
    sink = KafkaDatasetSink(kafka_bootstrap, topics, out, SinkOptions(), idle_commit_s=600, max_file_age_s=0.5)
    done = threading.Event()
    thread = threading.Thread(target=sink.run, kwargs={"stop": done.is_set}, daemon=True)
    thread.start()
    producer = make_producer(kafka_bootstrap, linger_ms=0)
    sent: dict[str, float] = {}
    durable: dict[str, float] = {}

    def watch(until: float, enough: int | None = None) -> None:
        """Record when each id first shows up in a committed file, polling every 10 ms."""
        while time.monotonic() < until and (enough is None or len(durable) < enough):
            now = time.monotonic()
            for ready in committed_ids(out) - durable.keys():
                durable[ready] = now
            time.sleep(0.01)

    try:
        for example_id, payload in payloads:  # one example every 100 ms: never idle for the sink
            producer.send(topics.examples, key=b"IBM", value=payload)  # type: ignore[attr-defined]
            producer.flush()  # type: ignore[attr-defined]
            sent[example_id] = time.monotonic()
            watch(time.monotonic() + 0.1)
        watch(time.monotonic() + 10, enough=len(payloads))
    finally:
        done.set()
        thread.join(30)
        producer.close()  # type: ignore[attr-defined]
    assert set(durable) == set(sent)
    waits = sorted(durable[i] - sent[i] for i in sent)
    assert waits[-1] < 1.5, f"an example waited {waits[-1]:.2f} s (max_file_age_s=0.5)"
    files = sorted(out.glob("examples-*.jsonl"))
    assert len(files) > 3  # several age-based commits while the stream ran, not one at the end
    assert dataset(out) == dataset(tmp_path / "source")
    # step 5 of the commit order: Kafka's committed offset covers exactly what the files hold
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=f"{topics.prefix}sink",
                             enable_auto_commit=False)
    try:
        assert consumer.committed(TopicPartition(topics.examples, 0)) == len(payloads)
    finally:
        consumer.close()
