"""The Faust worker's data directory stays out of the working tree (no broker needed to build the app)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from vpa_stream.processors.faust_app import build_app
from vpa_stream.schemas.topics import Topics


def test_the_worker_data_directory_defaults_to_the_temp_dir_and_follows_datadir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APP_DATADIR", raising=False)
    default = build_app("127.0.0.1:9", Topics("t-datadir-"))
    assert Path(default.conf.datadir).is_absolute()
    assert Path(default.conf.datadir).parent == Path(tempfile.gettempdir()) / "vpa-stream"
    chosen = build_app("127.0.0.1:9", Topics("t-datadir-"), datadir=tmp_path / "state" / "processor-data")
    assert Path(chosen.conf.datadir) == tmp_path / "state" / "processor-data"
    assert os.listdir(tmp_path) == ["state"]  # nothing named after the app in the working directory


def test_a_long_batch_hands_the_event_loop_back_so_heartbeats_keep_their_interval() -> None:
    """The agent's pacer: CPU-bound work that calls ``pause()`` lets other tasks (aiokafka's heartbeat) run
    within a few ``yield_every_s`` (a wake-up after a timer takes two loop turns); without it they would wait
    the whole second of work."""
    import asyncio
    import time
    from itertools import pairwise

    from vpa_stream.processors.faust_app import Pacer

    async def scenario() -> tuple[float, int]:
        ticks: list[float] = []

        async def heartbeat() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)
        pacer = Pacer(yield_every_s=0.05)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:  # a second of engine work, bar by bar
            sum(range(2000))
            await pacer.pause()
        beat.cancel()
        return max(b - a for a, b in pairwise(ticks)), len(ticks)

    longest_gap, beats = asyncio.run(scenario())
    assert beats >= 4 and longest_gap < 0.5


def test_the_ring_store_knows_which_changelog_offsets_it_holds_and_forgets_a_partition_it_lost() -> None:
    """So a rebalance reads only the changelog records after what the worker holds, and a partition that comes
    back after another worker owned it is read in full again."""
    import asyncio
    from types import SimpleNamespace

    from faust.types import TP

    app = build_app("127.0.0.1:9", Topics("t-store-"))
    store = app.tables["bar-windows"].data
    changelog = "t-store-processor-bar-windows-changelog"
    events = [SimpleNamespace(key=f"k{i}".encode(), value=b"v",
                              message=SimpleNamespace(tp=TP(changelog, i % 2), partition=i % 2, offset=10 + i,
                                                      value=b"v"))
              for i in range(6)]
    store.apply_changelog_batch(events, lambda k: k, lambda v: v)
    assert store.persisted_offset(TP(changelog, 0)) == 14 and store.persisted_offset(TP(changelog, 1)) == 15
    store.set_persisted_offset(TP(changelog, 0), 40)  # the agent's own ring records, acknowledged
    assert store.persisted_offset(TP(changelog, 0)) == 40
    asyncio.run(store.on_recovery_completed({TP(changelog, 0)}, set()))
    assert store.persisted_offset(TP(changelog, 0)) == 40
    assert store.persisted_offset(TP(changelog, 1)) is None  # its recovered keys were dropped with it
    assert b"k1" not in store.data and b"k0" in store.data


def test_a_produce_the_broker_never_acknowledges_ends_at_the_deadline_with_one_line() -> None:
    import asyncio

    from vpa_stream.processors.faust_app import BatchProducer
    from vpa_stream.schemas.topics import BrokerUnavailableError

    class Unanswered:  # aiokafka's producer while the broker is away: the batch waits in its accumulator
        def create_batch(self):
            class Batch:
                def append(self, key, value, timestamp):
                    return object()

            return Batch()

        async def send_batch(self, batch, topic, partition):
            return asyncio.get_running_loop().create_future()  # never resolved

    producer = BatchProducer(app=None, broker_timeout_s=0.2)

    async def send() -> None:
        await producer._send_partition(Unanswered(), "t.examples", 0, [(b"IBM", b"example")])

    with pytest.raises(BrokerUnavailableError, match=r"producing to t\.examples\[0\].*0\.2 s") as caught:
        asyncio.run(send())
    assert "\n" not in str(caught.value)


def test_a_gap_in_a_bars_partition_is_refused_also_across_a_rebalance_that_kept_the_partition() -> None:
    from faust.types import TP

    from vpa_stream.processors.faust_rebalance import OffsetGuard, RecordsSkippedError

    bars0, bars1 = TP("t.bars", 0), TP("t.bars", 1)
    guard = OffsetGuard()
    for offset in (40, 41, 42, 38, 39, 40, 41, 42, 43):  # a seek back to the committed offset is a redelivery
        guard.check(bars0, offset)
    guard.revoked()
    guard.assigned({bars0, bars1})  # kept: nobody else owned it in between
    guard.check(bars0, 44)
    guard.check(bars1, 900)  # newly assigned: wherever its committed offset is
    with pytest.raises(RecordsSkippedError, match=r"skipped records 45\.\.46 of t\.bars\[0\]"):
        guard.check(bars0, 47)
    guard.revoked()
    guard.assigned({bars1})
    guard.revoked()
    guard.assigned({bars0, bars1})  # back after another worker owned it: no mark
    guard.check(bars0, 5000)
