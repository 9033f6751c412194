"""vpa-stream: lookahead-free Volume Price Analysis training examples from market bars, embedded or on Kafka.

The Python API (``vpa_stream.api``) is importable from here: ``from vpa_stream import TrainingDataGenerator,
load_training_data``. It loads on first use, so the stages that never need it stay light to import.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = ("RequestError", "TrainingDataGenerator", "load_training_data")


def __getattr__(name: str) -> Any:
    if name in _API:  # by name, so importing any stage (and type-checking the engine) does not load the API
        return getattr(import_module("vpa_stream.api"), name)
    raise AttributeError(f"module 'vpa_stream' has no attribute {name!r}")


__all__ = ["RequestError", "TrainingDataGenerator", "__version__", "load_training_data"]
