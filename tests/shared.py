"""Where the project's shared fixtures live: the `shared` folder beside the
repository (as CI lays it out: `../shared`), or REVAER_SHARED_DIR.

Missing fixtures stop the run at collection with this message, rather than
letting the tests that need them pass on nothing.
"""

from __future__ import annotations

import os
from pathlib import Path


def _libtorrent_suite() -> Path:
    configured = os.environ.get("REVAER_SHARED_DIR")
    shared = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[2] / "shared"
    )
    suite = shared / "fixtures" / "torrents" / "libtorrent-suite"
    if not (suite / "expected.tsv").is_file():
        raise RuntimeError(
            f"the shared test fixtures are missing: no {suite / 'expected.tsv'}. "
            "Put the shared folder beside the repository (../shared) or set "
            "REVAER_SHARED_DIR to it."
        )
    return suite


LIBTORRENT_SUITE = _libtorrent_suite()
