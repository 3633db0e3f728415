"""cocotb tests of the generated normaliser Verilog (top ``normalizer``) against golden.normalize.

Run by tests/sim/test_normalizer_sim.py through :mod:`ternecg.sim.runner`. Options: one
:class:`ternecg.sim.tb.BenchConfig` (``idle``, ``backpressure``, ``seed``, ``vectors``: an .npz of
:func:`make_vectors`, which also holds the design's ``latency`` and ``beat_cycles``).
"""

import itertools
import random

import cocotb
import numpy as np

from ternecg.sim.tb import TB, vectors as config_vectors

LENGTH = 240
#: cycles of each ``o.ready``-low hold in :func:`long_holds`
HOLD = 3000


def edge_beats(length=LENGTH):
    """Flat line, full-scale alternating, all-max, single spike, all-zero."""
    spike = [1000] * length
    spike[length // 3] = 2047
    return np.array([[1024] * length, [0, 2047] * (length // 2), [2047] * length, spike,
                     [0] * length], dtype=np.int64)


def make_vectors(n_beats=20, *, latency, beat_cycles):
    """Stimuli and golden outputs: fixture beats and edge beats (imports torch via golden), and
    the design's ``latency`` and ``beat_cycles`` (expected cycles per back-to-back beat)."""
    from ternecg.golden import fixture
    from ternecg.golden.normalize import normalize
    beats = fixture.load()["raw"][:n_beats].astype(np.int64)
    edges = edge_beats()
    return {"beats": beats, "expected": normalize(beats).numpy(),
            "edge_beats": edges, "edge_expected": normalize(edges).numpy(),
            "latency": latency, "beat_cycles": beat_cycles}


def vectors():
    return config_vectors()


def _compare(got, want, beat_len=LENGTH):
    assert len(got) == len(want), f"{len(got)} outputs, expected {len(want)}"
    for n, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"beat {n // beat_len} sample {n % beat_len}: got {g}, expected {w}"


def words(beats):
    """The ``i`` payloads ``{sample, last}`` of a list of beats (``last``, bit 11, on each beat's
    final sample; the beats may have any length)."""
    return [int(x) | (int(t == len(beat) - 1) << 11) for beat in beats for t, x in enumerate(beat)]


async def _run(tb, beats, expected):
    src, snk = tb.sources["i"], tb.sinks["o"]
    flat = words(np.asarray(beats).tolist())
    want = [int(x) for x in np.asarray(expected).reshape(-1)]
    sender = cocotb.start_soon(src.send(flat))
    got = await snk.recv(len(want))
    await sender
    _compare(got, want)


def _tb(dut, src=None, snk=None):
    tb = TB(dut)
    tb.source("i", **(src or {}))
    tb.sink("o", signed=True, **(snk or {}))
    return tb


@cocotb.test()
async def fixture_beats(dut):
    """Real MIT-BIH beats, bit-exact, under the config's idle / back-pressure patterns."""
    tb = _tb(dut)
    await tb.start()
    v = vectors()
    await _run(tb, v["beats"], v["expected"])


@cocotb.test()
async def edge_beats_exact(dut):
    """Flat line, full-scale alternating, all-max, single spike, all-zero (back to back)."""
    tb = _tb(dut)
    await tb.start()
    v = vectors()
    await _run(tb, v["edge_beats"], v["edge_expected"])


@cocotb.test()
async def latency(dut):
    """Without stalls: first o.valid exactly `latency` cycles after the last sample is accepted,
    one output per cycle, and back-to-back beats every `beat_cycles` cycles
    (= 2 * length + latency - 1)."""
    want, beat_cycles = int(vectors()["latency"]), int(vectors()["beat_cycles"])
    assert beat_cycles == 2 * LENGTH + want - 1
    tb = _tb(dut, src={"idle": "none"}, snk={"backpressure": "none"})
    await tb.start()
    v = vectors()
    n = 3
    await _run(tb, v["beats"][:n], v["expected"][:n])
    src, snk = tb.sources["i"], tb.sinks["o"]
    for b in range(n):
        last_in = src.accepted[(b + 1) * LENGTH - 1]
        first_out = snk.received[b * LENGTH]
        assert snk.first_valid is not None
        assert first_out - last_in == want, f"beat {b}: latency {first_out - last_in}, expected {want}"
        assert snk.received[(b + 1) * LENGTH - 1] - first_out == LENGTH - 1, "output not 1/cycle"
    starts = [src.accepted[b * LENGTH] for b in range(n)]
    assert [b - a for a, b in zip(starts, starts[1:])] == [beat_cycles] * (n - 1)


@cocotb.test()
async def dropped_beats(dut):
    """A beat one sample short and one a sample long (``last`` early / late) are dropped, the
    beats around them come out bit-exact and unshifted."""
    tb = _tb(dut)
    await tb.start()
    v = vectors()
    b = [[int(x) for x in row] for row in v["beats"][:3]]
    src, snk = tb.sources["i"], tb.sinks["o"]
    sender = cocotb.start_soon(src.send(words([b[0], b[1][:-1], b[1] + [7], b[2]])))
    got = await snk.recv(2 * LENGTH)
    await sender
    _compare(got, [int(x) for x in np.asarray(v["expected"])[[0, 2]].reshape(-1)])


def hold_pattern(seed=5, hold=HOLD):
    """``o.ready``: runs of 1 to 120 cycles high, each followed by ``hold`` cycles low (so holds
    fall on a beat's first, middle and last outputs)."""
    rng = random.Random(seed)
    while True:
        yield from [1] * rng.randint(1, 120)
        yield from [0] * hold


@cocotb.test()
async def long_holds(dut):
    """``o.ready`` low for :data:`HOLD` cycles at a time: the payload (read from the sample RAM:
    a block RAM's read enable, or a deselected SPRAM) holds through every hold (the sink's stream
    rule), and the beats are bit-exact."""
    tb = _tb(dut, snk={"backpressure": hold_pattern()})
    await tb.start()
    v = vectors()
    await _run(tb, v["beats"][:2], v["expected"][:2])
