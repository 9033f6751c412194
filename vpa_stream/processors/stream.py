"""The stateful stream step of the Kafka processor, independent of Faust: bar bytes in, examples out.

State lives in a key-value table (a Faust Table backed by a compacted changelog topic, or a plain dict in
tests) as one ring buffer of raw Avro bars per (symbol, timeframe): key ``SYMBOL|TF|slot`` holds the bar
number ``seq`` (at slot ``seq % capacity``) with its sequence number, so each bar costs one small changelog
record, never the whole window. Because the engine is pure (DOMAIN §1), a restarted or rebalanced worker
rebuilds a symbol's engine by replaying its ring into a fresh engine and then produces the same bytes as the
worker that never stopped.

A redelivered bar (at-least-once consumption after a crash) finds itself in the ring: its example is
recomputed from the bars before it and sent again, and the sink drops the repeat by id. A different bar for a
close time already stored is a revision and goes to the dead letters, as does any bar out of order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, MutableMapping
from typing import Any

from vpa_stream.processors.config import VPAConfig
from vpa_stream.processors.engine import Engine
from vpa_stream.processors.stage import Encoded, ExampleStage
from vpa_stream.producers.validate import DeadLetter, check_bar, payload_text
from vpa_stream.schemas.codec import Codec, DecodeError, default_codec
from vpa_stream.schemas.models import TIMEFRAME_SECONDS, Bar, iso_utc

log = logging.getLogger(__name__)

Table = MutableMapping[bytes, Any]


def history_bars(cfg: VPAConfig, timeframe: str) -> int:
    """Bars of ``timeframe`` a fresh engine needs to reproduce the next example: the window of the timeframe
    and of every timeframe derived from it (a weekly window of daily bars spans seven times as many days)."""
    own = TIMEFRAME_SECONDS[timeframe]
    derived = dict(cfg.derive_timeframes).get(timeframe, ())
    ratio = max([TIMEFRAME_SECONDS[htf] // own for htf in derived] + [1])
    return cfg.window_bars * ratio + ratio  # one more period: the first derived period is always dropped


class BarRing:
    """Ring buffers of raw bar payloads per (symbol, timeframe) in a key-value table of bytes to bytes.

    A slot's value is the bar's 8-byte sequence number followed by its payload, so one bar is one table
    write (one changelog record); the next sequence number is kept in memory and found again on restore as
    the highest one stored.
    """

    def __init__(self, table: Table, cfg: VPAConfig) -> None:
        self.table = table
        self.cfg = cfg
        self.heads: dict[tuple[str, str], int] = {}
        self._timeframes: dict[str, list[str]] = {}  # read-through cache of the table's timeframe lists
        self._capacity: dict[str, int] = {}

    def capacity(self, timeframe: str) -> int:
        """Twice the history: a bar redelivered after a crash still finds a full history before it."""
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

    def _slots(self, symbol: str, timeframe: str) -> list[tuple[int, bytes]]:
        out = []
        for slot in range(self.capacity(timeframe)):
            value = self.table.get(f"{symbol}|{timeframe}|{slot}".encode())
            if value is not None:
                value = bytes(value)
                out.append((int.from_bytes(value[:8], "big"), value[8:]))
        out.sort()
        return out

    def head(self, symbol: str, timeframe: str) -> int:
        key = (symbol, timeframe)
        seq = self.heads.get(key)
        if seq is None:
            slots = self._slots(symbol, timeframe)
            seq = self.heads[key] = slots[-1][0] + 1 if slots else 0
        return seq

    def append(self, bar: Bar, payload: bytes) -> None:
        tfs = self.timeframes(bar.symbol)
        if bar.timeframe not in tfs:
            tfs = self._timeframes[bar.symbol] = [*tfs, bar.timeframe]
            self.table[f"{bar.symbol}|timeframes".encode()] = ",".join(tfs).encode()
        seq = self.head(bar.symbol, bar.timeframe)
        slot = seq % self.capacity(bar.timeframe)
        self.table[f"{bar.symbol}|{bar.timeframe}|{slot}".encode()] = seq.to_bytes(8, "big") + payload
        self.heads[(bar.symbol, bar.timeframe)] = seq + 1

    def payloads(self, symbol: str, timeframe: str) -> list[bytes]:
        """Stored payloads of one series, oldest first."""
        slots = self._slots(symbol, timeframe)
        if slots:
            self.heads[(symbol, timeframe)] = slots[-1][0] + 1
        return [payload for _, payload in slots]

    def forget(self) -> None:
        self.heads.clear()
        self._timeframes.clear()


class StreamProcessor:
    """Bar payloads in, ``Encoded`` examples and ``DeadLetter``s out, with the state in ``table``.

    ``primary_timeframes`` as in ``Engine``: the timeframes that make examples (None: every one).
    """

    def __init__(self, table: Table, cfg: VPAConfig | None = None, codec: Codec | None = None,
                 primary_timeframes: Iterable[str] | None = None) -> None:
        self.cfg = cfg or VPAConfig()
        self.codec = codec or default_codec()
        self.ring = BarRing(table, self.cfg)
        self.stage = ExampleStage(self.cfg, self.codec, primary_timeframes)
        self.primary_timeframes = self.stage.engine.primary_timeframes
        self.loaded: set[str] = set()

    def _decode(self, payload: bytes) -> Bar:
        _, record = self.codec.decode(payload, expect="bar")
        return Bar.from_record(record)

    def _stored_bars(self, symbol: str) -> list[tuple[Bar, bytes]]:
        bars = [(self._decode(p), p) for tf in self.ring.timeframes(symbol) for p in self.ring.payloads(symbol, tf)]
        bars.sort(key=lambda bp: bp[0].replay_key())
        return bars

    def _restore(self, symbol: str) -> None:
        """Rebuild the symbol's engine from the ring (after a restart or a rebalance)."""
        self.stage.engine.symbols.pop(symbol, None)
        stored = self._stored_bars(symbol)
        for bar, _ in stored:
            self.stage.engine.update(bar)
        self.loaded.add(symbol)
        if stored:
            log.info("restored %s from %d stored bars", symbol, len(stored), extra={"symbol": symbol})

    def forget(self, symbols: set[str] | None = None) -> None:
        """Drop in-memory engines (on partition revocation): the table is the truth."""
        for symbol in list(self.loaded if symbols is None else symbols):
            self.stage.engine.symbols.pop(symbol, None)
            self.loaded.discard(symbol)
        self.ring.forget()

    def process(self, payload: bytes) -> Encoded | DeadLetter | None:
        try:
            bar = self._decode(payload)
        except (DecodeError, KeyError, TypeError, ValueError) as exc:
            return DeadLetter("processor", f"undecodable bar: {exc}", payload_text(payload))
        reason = check_bar(bar)
        if reason is not None:
            return DeadLetter("processor", reason, payload_text(bar.to_record()), bar.symbol, bar.timeframe,
                              bar.close_time)
        if bar.symbol not in self.loaded:
            self._restore(bar.symbol)
        series = self.stage.engine.symbols.get(bar.symbol)
        s = series.series.get(bar.timeframe) if series is not None else None
        last = s.last_close_time if s is not None else None
        if last is not None and bar.close_time <= last:
            return self._seen_before(bar, payload)
        self.ring.append(bar, payload)
        return self.stage.process(bar)

    def _seen_before(self, bar: Bar, payload: bytes) -> Encoded | DeadLetter | None:
        stored = self._stored_bars(bar.symbol)
        same = next((p for b, p in stored if b.timeframe == bar.timeframe and b.close_time == bar.close_time), None)
        if same is not None and self._decode(same) == bar:
            # redelivery: recompute the example from the bars before it; the sink drops the repeat by id
            engine = Engine(self.cfg, self.primary_timeframes)
            for b, _ in stored:
                if b.replay_key() >= bar.replay_key():
                    break
                engine.update(b)
            example = engine.update(bar)
            return self.stage.encode(example) if example is not None else None
        if same is not None:
            reason = f"revised bar: a different bar for close {iso_utc(bar.close_time)} was already processed"
        else:
            reason = f"out of order: close {iso_utc(bar.close_time)} is not after the last processed bar"
        return DeadLetter("processor", reason, payload_text(bar.to_record()), bar.symbol, bar.timeframe,
                          bar.close_time)
