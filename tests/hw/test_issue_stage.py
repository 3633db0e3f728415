"""IssueStage inside the engine (tests/hw/engine_sim.py, the tiny model): its tap transfers and the
lanes' sums follow the stream rule under input idles and logit stalls (the engine holds them with
``Lanes.hold``), every layer stays bit-exact; its
context carries the select bits only when a grouped MUX-skip block needs them; bad arguments."""

import pytest
from amaranth.hdl import Fragment

from ternecg.errors import TernEcgError
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


def test_read_stages_follow_the_lanes(model):
    """One stage (the reads straight from the sequencer's tap) below STAGED_READ_PARALLEL lanes,
    two (registered read requests, a ``pending`` flag for the drain) from there on, or as forced;
    the default model's UP5K settings keep one, its ECP5 settings 18, 36, 48 take two."""
    for p, force, stages in ((1, None, 1), (4, None, 1), (12, None, 1), (18, None, 2), (1, 2, 2), (4, 2, 2),
                             (18, 1, 1)):
        s = compile_schedule(tiny_model(0), p, read_stages=force)
        assert s.geometry.read_stages == stages
        stage = IssueStage(s)
        assert stage.latency == stages
        assert ("pending" in stage.signature.members) == (stages == 2)
        Fragment.get(stage, None)               # both kinds elaborate
    assert [compile_schedule(model, p).geometry.read_stages for p in (1, 2, 3, 6, 17, 18, 36, 48)] == [1] * 5 + [2] * 3
    with pytest.raises(TernEcgError, match="read_stages = 3 must be 1 or 2"):
        compile_schedule(model, 1, read_stages=3)


@pytest.mark.parametrize("bad", [None, "schedule"])
def test_bad_arguments(bad, no_unused_warning):
    with pytest.raises(TypeError, match="IssueStage needs a compiled Schedule"):
        IssueStage(bad)
