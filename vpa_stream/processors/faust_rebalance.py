"""What the processor needs to come through Faust's rebalances intact: a table store that knows which changelog
offsets it holds, and a guard against records the consumer dropped."""

from __future__ import annotations

from typing import Any


def ring_store_class() -> type:
    """Faust's in-memory store, plus the changelog offset up to which it holds each active partition.

    Faust's memory store reports no persisted offset, so every rebalance re-read each changelog partition from
    its start, even one this worker kept and already holds; and that read is where Faust's recovery can stall
    for good after a broker restart (it waits for events that never come; faust-streaming #155). Like the
    RocksDB store, this one remembers the last changelog offset it applied (recovered records) or wrote (the
    agent's own ring records, see ``faust_app``), so Faust reads only what came after it: usually nothing.
    It forgets a partition's offset exactly when the memory store drops that partition's recovered keys (a
    completed recovery without it), so a partition that comes back is read again in full. Standby replicas
    are off (``table_standby_replicas=0``): a standby's keys are dropped by each recovery while its reading goes
    on, so an offset could outlive the data it claims.
    """
    from faust.stores.memory import Store

    class RingStore(Store):  # type: ignore[misc]
        def __post_init__(self) -> None:
            super().__post_init__()
            self.offsets: dict[Any, int] = {}

        def persisted_offset(self, tp: Any) -> int | None:
            return self.offsets.get(tp)

        def set_persisted_offset(self, tp: Any, offset: int) -> None:
            self.offsets[tp] = max(offset, self.offsets.get(tp, -1))

        def apply_changelog_batch(self, batch: Any, to_key: Any, to_value: Any) -> None:
            events = list(batch)
            super().apply_changelog_batch(events, to_key, to_value)
            for event in events:
                self.set_persisted_offset(event.message.tp, event.message.offset)

        async def on_recovery_completed(self, active_tps: Any, standby_tps: Any) -> None:
            await super().on_recovery_completed(active_tps, standby_tps)
            for tp in [tp for tp in self.offsets if tp not in active_tps]:
                del self.offsets[tp]

    return RingStore


# not a bare "vparing://": yarl takes a URL without host or path as false, and Faust then uses app.conf.store
RING_STORE = "vparing://ring"


def register_ring_store() -> None:
    from faust import stores

    stores.STORES.aliases.setdefault(RING_STORE.split(":")[0], f"{__name__}:RingStore")


def __getattr__(name: str) -> Any:  # the store class is made on first use: Faust is imported lazily
    if name == "RingStore":
        cls = ring_store_class()
        globals()["RingStore"] = cls
        return cls
    raise AttributeError(name)


class RecordsSkippedError(RuntimeError):
    """The consumer handed over a bars record past a gap: the records in the gap were never processed."""


class OffsetGuard:
    """Refuses a gap in a bars partition's offsets, so a record the consumer dropped is never skipped silently.

    Faust can drop records around a rebalance: a record in flight when the flow stops sets its partition's read
    offset after the seek back to the committed offset, and the records before it are then dropped as already
    read (seen in the processor fault test: two bars of a batch never reached the agent, the next ones did, and
    their examples were computed without them). The bars topic is neither compacted nor transactional, so its
    offsets are contiguous: while this worker owns a partition, the next record is at most one past the last one
    processed (at or before it after a seek back: a redelivery). A partition revoked and assigned back in the
    same rebalance was owned by nobody else in between and keeps its mark; a newly assigned one starts afresh.
    """

    def __init__(self) -> None:
        self.last: dict[Any, int] = {}
        self.held: set[Any] = set()

    def revoked(self) -> None:
        self.held = set(self.last)

    def assigned(self, tps: Any) -> None:
        kept = self.held & set(tps)
        self.last = {tp: offset for tp, offset in self.last.items() if tp in kept}

    def check(self, tp: Any, offset: int) -> None:
        last = self.last.get(tp)
        if last is not None and offset > last + 1:
            raise RecordsSkippedError(f"the consumer skipped records {last + 1}..{offset - 1} of {tp.topic}"
                                      f"[{tp.partition}] (a Faust rebalance race); stopping before they are "
                                      f"committed, so the restarted worker reads them")
        self.last[tp] = offset if last is None else max(last, offset)
