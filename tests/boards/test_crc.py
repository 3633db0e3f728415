"""crc16_step (the gateware CRC of the deframer and the framer) against the protocol's Python
``crc16``: random registers and bytes, and the check value over b"123456789"."""

import random

from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from ternecg.boards import protocol as P
from ternecg.boards.crc import crc16_step


def test_step_is_the_protocol_crc():
    m = Module()
    crc, byte, out = Signal(16), Signal(8), Signal(16)
    m.d.comb += out.eq(crc16_step(crc, byte))
    checked = []

    async def bench(ctx):
        rng = random.Random(0)
        pairs = [(rng.randrange(1 << 16), rng.randrange(256)) for _ in range(3000)]
        pairs += [(1 << i, 0) for i in range(16)] + [(0, 1 << j) for j in range(8)]
        for c, b in pairs:
            ctx.set(crc, c)
            ctx.set(byte, b)
            assert ctx.get(out) == P.crc16(bytes([b]), c), (c, b)
            checked.append(c)
        value = 0xFFFF
        for b in b"123456789":
            ctx.set(crc, value)
            ctx.set(byte, b)
            value = ctx.get(out)
        assert value == P.crc16(b"123456789") == 0x29B1

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert len(checked) == 3024


def test_register_after_its_own_high_byte():
    """After its own high byte, the register holds its low byte in the high one: the framer sends
    both CRC bytes from the high byte (boards/framer.py)."""
    rng = random.Random(1)
    for c in [0, 0xFFFF, 0x8000, 0x00FF] + [rng.randrange(1 << 16) for _ in range(2000)]:
        assert P.crc16(bytes([c >> 8]), c) == (c & 0xFF) << 8, hex(c)
