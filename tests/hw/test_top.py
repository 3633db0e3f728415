"""The whole accelerator in Amaranth's simulator against the integer reference, on real beats."""

import copy

import pytest
import torch

from ternecg.golden import integer_ref
from ternecg.golden.spec.config import MuxSpec

from engine_harness import compare, run_top


# the long cases (10-70 s each) are `slow`: out of `make test-fast`; P = 3 is also `long` (make
# test-long: P = 1 and 3 run on Icarus in make test)
@pytest.mark.parametrize("parallel,count,idle,stall", [pytest.param(6, 2, 0.3, 0.4, marks=pytest.mark.slow),
                                                      pytest.param(3, 1, 0.0, 0.0, marks=[pytest.mark.slow, pytest.mark.long])])
def test_accelerator_bit_exact(model, beats, parallel, count, idle, stall):
    raws = beats["raw"][:count]
    dut, results = run_top(model, raws, parallel=parallel, seed=parallel, idle=idle, stall=stall)
    compared, _ = compare(model, dut, raws, results)
    assert compared > 1000 * count


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize("parallel,idle,stall", [(2, 0.3, 0.4)])
def test_rr_model_bit_exact(inter_model, beats, parallel, idle, stall):
    """The inter-patient model: RR codes on the ``rr`` stream through the RR table; logits,
    class and the engine's cycle count bit-exact (the RR table adds no engine cycle)."""
    raws, rr = beats["raw"][:2], beats["rr"][:2]
    dut, results = run_top(inter_model, raws, parallel=parallel, seed=5, idle=idle, stall=stall, rr=rr)
    compared, tr = compare(inter_model, dut, raws, results, rr)
    assert compared > 1000
    assert bool((tr.rr != 0).any())         # the RR terms are not all zero: the table is exercised


@pytest.mark.slow
@pytest.mark.parametrize("parallel", [6])
def test_short_and_long_beats_are_dropped(model, beats, parallel):
    """A beat with samples missing and one with extra samples (``last`` early, ``last`` late) each
    give an error result (err = 1, everything else 0) in their place; the beat after them is
    classified bit-exact, not shifted."""
    good = beats["raw"][:2].tolist()
    stream = [good[0][:100], good[0] + good[0][:3], good[1]]
    dut, results = run_top(model, stream, parallel=parallel, seed=9, stall=0.3)
    assert [r["err"] for r in results] == [1, 1, 0]
    assert all((r["cls"], r["logits"], r["cycles"]) == (0, [0, 0], 0) for r in results[:2])
    compare(model, dut, [good[1]], results[2:])


@pytest.mark.slow
def test_rr_model_dropped_beat_discards_its_rr_word(inter_model, beats):
    """An RR model: every beat, dropped or not, takes one rr word; a dropped beat's word is
    discarded, so the next beat gets its own codes (bit-exact), under idle and stalls."""
    raw, rr = beats["raw"][1:3].tolist(), beats["rr"][1:3]
    stream = [raw[0] + [1000], raw[1]]                  # a dropped beat (one sample too many) first
    dut, results = run_top(inter_model, stream, parallel=6, seed=2, idle=0.2, stall=0.3, rr=rr)
    assert [r["err"] for r in results] == [1, 0]
    compare(inter_model, dut, [raw[1]], [results[1]], rr[[1]])


def forced_select_model(model, channels=slice(None, None, 2)):
    """A copy of the model whose depthwise thresholds make the MUX ``channels`` (default: the
    even ones) select qa."""
    m = copy.deepcopy(model)
    for layer in m.layers:
        if isinstance(layer.spec, MuxSpec):
            th = layer.dw.thresholds
            bound = int(abs(th).max())
            th[channels] = -bound      # these channels: qa = max level always
    return m


#: the even channels and channels 5 and 11 of the first MUX-skip layer select qa: at P = 1 blocks
#: 0, 2, 4, 5 of groups 0 and 1 skip (5 is a group's last), at P = 2 blocks (4, 5) and (10, 11),
#: each its group's last
FORCED = [c for c in range(18) if c % 2 == 0 or c in (5, 11)]


