"""Markers (declared in pyproject.toml): ``sim`` = runs a Verilog simulator (Icarus or Verilator),
``slow`` = needs the MIT-BIH database or takes long (synthesis, big volumes). `make test-fast` is
``-m "not sim and not slow"``.

A test that is not marked ``sim`` cannot start a simulator: every build or run through
:mod:`ternecg.sim.runner` or the speed harness fails at once with a message saying so, so the
fast loop provably runs no Verilog simulator and a missing marker shows up in `make test` too.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))      # monitor_helpers.py (tests/, for every folder)


@pytest.fixture(autouse=True)
def _simulators_only_in_sim_tests(request):
    from ternecg.sim import runner
    marked = request.node.get_closest_marker("sim") is not None
    runner.FORBIDDEN = None if marked else (
        f"{request.node.nodeid} runs a Verilog simulator but is not marked `sim` "
        f"(pytest.mark.sim; see tests/conftest.py)")
    yield
    runner.FORBIDDEN = None


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


def pytest_collection_modifyitems(config, items):
    """Long files first: modules with a ``sim`` or ``slow`` test run before the others (stable
    order otherwise), so `make test`'s two workers (``--dist loadfile``) fill their last minutes
    with short files instead of starting a board build or a synthesis at the end."""
    heavy = {item.module.__name__ for item in items if getattr(item, "module", None) is not None
             and (item.get_closest_marker("sim") or item.get_closest_marker("slow"))}
    order = {id(item): k for k, item in enumerate(items)}
    items.sort(key=lambda item: (getattr(getattr(item, "module", None), "__name__", "") not in heavy,
                                 order[id(item)]))
