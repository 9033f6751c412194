"""The restart loop of ``vpa-stream process`` (``processes.run_restarting``), with stand-in worker programs."""

from __future__ import annotations

import sys
from pathlib import Path

from vpa_stream.processes import run_restarting


def test_a_worker_that_cannot_start_is_given_up_after_so_many_quick_exits() -> None:
    said: list[str] = []
    code = run_restarting([], said.append, max_quick_exits=3, backoff_s=0.01,
                          program=[sys.executable, "-c", "import sys; sys.exit(1)"])
    assert code == 1
    assert len(said) == 3 and "3 workers in a row ended within 60 s of their start; giving up" in said[-1]
    assert "starting a new one in 0 s" in said[0]


def test_a_clean_exit_or_a_usage_error_ends_the_loop_at_once(tmp_path: Path) -> None:
    for code in (0, 2):
        said: list[str] = []
        assert run_restarting([], said.append, program=[sys.executable, "-c", f"import sys; sys.exit({code})"]) == code
        assert said == []


def test_a_worker_that_ran_a_while_resets_the_count(tmp_path: Path) -> None:
    """Exit 1 twice after a long run, then a clean exit: never given up (each long run resets the count)."""
    runs = tmp_path / "runs"
    script = (f"import pathlib, sys; p = pathlib.Path({str(runs)!r}); n = len(p.read_text()) if p.exists() else 0; "
              f"p.write_text('x' * (n + 1)); sys.exit(0 if n == 4 else 1)")
    said: list[str] = []
    code = run_restarting([], said.append, max_quick_exits=2, quick_s=0.0, backoff_s=0.01,
                          program=[sys.executable, "-c", script])
    assert code == 0 and len(runs.read_text()) == 5 and len(said) == 4
