"""cocotb test of the link's beat buffer (boards/beat_buffer.py) inside a plain-port wrapper (top
``beat_buffer_bench``: tests/sim/test_beat_buffer_sim.py), run there with the buffer in an iCE40
SPRAM (``SB_SPRAM256KA`` with Yosys' cell models) and in ``lib.memory``.

As the deframer does (boards/deframer.py: a BEAT's samples are written only when the buffer was
free at its LEN), every beat is written while the buffer is free, in a random order of addresses
with idle cycles and with writes of a dropped frame before it, then committed; the samples come
out in order, bit-exact, with ``last`` on the final one, through ``samples.ready``-low holds of
:data:`ternecg.sim.tests.test_normalizer_cocotb.HOLD` cycles (the payload held: the sink's stream
rule). Options: one :class:`ternecg.sim.tb.BenchConfig` (``idle``, ``seed``).
"""

import random

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from ternecg.sim.tb import TB, read_bit
from ternecg.sim.tests.test_normalizer_cocotb import hold_pattern

WINDOW = 240
BEATS = 4
ADDR_BITS = 8                   # wr payload: {addr: range(WINDOW + 1), data: 11}


def _wr(addr, data):
    return addr | (data << ADDR_BITS)


async def _wait_free(tb):
    while True:
        await ReadOnly()
        if not read_bit(tb.dut.full):
            break
        await RisingEdge(tb.clk)
    await RisingEdge(tb.clk)


@cocotb.test()
async def beats_through_holds(dut):
    tb = TB(dut)
    wr, commit = tb.source("wr"), tb.source("commit", idle="none")
    seq, samples = tb.sink("seq"), tb.sink("samples", backpressure=hold_pattern(seed=11))
    dut.start.value = 0
    await tb.start()
    dut.start.value = 1
    rng = random.Random(tb.seed)
    for b in range(BEATS):
        beat = [rng.randrange(2048) for _ in range(WINDOW)]
        await _wait_free(tb)
        # a frame dropped later (bad CRC): its samples are written, never committed
        junk = [_wr(rng.randrange(WINDOW), rng.randrange(2048)) for _ in range(rng.randrange(40))]
        order = list(range(WINDOW))
        rng.shuffle(order)
        await wr.send(junk + [_wr(a, beat[a]) for a in order])
        await commit.send([0x40 + b])
        got_seq = await seq.recv(1)
        got = await samples.recv(WINDOW, timeout_cycles=20_000)
        assert got_seq == [0x40 + b], f"beat {b}: seq {got_seq}"
        want = [x | ((t == WINDOW - 1) << 11) for t, x in enumerate(beat)]
        for t, (g, w) in enumerate(zip(got, want)):
            assert g == w, f"beat {b} sample {t}: got {g:#x}, expected {w:#x}"