@pytest.mark.slow
@pytest.mark.parametrize("parallel", [1, pytest.param(2, marks=pytest.mark.long)])
def test_mux_skip_skips_grouped_passes(model, beats, parallel):
    """MUX channels forced to skip (:data:`FORCED`), among them blocks that end their group:
    every layer, the logits and the (data-dependent, smaller) cycle count bit-exact. With one
    stream the sequencer used to send the group after a skipped last block to the wrong input
    rows (its first row came from the skipped block's first tap): `make sim-regress --parallel 1`
    found it on record 105's patient model; both settings here failed before the fix."""
    m = forced_select_model(model, FORCED)
    raws = beats["raw"][:1]
    dut, results = run_top(m, raws, parallel=parallel, seed=1)
    compared, tr = compare(m, dut, raws, results)      # includes measured == analytical cycles
    assert compared > 1000
    assert bool(tr.mux[2]["select"][:, FORCED].all())           # the first MUX-skip layer
    assert all(r["cycles"] < dut.engine_cycles() for r in results)   # data-dependent skipping


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize("parallel", [1])
def test_biases_from_the_parameter_rom(model, beats, parallel):
    """Non-zero biases (the shipped models have none) come from the parameter ROM, read one
    cycle ahead of each logit: logits stay bit-exact and the cycle count is unchanged."""
    m = copy.deepcopy(model)
    m.layers[-1].bias = torch.tensor([37, -1000] + [5] * (len(m.classes) - 2), dtype=torch.int64)
    raws = beats["raw"][:1]
    dut, results = run_top(m, raws, parallel=parallel, seed=3, stall=0.5)
    compared, tr = compare(m, dut, raws, results)
    assert compared > 1000
    assert dut.schedule.bias[:2] == [37, -1000]


def test_model_id_after_reset(model):
    """The model id is read from the parameter ROM into ``model_id`` right after reset."""
    from amaranth.sim import Simulator
    from ternecg.hw.params import model_id
    from ternecg.hw.top import Accelerator
    dut = Accelerator(model, 1)
    seen = []

    async def bench(ctx):
        await ctx.tick().repeat(4)
        seen.append(ctx.get(dut.model_id))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [model_id(model.sha256)] and seen[0] == int(model.sha256[:8], 16)


@pytest.mark.slow
@pytest.mark.parametrize("parallel", [2])
def test_engine_logits_under_back_pressure(model, beats, parallel):
    """The engine alone with a stalling logits sink: each logit keeps its own bias while held
    (the bias ROM address follows the serializer's next lane)."""
    import random
    from amaranth.sim import Simulator
    from ternecg.hw.engine import Engine
    from ternecg.hw.schedule import compile_schedule
    from streams import add_stream_checker, stream_put_all

    m = copy.deepcopy(model)
    m.layers[-1].bias = torch.tensor([-9, 300] + [1] * (len(m.classes) - 2), dtype=torch.int64)
    tr = integer_ref.forward(m, torch.as_tensor(beats["raw"][:1], dtype=torch.int64))
    dut = Engine(compile_schedule(m, parallel))
    rng = random.Random(7)
    got = []

    async def feeder(ctx):
        await stream_put_all(ctx, dut.x, [int(v) for v in tr.input[0].tolist()])

    async def taker(ctx):
        for _ in m.classes:             # hold every logit a few cycles after it became valid
            await ctx.tick().until(dut.logits.valid == 1)
            await ctx.tick().repeat(rng.randrange(1, 5))
            ctx.set(dut.logits.ready, 1)
            got.append(ctx.get(dut.logits.payload))
            await ctx.tick()
            ctx.set(dut.logits.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feeder)
    sim.add_testbench(taker)
    stats = add_stream_checker(sim, dut.logits, "logits")
    sim.run()
    assert got == tr.logits[0].tolist()
    assert stats["pending"] > 0


def test_bad_arguments_before_the_component_exists(model, no_unused_warning):
    """A wrong type is a TypeError; a parallelism or a model value that cannot be built is one
    TernEcgError line naming the part and the limit (what the CLI prints); nothing half-built warns."""
    from ternecg.errors import TernEcgError
    from ternecg.hw.top import Accelerator
    with pytest.raises(TypeError, match="Accelerator needs a loaded model file"):
        Accelerator("models/default.json")
    with pytest.raises(TypeError, match="debug must be a bool"):
        Accelerator(model, 1, debug="yes")
    with pytest.raises(TypeError):
        Accelerator(model, 1, True)                 # debug is keyword-only
    with pytest.raises(TernEcgError, match=r"parallel = 65 must be an integer in 1\.\.64"):
        Accelerator(model, 65)
    m = copy.deepcopy(model)
    m.layers[0].thresholds[0, -1] = 1 << 30
    with pytest.raises(TernEcgError, match=r"cannot be built as hardware: ActivationUnit: threshold \[0\]\[14\]"):
        Accelerator(m, 1)
