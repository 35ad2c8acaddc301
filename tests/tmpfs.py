"""A real, small tmpfs for tests that need a full or read-only disk.

Mounting needs root, as the tests run here and in CI; without it the test
fails and says so rather than passing without the disk it needs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def mounted(folder: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """Mounts a tmpfs of SIZE (e.g. '1m') over FOLDER, unmounted on exit."""
    options = f"ro,size={size}" if read_only else f"size={size}"
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        "this test needs to mount a tmpfs (run as root): " + result.stderr
    )
    try:
        yield folder
    finally:
        # Lazy: a daemon the test started may still hold a file open there.
        subprocess.run(["umount", "-l", str(folder)], check=False)


def resize(folder: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)
