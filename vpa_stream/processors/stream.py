"""The stateful stream step of the Kafka processor, independent of Faust: bar bytes in, examples out.

State lives in a key-value table (a Faust Table backed by a compacted changelog topic, or a plain dict in
tests) as one ring buffer of raw Avro bars per (symbol, timeframe): key ``SYMBOL|TF|slot`` holds the bar
number ``seq`` (at slot ``seq % capacity``) with its sequence number, so each bar costs one small changelog
record, never the whole window. Because the engine is pure (DOMAIN §1), a restarted or rebalanced worker
rebuilds a symbol's engine once, from the last ``history_bars`` bars of each of its rings, and then produces
the same bytes as the worker that never stopped.

A bar at or before its series' last stored close time is a redelivery (at-least-once consumption after a
crash) or a revision. The ring record of a bar is written only after its example is durable (the order of
``faust_app``), so a bar found in the ring already has its example: it is skipped in O(1) (a dict lookup and a
byte comparison), never recomputed. A different bar for a stored close time is a revision and goes to the dead
letters, as does a bar older than the ring or between two stored bars (out of order).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.stage import Encoded, ExampleStage
from vpa_stream.schemas.codec import Codec, DecodeError, default_codec
from vpa_stream.schemas.models import TIMEFRAME_SECONDS, Bar, iso_utc
from vpa_stream.schemas.records import DeadLetter, check_bar, payload_text

log = logging.getLogger(__name__)

Table = MutableMapping[bytes, Any]

RESTORE_STEP_BARS = 64  # bars replayed between two yields of ``restore_steps``


def history_bars(cfg: VPAConfig, timeframe: str) -> int:
    """Bars of ``timeframe`` a fresh engine needs to reproduce the next example: the window of the timeframe
    and of every timeframe derived from it (a weekly window of daily bars spans seven times as many days)."""
    own = TIMEFRAME_SECONDS[timeframe]
    derived = dict(cfg.derive_timeframes).get(timeframe, ())
    ratio = max([TIMEFRAME_SECONDS[htf] // own for htf in derived] + [1])
    return cfg.window_bars * ratio + ratio  # one more period: the first derived period is always dropped


class _CloseIndex:
    """Close time -> sequence number of the bars one ring holds, oldest evicted as the ring wraps."""

    __slots__ = ("capacity", "order", "seq_of")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.seq_of: dict[int, int] = {}
        self.order: deque[int] = deque()

    def add(self, close_time: int, seq: int) -> None:
        self.seq_of[close_time] = seq
        self.order.append(close_time)
        if len(self.order) > self.capacity:
            self.seq_of.pop(self.order.popleft(), None)


class BarRing:
    """Ring buffers of raw bar payloads per (symbol, timeframe) in a key-value table of bytes to bytes.

    A slot's value is the bar's 8-byte sequence number followed by its payload, so one bar is one table
    write (one changelog record); the next sequence number is kept in memory and found again on restore as
    the highest one stored. An index of close times is built only when a series first sees a redelivered
    bar, so the new-bar path stays one table write.
    """

    def __init__(self, table: Table, cfg: VPAConfig, codec: Codec | None = None) -> None:
        self.table = table
        self.cfg = cfg
        self.codec = codec or default_codec()
        self.heads: dict[tuple[str, str], int] = {}
        self._timeframes: dict[str, list[str]] = {}  # read-through cache of the table's timeframe lists
        self._capacity: dict[str, int] = {}
        self._index: dict[tuple[str, str], _CloseIndex] = {}

    def capacity(self, timeframe: str) -> int:
        """Twice the history: room to tell a late redelivery from a bar out of order."""
        cap = self._capacity.get(timeframe)
        if cap is None:
            cap = self._capacity[timeframe] = 2 * history_bars(self.cfg, timeframe)
        return cap

    def timeframes(self, symbol: str) -> list[str]:
        tfs = self._timeframes.get(symbol)
        if tfs is None:
            raw = self.table.get(f"{symbol}|timeframes".encode())
            tfs = self._timeframes[symbol] = bytes(raw).decode().split(",") if raw else []
        return tfs

    def _key(self, symbol: str, timeframe: str, seq: int) -> bytes:
        return f"{symbol}|{timeframe}|{seq % self.capacity(timeframe)}".encode()

    def slots(self, symbol: str, timeframe: str) -> list[tuple[int, bytes]]:
        """``(seq, payload)`` of every stored bar of one series, oldest first (one read of each slot)."""
        out = []
        for slot in range(self.capacity(timeframe)):
            value = self.table.get(f"{symbol}|{timeframe}|{slot}".encode())
            if value is not None:
                value = bytes(value)
                out.append((int.from_bytes(value[:8], "big"), value[8:]))
        out.sort()
        self.heads[(symbol, timeframe)] = out[-1][0] + 1 if out else 0
        return out

    def head(self, symbol: str, timeframe: str) -> int:
        seq = self.heads.get((symbol, timeframe))
        if seq is None:
            self.slots(symbol, timeframe)
            seq = self.heads[(symbol, timeframe)]
        return seq

    def append(self, bar: Bar, payload: bytes) -> None:
        tfs = self.timeframes(bar.symbol)
        if bar.timeframe not in tfs:
            tfs = self._timeframes[bar.symbol] = [*tfs, bar.timeframe]
            self.table[f"{bar.symbol}|timeframes".encode()] = ",".join(tfs).encode()
        series = (bar.symbol, bar.timeframe)
        seq = self.head(*series)
        self.table[self._key(bar.symbol, bar.timeframe, seq)] = seq.to_bytes(8, "big") + payload
        self.heads[series] = seq + 1
        index = self._index.get(series)
        if index is not None:
            index.add(bar.close_time, seq)

    def stored(self, bar: Bar) -> bytes | None:
        """The payload stored for ``bar``'s series and close time, if the ring still holds one."""
        series = (bar.symbol, bar.timeframe)
        index = self._index.get(series)
        if index is None:  # built once per series (O(capacity) reads and decodes), then kept up to date
            index = self._index[series] = _CloseIndex(self.capacity(bar.timeframe))
            for seq, payload in self.slots(*series):
                index.add(int(self.codec.decode(payload, expect="bar")[1]["close_time"]), seq)
        found = index.seq_of.get(bar.close_time)
        if found is None:
            return None
        value = self.table.get(self._key(bar.symbol, bar.timeframe, found))
        return bytes(value)[8:] if value is not None else None

    def forget(self) -> None:
        self.heads.clear()
        self._timeframes.clear()
        self._index.clear()


