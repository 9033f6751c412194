"""The point-in-time VPA engine: closed bars in, one training example per bar out.

Purity (DOMAIN §1): the example for bar t is a function of the last ``cfg.window_bars`` bars of each of the
symbol's timeframes and of the config, nothing else: no wall clock, no randomness, no global state. The
engine reads a bar only after every bar that closed before it (the replay order guarantees it), keeps
bounded windows, and never looks at a bar after t. Derived higher timeframes only ever hold closed periods.

Multi-timeframe runs (DOMAIN §3): with ``primary_timeframes`` only bars of those timeframes make examples; the
other supplied timeframes are analysed as context only. A context entry of another timeframe is the newest bar
of it closed at or before t: the replay order (a finer bar first at equal close time) makes that the newest
bar seen, and should a context bar arrive early anyway, the entry falls back to its newest analysed bar closed
by t (or is left out), never to one after t.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vpa_stream.processors.config import ENGINE_VERSION, VPAConfig
from vpa_stream.processors.engine.analysis import Analysis, Level, analyse
from vpa_stream.processors.engine.explain import explain
from vpa_stream.processors.engine.patterns import CATALOGUE, detect
from vpa_stream.processors.engine.periods import PeriodAggregator, SessionCalendar
from vpa_stream.processors.engine.render import price_decimals
from vpa_stream.processors.engine.series import Series
from vpa_stream.processors.engine.signal import BarFacts, HigherContext, Location, Signal, decide
from vpa_stream.schemas.models import TIMEFRAME_SECONDS, Bar, Example, iso_utc


class OutOfOrderBarError(ValueError):
    """A bar whose close time is not after the previous bar of its symbol and timeframe (DOMAIN §8)."""

    def __init__(self, bar: Bar, last_close: int) -> None:
        super().__init__(
            f"{bar.symbol} {bar.timeframe}: close time {iso_utc(bar.close_time)} is not after the previous bar's "
            f"{iso_utc(last_close)} ({'duplicate' if bar.close_time == last_close else 'out of order'})"
        )
        self.bar = bar
        self.last_close = last_close


_UNDETECTED: dict[str, dict[str, Any]] = {
    name: {"detected": False, "direction": p.direction, "details": {}} for name, p in CATALOGUE.items()
}

#: the minimum bars a context timeframe needs before it is reported (fast SMA and its slope)
def _context_min_bars(cfg: VPAConfig) -> int:
    return cfg.sma_fast + cfg.slope_lookback


def _append(s: Series, bar: Bar) -> None:
    """Append a bar; on a split, restate the price levels that earlier bars' analyses hold in post-split terms,
    so rules that read the previous bar's supports (SPRING) compare like with like."""
    s.append(bar)
    r = bar.split_ratio
    if r == 1.0 or len(s) < 2:
        return
    for a in s.analyses[:-1]:
        if a is None:
            continue
        a.supports = [Level(lv.price / r, lv.touches, lv.distance_atr) for lv in a.supports]
        a.resistances = [Level(lv.price / r, lv.touches, lv.distance_atr) for lv in a.resistances]
        a.sma_fast /= r
        a.sma_slow /= r
        a.atr /= r


@dataclass(frozen=True, slots=True)
class ContextBar:
    """The newest bar of a series as other timeframes see it: its context entry and its extremes."""

    as_of: str
    close_time: int
    open_time: int
    analysis: Analysis
    pattern: str | None  # its heaviest pattern
    low: float
    high: float


