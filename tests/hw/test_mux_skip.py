"""MuxSkip inside the engine (tests/hw/engine_sim.py) on the tiny model of tests/hw/tiny_model.py,
whose MUX-skip block has channels that select the depthwise branch and channels that do not:
every written value (depthwise results, ``(qa + qg) >> 1`` where S = 0, ``qa`` kept where S = 1)
bit-exact with golden's block output, blocks whose lanes all select skipped (the cycle model
counts them), with one stream (shift-register select file) and several (indexed); bad arguments.
"""

import pytest

from ternecg.hw.mux_skip import MuxSkip
from ternecg.hw.schedule import KIND_DWPOS, MODE_DW, compile_schedule
from ternecg.hw.serializer import result_tag_layout

from engine_sim import check_engine, run_engine
from tiny_model import tiny_beats, tiny_model


@pytest.mark.parametrize("parallel", [1, 3, 4])
def test_blocks_bit_exact_with_both_selects(parallel):
    """P = 3 (3 x 1): the depthwise branch has every stream on one channel's positions (kind
    ``dwpos``), so the unit sums the three streams' results into one GAP (``shared``)."""
    m = tiny_model(2)
    s = compile_schedule(m, parallel)
    dw = [ph for ph in s.phases if ph.mode == MODE_DW]
    assert [ph.kind == KIND_DWPOS for ph in dw] == [parallel == 3]
    dut, tr, results = run_engine(m, tiny_beats(2, 2), parallel, seed=parallel, idle=0.2, stall=0.2)
    check_engine(m, dut, tr, results)
    sel = next(iter(tr.mux.values()))["select"]
    assert sel.any() and not sel.all()              # both branches taken
    assert ("gap_shared" in dut.parts["writeback"].mux.signature.members) == (parallel == 3)


def _args(**over):
    args = {"act_bits": 2, "tag_shape": result_tag_layout(compile_schedule(tiny_model(0), 1)), "streams": 1,
            "n_select": 4, "parallel": 1, "gap_width": 8}
    args.update(over)
    return args


def test_shared_must_be_a_bool(no_unused_warning):
    with pytest.raises(TypeError, match=r"^MuxSkip shared must be"):
        MuxSkip(**_args(shared=1))


@pytest.mark.parametrize("name", ["act_bits", "streams", "n_select", "parallel", "gap_width"])
@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError), (2.0, TypeError), ("3", TypeError)])
def test_bad_parameters(name, bad, exc, no_unused_warning):
    with pytest.raises(exc, match=rf"^MuxSkip {name} must be an integer( >= 1)?, not {bad!r}$"):
        MuxSkip(**_args(**{name: bad}))


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        MuxSkip(*_args().values())

