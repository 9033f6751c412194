"""The pure VPA engine: bounded per-symbol windows in, examples out. No Kafka, no Faust, no I/O.

The modules of this package are compiled with mypyc at install time (see setup.py); this file is not, so it
can warn when a compiled module is older than its source (an editable install that was not rebuilt).
"""

import warnings
from pathlib import Path

from vpa_stream.processors.engine.engine import Engine, OutOfOrderBarError
from vpa_stream.schemas.models import Example  # deprecated here: import it from vpa_stream.schemas.models


def _stale_compiled_modules() -> list[str]:
    here = Path(__file__).parent
    # mypyc builds the modules as one group: the code is in a shared ``*__mypyc.*.so`` beside the package, and
    # a module's own .so is a small shim that a rebuild leaves untouched when the shim itself did not change
    group = [lib.stat().st_mtime for lib in here.parent.parent.parent.glob("*__mypyc.*.so")]
    built_at = max(group, default=0.0)
    stale = []
    for source in [*here.glob("*.py"), here.parent / "config.py", here.parent.parent / "schemas" / "models.py"]:
        for compiled in source.parent.glob(source.stem + ".*.so"):
            if max(compiled.stat().st_mtime, built_at) < source.stat().st_mtime:
                stale.append(source.name)
    return stale


if _stale := _stale_compiled_modules():
    warnings.warn(f"compiled engine modules are older than their source ({', '.join(_stale)}): run "
                  "`pip install -e .` again (or VPA_PURE_PYTHON=1 pip install -e . for no compilation)",
                  stacklevel=2)

__all__ = ["Engine", "Example", "OutOfOrderBarError"]
