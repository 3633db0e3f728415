"""Serializer inside the engine (tests/hw/engine_sim.py, the tiny model): its activation and logit
streams keep their payload under back-pressure, every layer and every logit (with its bias) stays
bit-exact (with the tiny model every setting has one lane per stream: the pass-through); its
latency (0 with one lane per stream, else 1); bad arguments."""

import pytest

from ternecg.golden.spec import modelfile
from ternecg.hw.schedule import compile_schedule, serializer_latency
from ternecg.hw.serializer import Serializer, result_tag_layout

from engine_sim import check_engine, run_engine
from tiny_model import tiny_beats, tiny_model


@pytest.mark.parametrize("parallel", [1, 3])
def test_streams_hold_under_back_pressure(parallel):
    m = tiny_model(1)
    dut, tr, results = run_engine(m, tiny_beats(2, 1), parallel, seed=3, idle=0.2, stall=0.7,
                                  streams=("serializer.act", "serializer.logits"))
    check_engine(m, dut, tr, results)
    stats = dut.stream_stats
    assert stats["serializer.logits"]["pending"] > 0
    assert stats["serializer.logits"]["transfers"] == 2 * m.cfg.classes.__len__()
    assert stats["serializer.act"]["transfers"] > 100


def test_latency_and_tags():
    m = tiny_model(0)
    one = Serializer(compile_schedule(m, 1))
    assert not one.buffers and one.latency == 0
    streams = Serializer(compile_schedule(m, 4))              # 4 streams of one lane: pass-through
    assert not streams.buffers and streams.latency == 0
    default = modelfile.load()
    wide = Serializer(compile_schedule(default, 4))           # 2 streams of 2 lanes: held
    assert wide.buffers and wide.latency == 1
    assert serializer_latency(compile_schedule(default, 10).geometry) == 0
    s8 = compile_schedule(m, 8)
    assert (s8.mems > 1) == ("laddr" in result_tag_layout(s8).members)


@pytest.mark.parametrize("bad", [None, "schedule"])
def test_bad_arguments(bad, no_unused_warning):
    with pytest.raises(TypeError, match="Serializer needs a compiled Schedule"):
        Serializer(bad)


def test_no_multiplier_on_the_logits_path():
    """The logit's sum is picked by one flat counter: no multiply cell (Yosys mapped ``k_r * L`` to
    an ECP5 DSP at the head of the critical path into the head's comparison)."""
    from amaranth.back import rtlil
    text = rtlil.convert(Serializer(compile_schedule(tiny_model(0), 8)))
    assert "cell $mul" not in text and "cell $add" in text
