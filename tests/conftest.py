"""Markers (declared in pyproject.toml): ``sim`` = runs a Verilog simulator (Icarus or Verilator),
``slow`` = needs the MIT-BIH database or takes long (synthesis, big volumes). `make test-fast` is
``-m "not sim and not slow"``.

A test that is not marked ``sim`` cannot start a simulator: every build or run through
:mod:`ternecg.sim.runner` or the speed harness fails at once with a message saying so, so the
fast loop provably runs no Verilog simulator and a missing marker shows up in `make test` too.
"""

import pytest


@pytest.fixture(autouse=True)
def _simulators_only_in_sim_tests(request):
    from ternecg.sim import runner
    marked = request.node.get_closest_marker("sim") is not None
    runner.FORBIDDEN = None if marked else (
        f"{request.node.nodeid} runs a Verilog simulator but is not marked `sim` "
        f"(pytest.mark.sim; see tests/conftest.py)")
    yield
    runner.FORBIDDEN = None
