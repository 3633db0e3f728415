"""WriteBack inside the engine (tests/hw/engine_sim.py, the tiny model): its input stream keeps its
payload under back-pressure while every activation and MUX-skip select lands bit-exact in the
banks; bad arguments (the activation units: one per stream, of one kind)."""

import pytest
from amaranth.hdl import Fragment

from ternecg.hw.engine import Engine
from ternecg.hw.schedule import compile_schedule
from ternecg.hw.write_back import WriteBack

from engine_sim import check_engine, run_engine
from tiny_model import tiny_beats, tiny_model


@pytest.mark.parametrize("parallel", [2, 6])
def test_activations_written_under_back_pressure(parallel):
    m = tiny_model(0)
    dut, tr, results = run_engine(m, tiny_beats(1, 2), parallel, seed=5, idle=0.3, stall=0.5,
                                  streams=("writeback.i",))
    check_engine(m, dut, tr, results)
    assert dut.stream_stats["writeback.i"]["transfers"] > 20
    assert any(v["select"].any() for v in tr.mux.values())


def test_bad_arguments(no_unused_warning):
    s = compile_schedule(tiny_model(0), 4)
    with pytest.raises(TypeError, match="WriteBack act_units must be a list of ActivationUnit"):
        WriteBack(s, act_units=None)
    one = [Engine._unit(s)(s.stream_thresholds[0], **Engine._unit_args(s))]
    Fragment.get(one[0], None)              # elaborated: not an unused component
    with pytest.raises(ValueError, match=f"WriteBack needs {s.streams} activation units of one kind"):
        WriteBack(s, act_units=one)
