"""The Faust worker's data directory stays out of the working tree (no broker needed to build the app)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from vpa_stream.processors.faust_app import build_app
from vpa_stream.schemas.topics import Topics


def test_the_worker_data_directory_defaults_to_the_temp_dir_and_follows_datadir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APP_DATADIR", raising=False)
    default = build_app("127.0.0.1:9", Topics("t-datadir-"))
    assert Path(default.conf.datadir).is_absolute()
    assert Path(default.conf.datadir).parent == Path(tempfile.gettempdir()) / "vpa-stream"
    chosen = build_app("127.0.0.1:9", Topics("t-datadir-"), datadir=tmp_path / "state" / "processor-data")
    assert Path(chosen.conf.datadir) == tmp_path / "state" / "processor-data"
    assert os.listdir(tmp_path) == ["state"]  # nothing named after the app in the working directory
