"""How a process that loads the code location (the CLI, a run's process, a code server) treats Python's garbage
collector."""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

_frozen_at_exit = False


@contextmanager
def loading_long_lived_objects() -> Iterator[None]:
    """No garbage collection while the block loads modules and objects that live as long as the process; then
    keep them out of every later full collection, and out of the ones the interpreter runs at exit.

    Loading the code location creates about 280,000 such objects (Dagster, the Spark Connect client, pandas,
    pyarrow). Collections during the load walk all of them and free nothing: they were a third of the
    import's time. At exit a run's process collected several times over all of them, which made a
    ``dagster asset materialize`` command wait about a second after its run had ended. What the block leaves
    unreachable (a few import-time cycles) stays allocated until the process ends.
    """
    global _frozen_at_exit
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
        if not _frozen_at_exit:
            atexit.register(gc.freeze)
            _frozen_at_exit = True
