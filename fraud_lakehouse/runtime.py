"""Process-wide settings of a process that uses this package (the CLI, a run's process, a code server): memory
allocators and Python's garbage collector."""

from __future__ import annotations

import atexit
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_frozen_at_exit = False
ARROW_ALLOCATOR_ENV = "ARROW_DEFAULT_MEMORY_POOL"


def choose_arrow_allocator() -> None:
    """pyarrow allocates with jemalloc on Linux, unless ``ARROW_DEFAULT_MEMORY_POOL`` says otherwise.

    Its default there, mimalloc, backs its memory with transparent huge pages, which the kernel zeroes 2 MiB at a
    time on first touch: ingesting a landed Parquet file spent a tenth of its CPU time in the kernel zeroing
    pages, and took longer and more memory than with jemalloc, which pyarrow also ships (docs/performance.md).
    pyarrow reads the setting once, when it is imported, so this runs before anything imports it.
    """
    if sys.platform.startswith("linux"):
        os.environ.setdefault(ARROW_ALLOCATOR_ENV, "jemalloc")


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
