"""cocotb tests of the generated normaliser Verilog (top ``normalizer``) against golden.normalize.

Run by tests/sim/test_normalizer_sim.py through :func:`ternecg.sim.runner.run`. Options
(environment): ``SIM_IDLE``, ``SIM_BACKPRESSURE``, ``SIM_SEED`` (see :mod:`ternecg.sim.tb`),
``SIM_BEATS`` (fixture beats to send, default 20), ``SIM_LATENCY`` (expected latency, default
``Normalizer.LATENCY``).
"""

import cocotb
import numpy as np

from ternecg.golden import fixture
from ternecg.golden.normalize import normalize
from ternecg.hw.normalizer import Normalizer
from ternecg.sim.tb import TB, option

LENGTH = 240


def _expected(beats):
    return normalize(np.asarray(beats, dtype=np.int64)).reshape(-1).tolist()


def _compare(got, want, beat_len=LENGTH):
    assert len(got) == len(want), f"{len(got)} outputs, expected {len(want)}"
    for n, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"beat {n // beat_len} sample {n % beat_len}: got {g}, expected {w}"


async def _run(tb, beats):
    src = tb.sources["i"]
    snk = tb.sinks["o"]
    flat = [int(x) for beat in beats for x in beat]
    sender = cocotb.start_soon(src.send(flat))
    got = await snk.recv(len(flat))
    await sender
    _compare(got, _expected(beats))


def _tb(dut, **kw):
    tb = TB(dut)
    tb.source("i", **kw.get("src", {}))
    tb.sink("o", signed=True, **kw.get("snk", {}))
    return tb


@cocotb.test()
async def fixture_beats(dut):
    """Real MIT-BIH beats, bit-exact, under the SIM_IDLE / SIM_BACKPRESSURE patterns."""
    tb = _tb(dut)
    await tb.start()
    beats = fixture.load()["raw"][: int(option("SIM_BEATS", "20"))]
    await _run(tb, beats.tolist())


@cocotb.test()
async def edge_beats(dut):
    """Flat line, full-scale alternating, all-max, single spike (back to back)."""
    tb = _tb(dut)
    await tb.start()
    spike = [1000] * LENGTH
    spike[LENGTH // 3] = 2047
    beats = [[1024] * LENGTH, [0, 2047] * (LENGTH // 2), [2047] * LENGTH, spike, [0] * LENGTH]
    await _run(tb, beats)


@cocotb.test()
async def latency(dut):
    """Without stalls: first o.valid exactly `latency` cycles after the last sample is accepted,
    and back-to-back beats every 2 * length + latency - 1 cycles."""
    want = int(option("SIM_LATENCY", str(Normalizer.LATENCY)))
    tb = _tb(dut, src={"idle": "none"}, snk={"backpressure": "none"})
    await tb.start()
    beats = fixture.load()["raw"][:3].tolist()
    await _run(tb, beats)
    src, snk = tb.sources["i"], tb.sinks["o"]
    for b in range(len(beats)):
        last_in = src.accepted[(b + 1) * LENGTH - 1]
        first_out = snk.received[b * LENGTH]
        assert first_out - last_in == want, f"beat {b}: latency {first_out - last_in}, expected {want}"
        assert snk.received[(b + 1) * LENGTH - 1] - first_out == LENGTH - 1, "output not 1/cycle"
    starts = [src.accepted[b * LENGTH] for b in range(len(beats))]
    assert [b - a for a, b in zip(starts, starts[1:])] == [2 * LENGTH + want - 1] * (len(beats) - 1)
