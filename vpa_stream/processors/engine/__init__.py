"""The pure VPA engine: bounded per-symbol windows in, examples out. No Kafka, no Faust, no I/O."""

from vpa_stream.processors.engine.engine import Engine, Example, OutOfOrderBarError

__all__ = ["Engine", "Example", "OutOfOrderBarError"]
