"""Overlapped beats (issue 18 item 6): the steady-state period between results equals the engine's
compute cycles within 5 cycles at the lane counts of docs/core.md's latency table (`make
hw-report`'s default settings; every P in 1..64 is valid: the engine at wider settings is checked in
tests/hw/test_engine.py and `make sim-regress --parallel P`), measured as `make hw-report` measures ``period_cycles`` (boards/hw_report.py ``period``: six worst-case fixture beats
back to back through the Verilator speed harness, no idle input, no back-pressure; every result
bit-exact). The same measurement is the latency table of docs/core.md."""

import re

import pytest

from ternecg.boards.hw_report import period
from ternecg.golden.spec import modelfile
from ternecg.paths import CHECKOUT

MODEL = modelfile.load()
#: the rows of docs/core.md's latency table
SETTINGS = (1, 2, 3, 4, 6)


def doc_row(parallel):
    """(compute, latency, period) of ``parallel``'s row in docs/core.md's latency table."""
    text = (CHECKOUT / "docs" / "core.md").read_text()
    m = re.search(rf"^\| {parallel} \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$", text, re.M)
    return tuple(int(g.replace(",", "")) for g in m.groups())


@pytest.mark.sim
@pytest.mark.parametrize("parallel", SETTINGS)
def test_period_is_the_compute_time(parallel):
    per = period(MODEL, parallel)
    assert len(per["periods"]) == 5
    assert all(per["compute_cycles"] <= p <= per["compute_cycles"] + 5 for p in per["periods"]), per
    if CHECKOUT is not None:
        assert doc_row(parallel) == (per["compute_cycles"], per["latency_cycles"], per["period_cycles"])