class SymbolEngine:
    """All timeframes of one symbol: supplied series, derived series, and their latest context entries."""

    def __init__(self, symbol: str, cfg: VPAConfig, calendar: SessionCalendar,
                 primary_timeframes: frozenset[str] | None = None) -> None:
        self.symbol = symbol
        self.primary = primary_timeframes  # None: every timeframe makes examples
        self.cfg = cfg
        self.calendar = calendar
        self.series: dict[str, Series] = {}
        self.derived: dict[str, Series] = {}
        self.aggregators: dict[str, list[PeriodAggregator]] = {}
        #: (timeframe, derived) -> that series' newest bar: its context entry and what the evidence reads of it
        self.context: dict[tuple[str, bool], ContextBar] = {}
        #: timeframe -> its _context_for result (entries and the bars they show), dropped whenever an entry of
        #: another timeframe changes
        self.context_views: dict[str, tuple[dict[str, dict[str, Any]], dict[str, ContextBar]]] = {}
        self.context_min_bars = _context_min_bars(cfg)
        self.max_lookback = cfg.max_lookback
        self.derive = dict(cfg.derive_timeframes)

    def _new_series(self, timeframe: str) -> Series:
        cfg = self.cfg
        return Series(self.symbol, timeframe, cfg.window_bars, cfg.pivot_bars, cfg.evidence_bars,
                      cfg.recent_candles + 1)

    def update(self, bar: Bar) -> Example | None:
        tf = bar.timeframe
        s = self.series.get(tf)
        if s is None:
            s = self.series[tf] = self._new_series(tf)
            self.aggregators[tf] = self._aggregators_for(tf)
        last = s.last_close_time
        if last is not None and bar.close_time <= last:
            raise OutOfOrderBarError(bar, last)
        _append(s, bar)
        if bar.split_ratio != 1.0:  # other timeframes' last bars, read as context, restated in post-split terms
            r = bar.split_ratio
            for key, cb in self.context.items():
                if key[0] != tf and cb.close_time < bar.close_time:
                    self.context[key] = ContextBar(cb.as_of, cb.close_time, cb.open_time, cb.analysis, cb.pattern,
                                                   cb.low / r, cb.high / r)
        analysis, decimals = self._analyse(s)
        # derived higher timeframes: a period closing at this bar's close is closed at t, so it is context for t
        for agg in self.aggregators[tf]:
            for htf_bar in agg.add(bar):
                hs = self.derived.get(htf_bar.timeframe)
                if hs is None:
                    hs = self.derived[htf_bar.timeframe] = self._new_series(htf_bar.timeframe)
                _append(hs, htf_bar)
                self._analyse(hs)
                self._update_context(hs, derived=True)
        self._update_context(s, derived=False)
        if s.count < self.cfg.warmup_bars or (self.primary is not None and tf not in self.primary):
            return None
        return self._example(s, analysis, decimals)

    def _aggregators_for(self, timeframe: str) -> list[PeriodAggregator]:
        """Higher timeframes derived from a new series: from a primary timeframe only (a context series is not
        the stream the examples describe), and each derived timeframe from one series only, the first to ask
        (two would interleave their bars in one derived series)."""
        if self.primary is not None and timeframe not in self.primary:
            return []
        claimed = {agg.timeframe for aggs in self.aggregators.values() for agg in aggs}
        return [PeriodAggregator(htf, self.calendar) for htf in self.derive.get(timeframe, ()) if htf not in claimed]

    def _analyse(self, s: Series) -> tuple[Analysis, int]:
        """The newest bar's analysis (kept in the series for later bars) and its price decimals."""
        decimals = price_decimals(s.c[-1], self.cfg.price_decimals)
        a = analyse(s, self.cfg, decimals)
        a.patterns = detect(s, a, self.cfg, decimals)
        s.analyses[-1] = a
        return a, decimals

    def _update_context(self, s: Series, derived: bool) -> None:
        key = (s.timeframe, derived)
        views = self.context_views
        if views:  # this timeframe's entry changes: the views of every other timeframe, which show it, are stale
            own = views.get(s.timeframe)
            views.clear()
            if own is not None:
                views[s.timeframe] = own
        if len(s) < self.context_min_bars:
            self.context.pop(key, None)
            return
        a = s.analyses[-1]
        assert a is not None
        # rendered when another timeframe's example first reads it
        self.context[key] = self._context_bar(s, len(s) - 1, a)

    def _context_bar(self, s: Series, pos: int, a: Analysis) -> ContextBar:
        top = None
        if a.patterns:
            top = max(a.patterns, key=lambda name: (self.cfg.weight(CATALOGUE[name].family), name))
        return ContextBar(s.iso[pos], s.ct[pos], s.ot[pos], a, top, s.l[pos], s.h[pos])

    def _context_entry(self, bar: ContextBar, derived: bool) -> dict[str, Any]:
        a = bar.analysis
        return {
            "as_of": bar.as_of,
            "trend": a.trend_status,
            "strength": a.trend_strength,
            "volume_class": a.volume_class,
            "pattern": bar.pattern,
            "derived": derived,
        }

    def _context_for(self, timeframe: str) -> tuple[dict[str, dict[str, Any]], dict[str, ContextBar]]:
        """The entry of every other timeframe as of t, the close of ``timeframe``'s newest bar, by duration; and
        the bar each entry shows."""
        cached = self.context_views.get(timeframe)
        if cached is None:
            view, bars, closed_by_t = self._build_context(timeframe, self.series[timeframe].ct[-1])
            cached = (view, bars)
            if closed_by_t:  # an entry that had to fall back may be the newest one at a later t: not cached
                self.context_views[timeframe] = cached
        return dict(cached[0]), cached[1]  # each record gets its own map

    def _build_context(self, timeframe: str, t: int
                       ) -> tuple[dict[str, dict[str, Any]], dict[str, ContextBar], bool]:
        """Per other timeframe, its newest bar closed at or before t; of a supplied and a derived series of one
        timeframe the one with the later bar, the supplied one on a tie. Returns the entries, the bars they show
        (which the evidence reads), and whether no entry had to fall back from a bar after t (the replay order
        makes that the rule)."""
        best: dict[str, tuple[ContextBar, bool]] = {}
        closed_by_t = True
        for (tf, derived), bar in self.context.items():
            if tf == timeframe:
                continue
            if bar.close_time > t:
                closed_by_t = False
                found = self._closed_by(tf, derived, t)
                if found is None:
                    continue
                bar = found
            held = best.get(tf)
            if held is None or (bar.close_time, not derived) > (held[0].close_time, not held[1]):
                best[tf] = (bar, derived)
        order = sorted(best, key=lambda k: TIMEFRAME_SECONDS[k])
        view = {tf: self._context_entry(best[tf][0], best[tf][1]) for tf in order}
        return view, {tf: best[tf][0] for tf in order}, closed_by_t

    def _closed_by(self, timeframe: str, derived: bool, t: int) -> ContextBar | None:
        """The newest bar of a series closed at or before t that still has its analysis and enough bars before
        it to be context; None when the series keeps none (the entry is then left out)."""
        s = (self.derived if derived else self.series)[timeframe]
        for pos in range(len(s) - 1, max(-1, len(s) - 1 - s.keep_analyses), -1):
            a = s.analyses[pos]
            if s.ct[pos] <= t and a is not None and pos + 1 >= self.context_min_bars:
                return self._context_bar(s, pos, a)
        return None

    def _example(self, s: Series, a: Analysis, decimals: int) -> Example:
        s.set_decimals(decimals)
        t = len(s) - 1
        close_time = s.ct[t]
        ts = s.iso[t]
        example_id = f"{self.symbol}|{s.timeframe}|{ts}"
        mtf, shown = self._context_for(s.timeframe)
        signal = self._signal(s, a, decimals, mtf, shown)
        record_input = self._input(s, a, signal, ts, decimals, mtf)
        output_signal = {"type": signal.type, "strength": signal.strength, "reason": signal.reason}
        record = {
            "id": example_id,
            "input": record_input,
            "output": {"signal": output_signal, "explanation": explain(record_input, output_signal, decimals,
                                                                     example_id, self.cfg)},
            "meta": self._meta(s, signal, decimals),
        }
        return Example(example_id, self.symbol, s.timeframe, close_time, record)

    def _signal(self, s: Series, a: Analysis, decimals: int, mtf: dict[str, dict[str, Any]],
                shown: dict[str, ContextBar]) -> Signal:
        """The §5 signal from the evidence window t-5 .. t and the nearest higher timeframe."""
        cfg = self.cfg
        t = len(s) - 1
        first = max(0, t - cfg.evidence_bars + 1)
        bars = []
        for i in range(first, t + 1):
            ai = s.analyses[i]
            if ai is None:
                continue  # before the series' first analysed bar
            bars.append(BarFacts(t - i, round(s.c[i], decimals), round(s.l[i], decimals), round(s.h[i], decimals),
                                 s.v[i], s.v[i - 1] if i > 0 else s.v[i], ai.close_position, ai.body_ratio,
                                 ai.volume_ratio, ai.spread_ratio, ai.atr, ai.patterns, ai.range_state))
        own = TIMEFRAME_SECONDS[s.timeframe]
        higher = [tf for tf in mtf if TIMEFRAME_SECONDS[tf] > own]
        htf = None
        if higher:
            tf = higher[0]
            entry = mtf[tf]
            bar = shown.get(tf)
            if bar is not None:
                i = t
                while i >= 0 and s.ct[i] > bar.close_time:
                    i -= 1
                later = [round(s.c[j], decimals) for j in range(i + 1, t + 1)]  # primary bars closed after it
                period = []
                while i >= 0 and s.ct[i] > bar.open_time:
                    period.append(t - i)
                    i -= 1
                htf = HigherContext(tf, str(entry["trend"]), bar.pattern if bar.close_time >= s.ct[0] else None,
                                    round(bar.low, decimals), round(bar.high, decimals), len(later), tuple(later),
                                    tuple(period))
        proven_up = [lv.distance_atr for lv in a.resistances if lv.touches >= cfg.room_min_touches]
        proven_down = [lv.distance_atr for lv in a.supports if lv.touches >= cfg.room_min_touches]
        where = Location(round(s.c[t], decimals), round(a.atr, decimals), proven_up[0] if proven_up else None,
                         proven_down[0] if proven_down else None)
        return decide(bars, htf, a.trend_status, where, "LOW_VOLUME_DOJI" in a.patterns, "ANOMALY" in a.patterns,
                      s.timeframe, cfg)

    def _input(self, s: Series, a: Analysis, signal: Signal, ts: str, decimals: int,
               mtf: dict[str, dict[str, Any]]) -> dict[str, Any]:
        cfg = self.cfg
        t = len(s) - 1
        first_recent = max(0, t - cfg.recent_candles)
        patterns = dict(_UNDETECTED)
        for name, details in a.patterns.items():
            patterns[name] = {"detected": True, "direction": CATALOGUE[name].direction, "details": details}
        return {
            "timestamp": ts,
            "ticker": self.symbol,
            "primary_timeframe": s.timeframe,
            "current_candle": s.candle(t),
            "recent_candles": s.recent_candles(first_recent, t),
            "vpa_metrics": {
                "volume_ratio": a.volume_ratio,
                "volume_class": a.volume_class,
                "spread_ratio": a.spread_ratio,
                "spread_class": a.spread_class,
                "body_ratio": a.body_ratio,
                "close_position": a.close_position,
                "close_class": a.close_class,
                "upper_wick": a.upper_wick,
                "lower_wick": a.lower_wick,
                "candle_shape": a.candle_shape,
                "bar_direction": a.bar_direction,
                "candle_color": a.candle_color,
                "atr": round(a.atr, decimals),
                "volume_vs_prior": a.volume_vs_prior,
            },
            "trend_analysis": {
                "status": a.trend_status,
                "strength": a.trend_strength,
                "validation": a.validation,
                "slope_atr": a.slope_atr,
                "volume_trend": a.volume_trend,
                "swing_structure": a.swing_structure,
                "sma_fast": round(a.sma_fast, decimals),
                "sma_slow": round(a.sma_slow, decimals),
                "recent_move_atr": a.recent_move_atr,
                "trading_range": {
                    "state": a.range_state,
                    "width_atr": a.range_width_atr,
                    "drift": a.range_drift,
                    "prior_move_atr": a.range_prior_move_atr,
                    "position": a.range_position,
                },
            },
            "pattern_analysis": patterns,
            "evidence": [e.to_record() for e in signal.evidence],
            "support_resistance": {
                "nearby_support": [
                    {"price": round(lv.price, decimals), "touches": lv.touches, "distance_atr": lv.distance_atr}
                    for lv in a.supports
                ],
                "nearby_resistance": [
                    {"price": round(lv.price, decimals), "touches": lv.touches, "distance_atr": lv.distance_atr}
                    for lv in a.resistances
                ],
            },
            "multi_timeframe_context": mtf,
        }

    def _meta(self, s: Series, signal: Signal, decimals: int) -> dict[str, Any]:
        cfg = self.cfg
        rules = [name for name in s.analyses[-1].patterns] if s.analyses[-1] is not None else []
        rules += [f"{e.pattern}@{e.timeframe if e.timeframe != s.timeframe else 't-' + str(e.bars_ago)}:{e.state}"
                  for e in signal.evidence if e.bars_ago > 0 or e.timeframe != s.timeframe]
        splits = []
        if s.splits:
            oldest = s.ct[max(0, len(s) - self.max_lookback)]
            splits = [{"effective": iso_utc(sp.close_time), "ratio": sp.ratio} for sp in s.splits
                      if sp.close_time > oldest]
        adjustment = "back_adjusted" if cfg.back_adjusted else "split" if splits else "none"
        return {
            "rules_fired": rules,
            "config_hash": cfg.config_hash,
            "engine_version": ENGINE_VERSION,
            "source": s.source,
            "volume_kind": s.volume_kind,
            "price_decimals": decimals,
            "price_adjustment": adjustment,
            "splits_applied": splits,
        }


