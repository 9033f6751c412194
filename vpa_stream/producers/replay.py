"""Time-ordered replay: a streaming k-way merge of every series by (close time, timeframe duration, symbol).

The replay ordering key (DOMAIN §1) is ``Bar.replay_key``: ascending close time, then the finer timeframe,
then the symbol. Each input iterator must already be in ascending close time (sources guarantee it); the
merge holds one bar per series in memory. A bar that breaks its series' order becomes a dead letter.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator

from vpa_stream.producers.sources.base import Source
from vpa_stream.producers.sources.timeframes import require_supplied
from vpa_stream.producers.validate import OrderGuard
from vpa_stream.schemas.models import Bar
from vpa_stream.schemas.records import DeadLetter, payload_text

DeadLetterCallback = Callable[[DeadLetter], None]


def _bars_only(items: Iterable[Bar | DeadLetter], on_dead_letter: DeadLetterCallback) -> Iterator[Bar]:
    for item in items:
        if isinstance(item, Bar):
            yield item
        else:
            on_dead_letter(item)


def bars_of(sources: Iterable[Source], on_dead_letter: DeadLetterCallback,
            require: Iterable[str] = ()) -> Iterator[Bar]:
    """The time-ordered replay of every series of every source.

    ``require``: timeframes some source must supply (a run's primary and the context it asked for), checked
    once the sources have found their series' timeframes and before any bar is read (``TimeframeError``).
    """
    sources = list(sources)
    streams = [stream for source in sources for stream in source.streams()]
    require_supplied([r for source in sources for r in source.resolved], require)
    return replay(streams, on_dead_letter)


def replay(streams: list[Iterator[Bar | DeadLetter]], on_dead_letter: DeadLetterCallback) -> Iterator[Bar]:
    """Merge per-series streams into one event-time ordered stream of bars."""
    guard = OrderGuard()
    merged = heapq.merge(*(_bars_only(s, on_dead_letter) for s in streams), key=Bar.replay_key)
    for bar in merged:
        reason = guard.check(bar)
        if reason is not None:
            on_dead_letter(DeadLetter("producer", reason, payload_text(bar.to_record()), bar.symbol,
                                      bar.timeframe, bar.close_time))
            continue
        yield bar
