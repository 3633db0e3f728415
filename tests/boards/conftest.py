import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hw"))     # tests/hw/streams.py


@pytest.fixture(autouse=True)
def _stream_rule(monkeypatch):
    """Every Amaranth simulation of a component checks the stream rule on its output streams
    (tests/hw/streams.py)."""
    from streams import check_every_simulation
    check_every_simulation(monkeypatch)
