"""Shared fixtures: real market data from installed packages, and the Kafka broker plugin."""

from __future__ import annotations

pytest_plugins = ["tests.kafka_fixtures"]
