"""``vpa-stream process`` whose second batch fails to produce (``python -m tests.kafka.flaky_worker ARGS``).

A test stand-in for a broker error in the middle of a backfill: the worker must stop before Faust acks the
failed batch, so that a restarted worker is given those bars again.
"""

from __future__ import annotations

import sys
from typing import Any

from vpa_stream.cli import main
from vpa_stream.processors import faust_app

_send = faust_app.BatchProducer.send_and_wait
_calls = 0


async def _failing_second_send(self: Any, records: list[Any]) -> None:
    global _calls
    _calls += 1
    if _calls == 2:
        raise ConnectionError("injected produce failure")
    await _send(self, records)


faust_app.BatchProducer.send_and_wait = _failing_second_send  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
