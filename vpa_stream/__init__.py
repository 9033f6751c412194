"""vpa-stream: lookahead-free Volume Price Analysis training examples from market bars, embedded or on Kafka."""

__version__ = "0.1.0"
