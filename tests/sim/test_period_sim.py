"""Overlapped beats (issue 18 item 6): the steady-state period between results equals the engine's
compute cycles within 5 cycles, measured as `make hw-report` measures ``period_cycles``
(boards/hw_report.py ``period``: six worst-case fixture beats back to back through the Verilator
speed harness, no idle input, no back-pressure; every result bit-exact) at P = 1 and 6; every row
of docs/core.md's latency table follows the accelerator's cycle model (compute cycles, + 247 into
an empty core, + 3 back to back). Every P in 1..64 is valid: the engine at wider settings is checked
cycle-exact in tests/hw/test_engine.py and bit-exact by `make sim-regress --parallel P`."""

import re

import pytest

from ternecg.boards.hw_report import period
from ternecg.golden.spec import modelfile
from ternecg.paths import CHECKOUT

MODEL = modelfile.load()
#: the rows of docs/core.md's latency table
SETTINGS = (1, 2, 3, 4, 6)
#: the rows measured here in simulation (one Verilator build each); every row's compute cycles are
#: checked against the accelerator's cycle model, which tests/hw/test_engine.py holds exact
SIMULATED = (1, 6)


def doc_row(parallel):
    """(compute, latency, period) of ``parallel``'s row in docs/core.md's latency table."""
    text = (CHECKOUT / "docs" / "core.md").read_text()
    m = re.search(rf"^\| {parallel} \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$", text, re.M)
    return tuple(int(g.replace(",", "")) for g in m.groups())


def table_rows():
    """Every row of docs/core.md's latency table (P -> (compute, latency, period))."""
    text = (CHECKOUT / "docs" / "core.md").read_text()
    return {int(p): tuple(int(g.replace(",", "")) for g in rest)
            for p, *rest in re.findall(r"^\| (\d+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$", text, re.M)}


@pytest.mark.skipif(CHECKOUT is None, reason="docs/ is not installed")
def test_table_rows_follow_the_cycle_model():
    """Latency = compute + 247 and period = compute + 3 at every row (measured at SIMULATED below),
    compute = the accelerator's analytical cycle count."""
    from ternecg.hw.top import Accelerator
    rows = table_rows()
    assert sorted(rows) == list(SETTINGS)
    for p, (compute, latency, per) in rows.items():
        assert compute == Accelerator(MODEL, p).engine_cycles(), p
        assert (latency, per) == (compute + 247, compute + 3), p


@pytest.mark.sim
@pytest.mark.parametrize("parallel", SIMULATED)
def test_period_is_the_compute_time(parallel):
    per = period(MODEL, parallel)
    assert len(per["periods"]) == 5
    assert all(per["compute_cycles"] <= p <= per["compute_cycles"] + 5 for p in per["periods"]), per
    if CHECKOUT is not None:
        assert doc_row(parallel) == (per["compute_cycles"], per["latency_cycles"], per["period_cycles"])