class StreamProcessor:
    """Bar payloads in, ``Encoded`` examples and ``DeadLetter``s out, with the state in ``table``.

    ``primary_timeframes`` as in ``Engine``: the timeframes that make examples (None: every one).
    """

    def __init__(self, table: Table, cfg: VPAConfig | None = None, codec: Codec | None = None,
                 primary_timeframes: Iterable[str] | None = None) -> None:
        self.cfg = cfg or VPAConfig()
        self.codec = codec or default_codec()
        self.ring = BarRing(table, self.cfg, self.codec)
        self.stage = ExampleStage(self.cfg, self.codec, primary_timeframes)
        self.loaded: set[str] = set()
        self.redelivered = 0  # bars skipped because their example was already produced

    def decode(self, payload: bytes) -> Bar | DeadLetter:
        """The bar in ``payload``, or the dead letter saying why there is none (DOMAIN §8)."""
        try:
            _, record = self.codec.decode(payload, expect="bar")
            bar = Bar.from_record(record)
        except (DecodeError, KeyError, TypeError, ValueError) as exc:
            return DeadLetter("processor", f"undecodable bar: {exc}", payload_text(payload))
        reason = check_bar(bar)
        if reason is not None:
            return DeadLetter("processor", reason, payload_text(bar.to_record()), bar.symbol, bar.timeframe,
                              bar.close_time)
        return bar

    def restore_steps(self, symbol: str) -> Iterator[None]:
        """Rebuild the symbol's engine from its rings (after a restart or a rebalance), yielding every
        ``RESTORE_STEP_BARS`` bars so a caller on an event loop can hand it back. Only the last
        ``history_bars`` of each ring are replayed: by purity, that is all the next example reads."""
        if symbol in self.loaded:
            return
        self.stage.engine.symbols.pop(symbol, None)
        bars: list[Bar] = []
        for tf in self.ring.timeframes(symbol):
            for _, payload in self.ring.slots(symbol, tf)[-history_bars(self.cfg, tf):]:
                bars.append(Bar.from_record(self.codec.decode(payload, expect="bar")[1]))
        bars.sort(key=Bar.replay_key)
        for i, bar in enumerate(bars, 1):
            self.stage.engine.update(bar)
            if i % RESTORE_STEP_BARS == 0:
                yield
        self.loaded.add(symbol)
        if bars:
            log.info("restored %s from %d stored bars", symbol, len(bars), extra={"symbol": symbol})

    def forget(self, symbols: set[str] | None = None) -> None:
        """Drop in-memory engines (on partition revocation): the table is the truth."""
        for symbol in list(self.loaded if symbols is None else symbols):
            self.stage.engine.symbols.pop(symbol, None)
            self.loaded.discard(symbol)
        self.ring.forget()

    def process(self, payload: bytes) -> Encoded | DeadLetter | None:
        bar = self.decode(payload)
        if isinstance(bar, DeadLetter):
            return bar
        for _ in self.restore_steps(bar.symbol):
            pass
        return self.process_bar(bar, payload)

    def process_bar(self, bar: Bar, payload: bytes) -> Encoded | DeadLetter | None:
        """A valid bar of a restored symbol (see ``restore_steps``): its example, a dead letter, or None
        (warm-up, or a redelivered bar whose example was already produced)."""
        symbol = self.stage.engine.symbols.get(bar.symbol)
        series = symbol.series.get(bar.timeframe) if symbol is not None else None
        last = series.last_close_time if series is not None else None
        if last is not None and bar.close_time <= last:
            return self._seen_before(bar, payload)
        self.ring.append(bar, payload)
        return self.stage.process(bar)

    def _seen_before(self, bar: Bar, payload: bytes) -> DeadLetter | None:
        stored = self.ring.stored(bar)
        if stored is not None and (stored == payload or Bar.from_record(self.codec.decode(stored)[1]) == bar):
            self.redelivered += 1  # its ring record exists, so its example was durable first: nothing to send
            return None
        if stored is not None:
            reason = f"revised bar: a different bar for close {iso_utc(bar.close_time)} was already processed"
        else:
            reason = f"out of order: close {iso_utc(bar.close_time)} is not after the last processed bar"
        return DeadLetter("processor", reason, payload_text(bar.to_record()), bar.symbol, bar.timeframe,
                          bar.close_time)
