"""The MIT-BIH database folder of the tests: found without downloading, or None (the test skips)."""

import os
from pathlib import Path

from ternecg.golden import records as R


def local_database():
    """``$TERNECG_MITDB``, ../shared/data/mitdb or the user cache, whichever holds the records first;
    None when none does (a test that needs the database then skips instead of downloading it)."""
    candidates = [Path(os.environ[R.ENV_VAR])] if os.environ.get(R.ENV_VAR) else []
    candidates += [R.REPO_ROOT.parent / "shared" / "data" / "mitdb", R._cache_root()]
    for c in candidates:
        if c.is_dir() and any(c.glob("*.hea")):
            return R.find_database(c)
    return None


def database_or_skip():
    """:func:`local_database`, or skip the calling test when there is none."""
    import pytest
    path = local_database()
    if path is None:
        pytest.skip("MIT-BIH database not found (set $TERNECG_MITDB)")
    return path
