import pytest

from local_db import database_or_skip


@pytest.fixture(scope="session")
def db():
    """The MIT-BIH database folder (tests/golden/local_db.py); the test skips without one."""
    return database_or_skip()
