import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))      # streams.py, engine_harness.py

from ternecg.golden import fixture      # noqa: E402

from ternecg.golden.spec import modelfile


@pytest.fixture(autouse=True)
def _stream_rule(monkeypatch):
    """Every Amaranth simulation of a component checks the stream rule on its output streams
    (tests/hw/streams.py)."""
    from streams import check_every_simulation
    check_every_simulation(monkeypatch)


@pytest.fixture(scope="session")
def model():
    return modelfile.load()


@pytest.fixture(scope="session")
def inter_model():
    """The shipped inter-patient model (an RR path)."""
    return modelfile.load(modelfile.MODELS_DIR / "inter_patient.json")


@pytest.fixture(scope="session")
def beats():
    return fixture.load()
