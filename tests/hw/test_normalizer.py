"""Amaranth-simulator tests of hw.normalizer.Normalizer against golden.normalize (bit-exact)."""

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from ternecg.golden import fixture
from ternecg.golden.normalize import mean_constants, normalize
from ternecg.hw.normalizer import Normalizer, sample_layout
from ternecg.sim.tb import pattern

from streams import HOLD_CYCLES, check_streams, hold, stream_get, stream_put_all

N_BEATS = 24


def simulate(dut, beats, idle="none", backpressure="none", seed=0, n_out=None):
    """Feed ``beats`` (list of sample lists, ``last`` on each list's final sample) through ``dut``;
    return (outputs, cycle stats). ``n_out``: outputs to wait for (default: every sample).

    Checks on every cycle that a stalled output (valid & ~ready) keeps valid and payload next
    cycle; ``stats["beat"]`` lists the ``err`` bit of every transfer on ``beat``.
    """
    beats = [[int(x) for x in beat] for beat in beats]
    if n_out is None:
        n_out = sum(len(b) for b in beats)
    idle_gen = pattern(idle, seed)           # the cocotb testbenches' PATTERNS, reused
    bp_gen = pattern(backpressure, seed + 1)
    out = []
    stats = {"last_in": [], "first_out": [], "cycles": 0, "beat": []}
    cycle = {"n": 0}

    async def clock(ctx):
        async for _ in ctx.tick():
            cycle["n"] += 1

    async def source(ctx):
        for beat in beats:
            for j, x in enumerate(beat):
                while not next(idle_gen):
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick()
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, {"sample": x, "last": int(j == len(beat) - 1)})
                while True:
                    _, _, ready = await ctx.tick().sample(dut.i.ready)
                    if ready:
                        break
                if j == len(beat) - 1:
                    stats["last_in"].append(cycle["n"] - 1)
            ctx.set(dut.i.valid, 0)
        ctx.set(dut.i.valid, 0)

    async def beat_monitor(ctx):
        async for _, _, valid, err in ctx.tick().sample(dut.beat.valid, dut.beat.payload.err):
            if valid:
                stats["beat"].append(int(err))

    async def sink(ctx):
        held = None
        beat_len = dut.length
        while len(out) < n_out:
            ready = next(bp_gen)
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload, i_ready = await ctx.tick().sample(dut.o.valid, dut.o.payload,
                                                                   dut.i.ready)
            now = cycle["n"] - 1
            if valid:
                assert not i_ready, f"cycle {now}: i.ready high while emitting"
            if held is not None:
                assert valid, f"cycle {now}: o.valid dropped while stalled"
                assert payload == held, f"cycle {now}: payload changed while stalled"
            held = payload if (valid and not ready) else None
            if valid and len(out) % beat_len == 0 and (len(stats["first_out"]) == len(out) // beat_len):
                stats["first_out"].append(now)
            if valid and ready:
                out.append(payload)
        stats["cycles"] = cycle["n"]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_process(clock)
    sim.add_process(beat_monitor)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    stats["streams"] = check_streams(sim, dut, inputs=True)
    sim.run()
    return out, stats


def expected(beats):
    return normalize(np.asarray(beats, dtype=np.int64)).reshape(-1).tolist()


@pytest.fixture(scope="module")
def fixture_beats():
    return fixture.load()["raw"][:N_BEATS].astype(np.int64)


@pytest.mark.parametrize("idle,backpressure", [("none", "none"), ("random", "random"),
                                               ("fixed", "random"), ("random", "fixed")])
def test_fixture_beats(fixture_beats, idle, backpressure):
    beats = fixture_beats.tolist()
    got, _ = simulate(Normalizer(), beats, idle, backpressure, seed=7)
    assert got == expected(beats)


def edge_beats(length=240):
    spike = [1000] * length
    spike[length // 3] = 2047
    dip = [1500] * length
    dip[length // 2] = 0
    return {
        "flat": [1024] * length,
        "alternating": [0, 2047] * (length // 2),
        "all_max": [2047] * length,
        "all_zero": [0] * length,
        "spike": spike,
        "dip": dip,
        "ramp": [(t * 2047) // (length - 1) for t in range(length)],
    }


@pytest.mark.parametrize("name", list(edge_beats()))
def test_edge_beats(name):
    beat = edge_beats()[name]
    beats = [beat, beat]                    # twice: the second beat must not see the first's state
    got, _ = simulate(Normalizer(), beats, "random", "random", seed=3)
    assert got == expected(beats)


def test_edge_beats_back_to_back():
    beats = list(edge_beats().values())
    got, _ = simulate(Normalizer(), beats, "none", "random", seed=11)
    assert got == expected(beats)


@pytest.mark.parametrize("length,raw_bits", [(1, 11), (7, 11), (16, 8), (33, 11), (240, 6)])
def test_other_sizes(length, raw_bits):
    rng = np.random.default_rng(length)
    beats = rng.integers(0, 1 << raw_bits, size=(4, length))
    beats[1] = (1 << raw_bits) - 1
    got, _ = simulate(Normalizer(length, raw_bits), beats.tolist(), "random", "random", seed=5)
    assert got == expected(beats)


def check_timing(dut, stats):
    """No stalls: first output exactly `latency` cycles after the last input of each beat, and
    back-to-back beats exactly `beat_cycles` apart (= 2 * length + latency - 1)."""
    assert dut.beat_cycles == 2 * dut.length + dut.latency - 1
    assert len(stats["first_out"]) == len(stats["last_in"])
    for last_in, first_out in zip(stats["last_in"], stats["first_out"]):
        assert first_out - last_in == dut.latency
    starts = [t - (dut.length - 1) for t in stats["last_in"]]
    assert [b - a for a, b in zip(starts, starts[1:])] == [dut.beat_cycles] * (len(starts) - 1)


def test_latency_and_throughput(fixture_beats):
    dut = Normalizer()
    beats = fixture_beats[:3].tolist()
    got, stats = simulate(dut, beats)
    assert got == expected(beats)
    # The shipped configuration's documented constant; the mean phase takes one cycle per set bit
    # of the mean multiplier (0x1111: 4).
    assert dut.latency == Normalizer.LATENCY == dut.mean_steps + 2
    assert dut.mean_steps == bin(mean_constants(dut.length)[0]).count("1")
    check_timing(dut, stats)


@pytest.mark.parametrize("length,raw_bits", [(1, 11), (7, 11), (16, 8), (33, 11), (240, 6)])
def test_latency_other_sizes(length, raw_bits):
    dut = Normalizer(length, raw_bits)
    rng = np.random.default_rng(length + 100)
    beats = rng.integers(0, 1 << raw_bits, size=(3, length))
    got, stats = simulate(dut, beats.tolist())
    assert got == expected(beats)
    assert dut.latency == dut.mean_steps + 2
    check_timing(dut, stats)


def test_signature():
    dut = Normalizer()
    Fragment.get(dut, None)
    assert dut.i.payload.shape() == sample_layout(11)
    assert [(name, f.offset, f.width) for name, f in sample_layout(11)] == [("sample", 0, 11), ("last", 11, 1)]
    assert dut.o.payload.shape().width == 8 and dut.o.payload.shape().signed


@pytest.mark.parametrize("idle,backpressure", [("none", "none"), ("random", "random")])
def test_short_and_long_beats_are_dropped(fixture_beats, idle, backpressure):
    """A beat with a sample missing or an extra sample (``last`` one early or one late, or far
    off) is dropped with ``err`` on ``beat`` and gives no output; the good beats around it come
    out bit-exact, none shifted."""
    good = fixture_beats[:4].tolist()
    stream = [good[0], good[1][:-1], good[1], good[2] + [good[3][0]], good[2], [5] * 3,
              good[3] + good[0] + good[1][:10], good[3], [7], good[0]]
    kept = [good[0], good[1], good[2], good[3], good[0]]
    got, stats = simulate(Normalizer(), stream, idle, backpressure, seed=21, n_out=240 * len(kept))
    assert got == expected(kept)
    assert stats["beat"] == [0, 1, 0, 1, 0, 1, 1, 0, 1, 0]


def test_framing_other_sizes():
    """``length`` 1: every sample must carry ``last``; 7: a short and a long beat between good ones."""
    got, stats = simulate(Normalizer(1, 11), [[3], [2000], [0, 1], [9]], n_out=3)
    assert got == expected([[3], [2000], [9]]) and stats["beat"] == [0, 0, 1, 0]
    beats = [[1, 2, 3, 4, 5, 6, 7], [9] * 6, [50] * 9, [100, 0, 100, 0, 100, 0, 100]]
    got, stats = simulate(Normalizer(7, 11), beats, "random", "random", seed=2, n_out=14)
    assert got == expected([beats[0], beats[3]]) and stats["beat"] == [0, 1, 1, 0]


@pytest.mark.parametrize("kwargs, exc", [({"length": 0}, ValueError), ({"length": -3}, ValueError),
                                         ({"length": 2.5}, TypeError), ({"length": True}, TypeError),
                                         ({"raw_bits": 0}, ValueError), ({"raw_bits": 40}, ValueError),
                                         ({"raw_bits": "11"}, TypeError), ({"length": 1 << 22}, ValueError)])
def test_bad_params(kwargs, exc, no_unused_warning):
    with pytest.raises(exc, match="Normalizer"):
        Normalizer(**kwargs)


def boundary_beats(length=240, raw_bits=11):
    """Beats whose max deviation (above or below the mean) sits on each shift boundary
    128 * 2**k - 1, 128 * 2**k, found by search over flat beats with one spike or dip."""
    from ternecg.golden.normalize import normalize_details
    top = (1 << raw_bits) - 1
    cands = []
    for base in (0, 700, 1024, 1500, top):
        for dev in range(1, top + 1):
            for sign in (1, -1):
                if 0 <= base + sign * dev <= top:
                    beat = [base] * length
                    beat[length // 2] = base + sign * dev
                    cands.append(beat)
    m = normalize_details(np.asarray(cands, dtype=np.int64))["maxdev"].numpy()
    want = {128 * (1 << k) + off for k in range(5) for off in (-1, 0)}
    picked, seen = [], set()
    for beat, md in zip(cands, m):
        key = (int(md), beat[length // 2] > beat[0])
        if int(md) in want and key not in seen:
            seen.add(key)
            picked.append(beat)
    return picked


def test_shift_boundaries():
    beats = boundary_beats()
    assert len(beats) >= 15
    got, _ = simulate(Normalizer(), beats, "none", "random", seed=13)
    assert got == expected(beats)


def test_output_held_for_100000_cycles(fixture_beats):
    """The first normalised sample waits 100,000 cycles (HOLD_CYCLES) while the next beat is
    offered: it does not change, no sample is taken meanwhile, and the beat then comes out
    bit-exact."""
    dut = Normalizer()
    beats = fixture_beats[:2].tolist()
    got = []

    async def source(ctx):
        words = [{"sample": x, "last": int(t == 239)} for beat in beats for t, x in enumerate(beat)]
        await stream_put_all(ctx, dut.i, words)

    async def sink(ctx):
        got.append(await hold(ctx, dut.o, HOLD_CYCLES))
        got.append(ctx.get(dut.i.ready))
        for _ in range(480):
            got.append(await stream_get(ctx, dut.o))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    stats = check_streams(sim, dut)
    sim.run()
    assert got[1] == 0 and got[0] == got[2]
    assert got[2:] == expected(beats)
    assert stats["o"]["pending"] >= HOLD_CYCLES


def test_sample_ram_in_spram_on_an_ice40_up():
    """The sample RAM is an SPRAM on an iCE40 UP platform (or with spram=True), lib.memory
    otherwise; so is the accelerator's, beside its feature banks 1 and 2 (one memory per bank)."""
    from ternecg.golden.spec import modelfile
    from ternecg.hw.top import Accelerator
    from spram_count import UP5K, sprams
    assert sprams(Normalizer()) == ["ram.spram"]
    assert sprams(Normalizer(), None) == [] and sprams(Normalizer(spram=False)) == []
    assert sprams(Normalizer(spram=True), None) == ["ram.spram"]
    assert sprams(Normalizer(raw_bits=17)) == []              # too wide for an SPRAM word
    model = modelfile.load()
    assert sprams(Accelerator(model, 1)) == ["engine.banks.bank1.spram", "engine.banks.bank2.spram",
                                             "norm.ram.spram"]
    assert sprams(Accelerator(model, 1), None) == []
    assert sprams(Accelerator(model, 1, norm_spram=False)) == ["engine.banks.bank1.spram",
                                                               "engine.banks.bank2.spram"]
    assert sprams(Accelerator(model, 6)) == ["norm.ram.spram"]        # banks of several memories
    assert sprams(Accelerator(model, 1, spram=True), None) == sprams(Accelerator(model, 1))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(spram="yes"), TypeError, "Normalizer spram must be True, False or None"),
    (dict(raw_bits=17, spram=True), ValueError, "Normalizer spram: 256 x 17-bit samples do not fit"),
])
def test_bad_spram(kwargs, exc, match, no_unused_warning):
    with pytest.raises(exc, match=match):
        Normalizer(**kwargs)


def test_accelerator_bad_spram(no_unused_warning):
    from ternecg.golden.spec import modelfile
    from ternecg.hw.top import Accelerator
    with pytest.raises(TypeError, match="Accelerator spram must be True, False or None"):
        Accelerator(modelfile.load(), 1, spram=1)
    with pytest.raises(TypeError, match="Accelerator norm_spram must be True, False or None"):
        Accelerator(modelfile.load(), 1, norm_spram="no")
