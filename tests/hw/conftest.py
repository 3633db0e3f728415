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


@pytest.fixture
def no_unused_warning():
    """Fails the test if a component it created warned "created but never used" (a half-built
    component whose constructor raised: hw/checks.py checks arguments before the object exists)."""
    import gc
    import warnings

    from amaranth.hdl import Fragment, Module, UnusedElaboratable
    Fragment.get(Module(), None)        # Amaranth enables the warning once anything is elaborated
    gc.collect()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", UnusedElaboratable)
        yield
        gc.collect()
    unused = [str(w.message) for w in seen if issubclass(w.category, UnusedElaboratable)]
    assert not unused, unused