class Engine:
    """Routes each closed bar to its symbol's engine. ``update(bar)`` is the whole public surface."""

    def __init__(self, cfg: VPAConfig | None = None, primary_timeframes: Iterable[str] | None = None) -> None:
        """``primary_timeframes``: the timeframes whose bars make examples, every other one being context only
        (None: every timeframe makes examples)."""
        self.cfg = cfg or VPAConfig()
        self.calendar = SessionCalendar(self.cfg.session_tz, self.cfg.session_close, self.cfg.session_weekdays)
        self.symbols: dict[str, SymbolEngine] = {}
        self.config_hash = self.cfg.config_hash
        self.primary_timeframes = frozenset(primary_timeframes) if primary_timeframes is not None else None

    def makes_examples(self, timeframe: str) -> bool:
        """Whether bars of ``timeframe`` make examples (after the warm-up) rather than context only."""
        return self.primary_timeframes is None or timeframe in self.primary_timeframes

    def update(self, bar: Bar) -> Example | None:
        """The example for ``bar`` at its close, or None while its series warms up.

        Raises OutOfOrderBarError for a bar not after the previous one of its series; the state is unchanged.
        """
        sym = self.symbols.get(bar.symbol)
        if sym is None:
            sym = self.symbols[bar.symbol] = SymbolEngine(bar.symbol, self.cfg, self.calendar, self.primary_timeframes)
        return sym.update(bar)


__all__ = ["Engine", "Example", "OutOfOrderBarError", "SymbolEngine"]
