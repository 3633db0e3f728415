"""The conv engine alone (normalised beats in, logits out) in Amaranth's simulator, on the tiny
model of tests/hw/tiny_model.py (every phase kind) at lane counts with one and several streams and
memories: every layer bit-exact with golden, the compute cycles exactly the schedule's cycle model
(hw/schedule.py), under input idles and logit back-pressure; MUX-skip blocks skipped; no bank word
read and written in the same cycle (what the feature banks' DISJOINT_ATTRS promise Yosys)."""

import pytest

from ternecg.hw.engine import Engine
from ternecg.hw.schedule import compile_schedule, cycles

from engine_sim import check_engine, run_engine
from tiny_model import tiny_beats, tiny_model


#: both tiny models up to 5 lanes (5: the grouped MUX-skip conv split by position, hw/schedule_search.py
#: ``_split_options``; 8: one in make test-fast); the wider settings (slow) on the first one (10: two
#: convs split)
ENGINE_CASES = [(p, s) for p in (1, 2, 3, 4, 5) for s in (0, 1)] + [(8, 0)] + [
    pytest.param(p, s, marks=pytest.mark.slow) for p, s in ((8, 1), (6, 0), (10, 0), (12, 0), (16, 0))]


@pytest.mark.parametrize("parallel,seed", ENGINE_CASES)
def test_engine_bit_and_cycle_exact(parallel, seed):
    m = tiny_model(seed)
    raws = tiny_beats(3, seed)
    dut, tr, results = run_engine(m, raws, parallel, seed=parallel, idle=0.3, stall=0.4)
    check_engine(m, dut, tr, results)
    assert any(v["select"].any() for v in tr.mux.values())     # some blocks are skipped


#: registered read requests (hw/schedule.py ``STAGED_READ_PARALLEL``: the default model from 18
#: lanes on) forced onto the tiny model: one and several streams, and memories
STAGED_CASES = [(1, 0), (2, 1), (4, 0), pytest.param(12, 1, marks=pytest.mark.slow)]


@pytest.mark.parametrize("parallel,seed", STAGED_CASES)
def test_engine_two_read_stages_bit_and_cycle_exact(parallel, seed):
    """Every logit first waits 2,000 cycles (the whole engine holds), then random stalls: the issue
    stage's two registers hold their tap (the stream rule on ``issue.o`` and ``lanes.o``), every
    layer bit-exact, the cycles one more per executed phase, as the schedule's model says."""
    m = tiny_model(seed)
    dut, tr, results = run_engine(m, tiny_beats(3, seed), parallel, seed=parallel, idle=0.3, stall=0.4,
                                  read_stages=2, hold=2000, streams=("issue.o", "lanes.o"))
    assert dut._s.geometry.read_stages == 2 and dut.parts["issue"].latency == 2
    check_engine(m, dut, tr, results)
    one = compile_schedule(m, parallel, read_stages=1)
    assert cycles(dut._s, dut.act_latency) == cycles(one, dut.act_latency) + len(one.phases)
    for name, stats in dut.stream_stats.items():
        assert stats["transfers"] >= 50, (name, stats)
    if parallel <= 2:           # wider, the logits are one block: no tap waits behind a logit
        assert dut.stream_stats["issue.o"]["longest_stall"] >= 2000, dut.stream_stats


def _disjoint_spy(dut):
    """A process that fails when a bank word is read and written in the same cycle."""
    banks = dut.banks
    R = len(banks.rd)

    async def spy(ctx):
        async for _, _, in_bank, out_bank, rd, qa, wr in ctx.tick().sample(
                banks.in_bank, banks.out_bank, banks.rd, banks.qa, banks.wr):
            assert in_bank != out_bank
            writes = {(int(wr[r].mem), int(wr[r].word)) for r in range(R) if wr[r].en}
            reads = {(int(qa[r].mem), int(qa[r].word)) for r in range(R) if qa[r].en}
            assert not writes & reads, f"bank {out_bank}: words {writes & reads} read and written in one cycle"
    return spy


@pytest.mark.parametrize("parallel", [1, 4])
def test_no_bank_word_read_and_written_in_one_cycle(parallel):
    m = tiny_model(0)
    dut, tr, results = run_engine(m, tiny_beats(2), parallel, seed=2, idle=0.2, stall=0.3,
                                  spy=_disjoint_spy)
    check_engine(m, dut, tr, results)


def test_bad_arguments():
    with pytest.raises(TypeError, match="Engine needs a compiled Schedule"):
        Engine("schedule")
    s = compile_schedule(tiny_model(0), 1)
    with pytest.raises(TypeError, match="Engine spram must be True, False or None"):
        Engine(s, spram="yes")
