"""``python -m vpa_stream.cli``: the ``vpa-stream`` program (tests and the Kafka harness start stages so)."""

import sys

from vpa_stream.cli import main

if __name__ == "__main__":
    sys.exit(main())
