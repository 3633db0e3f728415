"""IssueStage inside the engine (tests/hw/engine_sim.py, the tiny model): its tap transfers and the
lanes' sums follow the stream rule under input idles and logit stalls (the engine holds them with
``Lanes.hold``), every layer stays bit-exact; its
context carries the select bits only when a grouped MUX-skip block needs them; bad arguments."""

import pytest

from ternecg.hw.issue_stage import IssueStage, context_layout, needs_select_bits
from ternecg.hw.schedule import compile_schedule

from engine_sim import check_engine, run_engine
from tiny_model import tiny_beats, tiny_model


@pytest.mark.parametrize("parallel", [1, 4])
def test_taps_hold_under_back_pressure(parallel):
    """At P = 4 (4 x 1) the tiny model's depthwise block spans both shuffle groups (hw/schedule.py,
    kind (chan, 2)): fewer tiles, so three beats give the hundred transfers."""
    m = tiny_model(0)
    dut, tr, results = run_engine(m, tiny_beats(3), parallel, seed=7, idle=0.1, stall=0.6,
                                  streams=("issue.o", "lanes.o"))
    check_engine(m, dut, tr, results)
    for name, stats in dut.stream_stats.items():
        assert stats["transfers"] > 100, (name, stats)


def test_context_layout_select_bits(model):
    for p in (1, 4, 12):
        s = compile_schedule(tiny_model(0), p)
        assert ("sel_bits" in context_layout(s).members) == needs_select_bits(s)
    assert IssueStage.latency == 1


@pytest.mark.parametrize("bad", [None, "schedule"])
def test_bad_arguments(bad, no_unused_warning):
    with pytest.raises(TypeError, match="IssueStage needs a compiled Schedule"):
        IssueStage(bad)
