"""Overlapped beats (issue 18 item 6): the steady-state period between results equals the engine's
compute cycles within 5 cycles at every lane count of the default model, measured as `make
hw-report` measures ``period_cycles`` (boards/hw_report.py ``period``: six worst-case fixture beats
back to back through the Verilator speed harness, no idle input, no back-pressure; every result
bit-exact)."""

import pytest

from ternecg.boards.hw_report import period
from ternecg.golden.spec import modelfile
from ternecg.hw.generate import valid_parallel

MODEL = modelfile.load()


@pytest.mark.sim
@pytest.mark.parametrize("parallel", valid_parallel(MODEL))
def test_period_is_the_compute_time(parallel):
    per = period(MODEL, parallel)
    assert len(per["periods"]) == 5
    assert all(per["compute_cycles"] <= p <= per["compute_cycles"] + 5 for p in per["periods"]), per
